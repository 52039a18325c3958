import { MongoClient } from 'mongodb';
import type pg from 'pg';
import { PROJECTIONS } from '../../projections/registry.js';
import { loadSettings } from '../config.js';
import { sourceNames } from '../engine/projector.js';
import { createKafka } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { appPool } from '../postgres/clients.js';
import { projectorInputs } from '../worker/run-worker.js';
import { AppliedPosition } from './applied-position.js';
import { DocumentCache } from './document-cache.js';
import { buildReadServer } from './server.js';

export interface ReadServiceOptions {
  port: number;
  database: string;
  mongoUrl?: string;
  /** false: no cache, every read goes to the store (what the benchmark compares against). */
  redis?: { host: string; port: number } | false;
  /** The projector to wait for on read-your-writes: its group, the connector's slot, its topics. */
  readYourWrites?: { groupId: string; slot: string; topicPrefix: string; schema: string; kafkaBrokers?: string[] };
}

export interface RunningReadService {
  url: string;
  cache: DocumentCache | undefined;
  close(): Promise<void>;
}

/** Wires the read API to the store, Redis and (for read-your-writes) Postgres and Kafka. */
export async function startReadService(opts: ReadServiceOptions, log: Logger): Promise<RunningReadService> {
  const settings = loadSettings();
  // Connects lazily and keeps retrying: the service starts, and answers 503, while the store is down.
  const mongo = new MongoClient(opts.mongoUrl ?? settings.mongoUrl, { serverSelectionTimeoutMS: 2000, maxPoolSize: 32 });
  await mongo.connect().catch((err: unknown) => log.warn({ err: String(err), event: 'store_unavailable' }, 'the store does not answer yet; reads get 503 until it does'));
  const db = mongo.db(opts.database);

  const cache = opts.redis === false ? undefined : new DocumentCache({ ...(opts.redis ?? settings.redis), namespace: opts.database }, log);
  await cache?.connect();

  let pool: pg.Pool | undefined;
  let applied: AppliedPosition | undefined;
  if (opts.readYourWrites !== undefined) {
    const r = opts.readYourWrites;
    pool = appPool(settings, 2);
    // A writer's commit travels through the source topics; retry topics only carry replayed dead letters.
    const inputs = projectorInputs(sourceNames(PROJECTIONS), { topicPrefix: r.topicPrefix, schema: r.schema });
    const topics = inputs.topics.filter((t) => !inputs.retryTopics.includes(t));
    // Few retries: the poll tries again every second anyway, and a long retry would hold up close().
    applied = new AppliedPosition({ pg: pool, slot: r.slot, kafka: createKafka(r.kafkaBrokers ?? settings.kafkaBrokers, `cdc-read-${r.groupId}`, log, { retries: 1 }), groupId: r.groupId, topics, log });
    applied.start();
  }

  const app = buildReadServer({ db, log, ...(cache === undefined ? {} : { cache }), ...(applied === undefined ? {} : { applied }) });
  const url = await app.listen({ host: '127.0.0.1', port: opts.port });
  log.info({ url, event: 'read_service_started' }, 'read API listening');
  return {
    url,
    cache,
    async close() {
      await app.close();
      await applied?.stop();
      await pool?.end();
      await cache?.close();
      await mongo.close();
    },
  };
}
