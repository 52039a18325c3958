import type { Db, MongoClient } from 'mongodb';
import { loadSettings } from '../../pipeline/config.js';
import { Projector } from '../../pipeline/engine/projector.js';
import { DocumentStore } from '../../pipeline/store/documents.js';
import { connectMongo } from '../../pipeline/store/mongo.js';
import type { Projection } from '../../projections/types.js';
import { randomName } from './shop-env.js';

export interface ProjectorOnStore {
  db: Db;
  store: DocumentStore;
  projector: Projector;
}

/**
 * A Projector over the real store, in a database of its own for each test (dropped after it),
 * for tests that drive rounds directly, without Kafka. Call inside `describe`: it registers the
 * hooks. A test may replace `projector` (say, with other projections) for itself.
 */
export function projectorOnStore(prefix: string, projections: readonly Projection[]): ProjectorOnStore {
  let client: MongoClient;
  const ctx = {} as ProjectorOnStore;
  beforeAll(async () => {
    client = await connectMongo(loadSettings().mongoUrl);
  });
  beforeEach(() => {
    ctx.db = client.db(randomName(prefix));
    ctx.store = new DocumentStore(ctx.db);
    ctx.projector = new Projector(ctx.store, projections);
  });
  afterEach(async () => ctx.db.dropDatabase());
  afterAll(async () => client.close());
  return ctx;
}
