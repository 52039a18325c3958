import type { Db, MongoClient } from 'mongodb';
import { loadSettings } from '../../pipeline/config.js';
import { Projector } from '../../pipeline/engine/projector.js';
import { DocumentStore, type StoredDoc } from '../../pipeline/store/documents.js';
import { connectMongo } from '../../pipeline/store/mongo.js';
import { customerViews } from '../../projections/customer-views.js';
import { orderViews } from '../../projections/order-views.js';
import type { DocId } from '../../projections/types.js';
import type { RowChange } from '../../schemas/change.js';
import { randomName } from '../support/shop-env.js';

/**
 * Which embedded rows a round reads, on the real store. A small round's delay is its chain of
 * store round trips, so an order's update must not read the customer and products it already
 * embeds; but a row changed in the same round as a document that embeds it must still reach it
 * (the fan-out leaves that document to the upsert).
 */
describe('embedded rows read by a round', () => {
  let client: MongoClient;
  let db: Db;
  let store: DocumentStore;
  let projector: Projector;
  let position = 0;

  beforeAll(async () => {
    client = await connectMongo(loadSettings().mongoUrl);
  });
  beforeEach(() => {
    db = client.db(randomName('embed'));
    store = new DocumentStore(db);
    projector = new Projector(store, [orderViews]);
  });
  afterEach(async () => db.dropDatabase());
  afterAll(async () => client.close());

  const change = (table: string, row: Record<string, unknown>): RowChange => ({
    table,
    id: String(row['id']),
    op: 'upsert',
    row,
    before: null,
    unavailable: [],
    position: ++position,
    txId: null,
    sourceTsMs: Date.now(),
    snapshot: false,
  });
  const customer = (familyName: string) => change('customers', { id: 1, given_name: 'Ada', family_name: familyName, email: 'ada@example.com', tier: 'gold' });
  const product = (id: number, name: string) => change('products', { id, sku: `SKU-${id}`, name, price: '2.50' });
  const order = (status: string) => change('orders', { id: 100, customer_id: 1, status, currency: 'EUR', note: null, placed_at: '2026-11-27T10:00:00Z', updated_at: '2026-11-27T10:00:00Z' });
  const line = (id: number, productId: number, orderId = 100) => change('order_lines', { id, order_id: orderId, product_id: productId, quantity: 1, unit_price: '2.50' });
  const refReads = () => new Map([...store.timings].filter(([op]) => op.startsWith('fetch _ref_')).map(([op, t]) => [op, t.docs]));
  const view = async () => (await db.collection<StoredDoc>(orderViews.collection).findOne({ _id: 100 })) as Record<string, unknown> | null;

  test('an update reads no row the document already embeds; a new line reads only its product', async () => {
    await projector.apply([customer('Lovelace'), product(10, 'Pen'), product(11, 'Ink'), order('placed'), line(1000, 10)]);
    expect(await view()).toMatchObject({ status: 'placed', customer: { familyName: 'Lovelace' }, lines: [{ productName: 'Pen' }] });

    store.timings.clear();
    await projector.apply([order('paid')]);
    expect(refReads()).toEqual(new Map());
    expect(await view()).toMatchObject({ status: 'paid', customer: { familyName: 'Lovelace' } });

    store.timings.clear();
    await projector.apply([line(1001, 11)]);
    // Before the write, and once after it: the protocol's check that it did not change meanwhile.
    expect(refReads()).toEqual(new Map([['fetch _ref_products', 2]]));
    expect(await view()).toMatchObject({ lines: [{ productName: 'Pen' }, { productName: 'Ink' }] });
  });

  test('the customer documents an order round derives into are read once, while the orders are written', async () => {
    projector = new Projector(store, [orderViews, customerViews]);
    const secondOrder = change('orders', { id: 101, customer_id: 1, status: 'placed', currency: 'EUR', note: null, placed_at: '2026-11-28T10:00:00Z', updated_at: '2026-11-28T10:00:00Z' });
    await projector.apply([customer('Lovelace'), product(10, 'Pen'), order('placed'), line(1000, 10)]);

    store.timings.clear();
    await projector.apply([line(1001, 10), secondOrder, line(1002, 10, 101)]);

    expect(store.timings.get('fetch customer_views')).toMatchObject({ count: 1, docs: 1 });
    const customerView = await db.collection<StoredDoc>(customerViews.collection).findOne({ _id: 1 });
    expect(customerView).toMatchObject({ orderCount: 2, lifetimeValue: '7.50', lastOrderAt: new Date('2026-11-28T10:00:00Z') });
  });

  test('a row changed in the round that also updates a document embedding it reaches that document', async () => {
    await projector.apply([customer('Lovelace'), product(10, 'Pen'), order('placed'), line(1000, 10)]);

    await projector.apply([customer('King'), product(10, 'Fountain pen'), order('paid')]);

    expect(await view()).toMatchObject({ status: 'paid', customer: { familyName: 'King' }, lines: [{ productName: 'Fountain pen' }] });
  });

  test('a row another worker changes while a new document is first written reaches it, though that fan-out found nothing to update', async () => {
    await projector.apply([customer('Lovelace'), product(10, 'Pen')]);
    const other = new Projector(new DocumentStore(db), [orderViews]);
    let interleaved = false;
    // The other worker's whole round runs between this worker's read of the customer and its
    // write of the order: its fan-out finds the order listed but not yet written.
    class RacingStore extends DocumentStore {
      override async casWrite<D extends { _id: DocId; _rev: number }>(collection: string, writes: { id: DocId; expectedRev: number; doc: D }[]): Promise<DocId[]> {
        if (collection === orderViews.collection && !interleaved) {
          interleaved = true;
          await other.apply([customer('King')]);
        }
        return super.casWrite(collection, writes);
      }
    }
    await new Projector(new RacingStore(db), [orderViews]).apply([order('placed'), line(1000, 10)]);

    expect(interleaved).toBe(true);
    expect(await view()).toMatchObject({ status: 'placed', customer: { familyName: 'King' } });
  });
});
