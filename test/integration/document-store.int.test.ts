import type { Db, MongoClient } from 'mongodb';
import { loadSettings } from '../../pipeline/config.js';
import { DocumentStore, type StoredDoc } from '../../pipeline/store/documents.js';
import { Namespace } from '../../pipeline/store/generations.js';
import { connectMongo } from '../../pipeline/store/mongo.js';
import { StagingStore } from '../../pipeline/store/staging-store.js';
import { randomName } from '../support/shop-env.js';

/**
 * The compare-and-set every projection write relies on, against the stack's store: a write made
 * on a stale revision, or an insert of a document someone else created, must lose and say so.
 */
describe('document store compare-and-set', () => {
  let client: MongoClient;
  let db: Db;
  let store: DocumentStore;
  const collection = 'docs';

  beforeAll(async () => {
    client = await connectMongo(loadSettings().mongoUrl);
  });
  beforeEach(() => {
    db = client.db(randomName('cas'));
    store = new DocumentStore(db);
  });
  afterEach(async () => db.dropDatabase());
  afterAll(async () => client.close());

  const doc = (id: number, rev: number, status: string): StoredDoc => ({
    _id: id,
    _rev: rev,
    _visible: true,
    _refKeys: [],
    _state: { slots: {}, refs: {}, derivedTo: {}, rev },
    status,
  });
  const statuses = async () => new Map((await db.collection<StoredDoc>(collection).find({}).toArray()).map((d) => [d._id, `${d['status']}@${d._rev}`]));

  test('stale revisions and duplicate inserts lose, current revisions win, in one unordered bulk', async () => {
    const ids = Array.from({ length: 600 }, (_, i) => i + 1);
    expect(await store.casWrite(collection, ids.map((id) => ({ id, expectedRev: 0, doc: doc(id, 1, 'placed') })))).toEqual([]);

    // Even ids are written at their current revision; odd ids as if read before someone else's write.
    const lost = await store.casWrite(collection, [
      ...ids.map((id) => (id % 2 === 0 ? { id, expectedRev: 1, doc: doc(id, 2, 'paid') } : { id, expectedRev: 2, doc: doc(id, 3, 'stale') })),
      { id: 1000, expectedRev: 0, doc: doc(1000, 1, 'new') },
      { id: 7, expectedRev: 0, doc: doc(7, 1, 'created twice') },
    ]);

    expect(new Set(lost)).toEqual(new Set([...ids.filter((id) => id % 2 === 1)]));
    const now = await statuses();
    expect(now.size).toBe(601);
    expect(now.get(2)).toBe('paid@2');
    expect(now.get(7)).toBe('placed@1');
    expect(now.get(1000)).toBe('new@1');
  });

  test('a worker drops the unique {_id, _rev} index earlier versions built, and compare-and-set still holds', async () => {
    await store.casWrite(collection, [{ id: 1, expectedRev: 0, doc: doc(1, 1, 'placed') }]);
    await db.collection(collection).createIndex({ _id: 1, _rev: 1 }, { unique: true, name: 'cas' });

    await store.dropLegacyIndexes([collection, 'absent']);

    expect((await db.collection(collection).indexes()).map((i) => i.name)).toEqual(['_id_']);
    expect(await store.casWrite(collection, [{ id: 1, expectedRev: 1, doc: doc(1, 2, 'paid') }])).toEqual([]);
    expect(await store.casWrite(collection, [{ id: 1, expectedRev: 1, doc: doc(1, 2, 'late') }])).toEqual([1]);
    expect(await statuses()).toEqual(new Map([[1, 'paid@2']]));
  });

  test('a one-row document is stored with its row once, and read back whole by the engine and as staged by a rebuild', async () => {
    const row = { id: 3, status: 'paid', note: null, placed_at: '2026-01-01T00:00:00Z' };
    const oneRow = (rev: number, r: typeof row): StoredDoc => ({ schemaVersion: 2, ...r, _id: 3, _rev: rev, _visible: true, _refKeys: [], _state: { slots: { 'orders:3': { pos: 10 * rev, row: r } }, refs: {}, derivedTo: {}, rev } });
    await store.casWrite(collection, [{ id: 3, expectedRev: 0, doc: oneRow(1, row) }]);
    const shipped = { ...row, status: 'shipped' };
    expect(await store.casWrite(collection, [{ id: 3, expectedRev: 1, doc: oneRow(2, shipped) }])).toEqual([]);

    const raw = await db.collection<StoredDoc>(collection).findOne({ _id: 3 });
    expect(raw?._state.slots['orders:3']).toEqual({ pos: 20 });
    expect(raw).toMatchObject({ status: 'shipped', _rev: 2 });
    expect((await store.fetch(collection, [3])).get('3')).toEqual(oneRow(2, shipped));

    // A rebuild flushes what it staged the same way, and reads it back whole after evicting it.
    const staging = new StagingStore(db, new Namespace(db, []), 0);
    await staging.casWrite('staged', [{ id: 3, expectedRev: 0, doc: oneRow(1, row) }]);
    await staging.flush();
    expect((await db.collection<StoredDoc>('staged').findOne({ _id: 3 }))?._state.slots['orders:3']).toEqual({ pos: 10 });
    expect((await staging.fetch('staged', [3])).get('3')).toEqual(oneRow(1, row));
  });
});

/** A rebuild's staging store: documents in memory, read through to the store on a miss. */
describe('staging store reads', () => {
  let client: MongoClient;
  let db: Db;

  beforeAll(async () => {
    client = await connectMongo(loadSettings().mongoUrl);
    db = client.db(randomName('staging'));
  });
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  test('a read of the store that overlaps a write of the same document does not replace the written one', async () => {
    const stored: StoredDoc = { _id: 7, _rev: 1, _visible: false, _refKeys: [], _state: { slots: {}, refs: {}, derivedTo: {}, rev: 1 }, status: 'stored' };
    await db.collection<StoredDoc>('docs').insertOne(stored);
    const staging = new StagingStore(db, new Namespace(db, []), 1000);
    await staging.open(['docs']);

    // The read goes to the store (not held yet); the write lands in memory before it answers.
    const reading = staging.fetch('docs', [7]);
    await staging.casWrite('docs', [{ id: 7, expectedRev: 1, doc: { ...stored, _rev: 2, status: 'written' } }]);
    await reading;

    expect((await staging.fetch('docs', [7])).get('7')).toMatchObject({ _rev: 2, status: 'written' });
    await staging.flush();
    expect(await db.collection<StoredDoc>('docs').findOne({ _id: 7 })).toMatchObject({ _rev: 2, status: 'written' });
  });
});
