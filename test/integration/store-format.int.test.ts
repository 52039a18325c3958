import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Binary, BSON, BSONRegExp, Decimal128, Double, Int32, Long, MaxKey, MinKey, MongoClient, ObjectId, Timestamp, UUID } from 'mongodb';
import { freePort, startStore, stopStore } from '../support/private-store.js';

/**
 * The store's launcher keeps documents as BSON in its file (not Java-serialized). Values are
 * decoded from the file only after a restart (until then the store answers from the documents it
 * holds in memory), so this writes every BSON type a client can send, restarts a private store on
 * the same file, and reads them back.
 */
describe('documents in the store file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-format-'));
  let store: ChildProcess | undefined;
  afterAll(async () => {
    if (store !== undefined && store.exitCode === null) await stopStore(store);
    rmSync(dir, { recursive: true, force: true });
  });

  const every = {
    _id: 7,
    string: 'naïve café ✓',
    empty: '',
    int32: new Int32(-42),
    int64: Long.fromString('9007199254740993'),
    double: new Double(0.1),
    decimal: Decimal128.fromString('12345.6789'),
    date: new Date('2026-11-27T10:00:00.123Z'),
    objectId: new ObjectId('656463626160595857565554'),
    binary: new Binary(Buffer.from([0, 1, 2, 255]), 0),
    uuid: new UUID('b8a3c2d4-5e6f-4a1b-9c8d-7e6f5a4b3c2d'),
    yes: true,
    no: false,
    nothing: null,
    regex: new BSONRegExp('^a.c$', 'i'),
    timestamp: new Timestamp({ t: 1795788673, i: 3 }),
    min: new MinKey(),
    max: new MaxKey(),
    nested: { a: { b: { c: [1, 'two', { three: 3 }, [4, [5]]] } }, emptyDoc: {}, emptyList: [] },
    _state: { slots: { 'orders:7': { pos: 120034, row: { id: 7, note: null } } }, refs: {}, derivedTo: { customer_views: [3] }, rev: 2 },
  };

  test('every BSON type a client writes reads back the same after the store restarts', async () => {
    const port = await freePort();
    const file = join(dir, 'store.mv');
    const url = `mongodb://127.0.0.1:${port}`;
    const options = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

    store = await startStore(port, file);
    let client = await MongoClient.connect(url, { directConnection: true });
    await client.db('format').collection<{ _id: number | { id: number; kind: string }; [field: string]: unknown }>('docs').insertMany([every, { _id: { id: 5, kind: 'compound' }, at: new Date(0) }]);
    await client.close();
    await stopStore(store);

    store = await startStore(port, file);
    client = await MongoClient.connect(url, { directConnection: true });
    try {
      const docs = client.db('format').collection<{ _id: number | { id: number; kind: string }; [field: string]: unknown }>('docs');
      expect(await docs.findOne({ _id: 7 }, options)).toEqual(roundTripped(every));
      // A document _id is found by value after the restart, as before it.
      expect(await docs.findOne({ _id: { id: 5, kind: 'compound' } })).toEqual({ _id: { id: 5, kind: 'compound' }, at: new Date(0) });
    } finally {
      await client.close();
    }
  });
});

/** What the driver itself makes of the document, read with the same options. */
function roundTripped(doc: Record<string, unknown>): unknown {
  return BSON.deserialize(BSON.serialize(doc), { promoteValues: false, promoteLongs: false, bsonRegExp: true });
}
