import type { MongoClient } from 'mongodb';
import { loadSettings } from '../../pipeline/config.js';
import { connectMongo } from '../../pipeline/store/mongo.js';
import { randomName } from '../support/shop-env.js';

interface Versioned {
  _id: number;
  n: number;
  items: number[];
  nested: { n: number; items: number[] };
}

const version = (n: number): Omit<Versioned, '_id'> => ({ n, items: Array.from({ length: 300 }, () => n), nested: { n, items: Array.from({ length: 300 }, () => n) } });

/**
 * The stack's store (stack/store/MongoStoreLauncher.java) must never change a stored document in
 * place: mongo-java-server's update did, so a reader encoding it could see half of an update, and
 * H2's background writer serializing it failed and closed the store.
 */
describe('store updates', () => {
  let mongo: MongoClient;
  const database = randomName('upd');

  beforeAll(async () => {
    mongo = await connectMongo(loadSettings().mongoUrl);
  });
  afterAll(async () => {
    await mongo.db(database).dropDatabase();
    await mongo.close();
  });

  test('a reader sees each document whole, before or after an update, while updates go on', async () => {
    const docs = mongo.db(database).collection<Versioned>('versioned');
    await docs.insertOne({ _id: 1, ...version(0) });
    const until = Date.now() + 4000;
    let written = 0;
    const writers = [0, 1].map(async (w) => {
      for (let i = 1; Date.now() < until; i++) {
        const n = i * 2 + w;
        // Both kinds of update: a replacement (the compare-and-set) and operators ($addToSet's path).
        if (i % 2 === 0) await docs.replaceOne({ _id: 1 }, version(n));
        else await docs.updateOne({ _id: 1 }, { $set: version(n) });
        written += 1;
      }
    });
    let reads = 0;
    const torn: string[] = [];
    const readers = [0, 1].map(async () => {
      while (Date.now() < until) {
        const doc = await docs.findOne({ _id: 1 });
        reads += 1;
        const values = new Set([doc?.n, ...(doc?.items ?? []), doc?.nested.n, ...(doc?.nested.items ?? [])]);
        if (values.size !== 1 && torn.length < 5) torn.push(JSON.stringify([...values]).slice(0, 200));
      }
    });
    await Promise.all([...writers, ...readers]);
    expect(written).toBeGreaterThan(50);
    expect(reads).toBeGreaterThan(50);
    expect(torn).toEqual([]);
    // The store still takes writes (H2 closes it on a failed background write).
    await docs.insertOne({ _id: 2, ...version(1) });
    expect(await docs.countDocuments({})).toBe(2);
  });
});
