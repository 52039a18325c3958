import { Projector } from '../../pipeline/engine/projector.js';
import { References } from '../../pipeline/engine/references.js';
import { DocumentStore, type StoredDoc } from '../../pipeline/store/documents.js';
import { customerViews } from '../../projections/customer-views.js';
import { orderViews } from '../../projections/order-views.js';
import { emptyState, type DocId, type DocState } from '../../projections/types.js';
import { rowChanges } from '../support/row-changes.js';
import { projectorOnStore } from '../support/projector-store.js';

/**
 * Which embedded rows a round reads, on the real store. A small round's delay is its chain of
 * store round trips, so an order's update must not read the customer and products it already
 * embeds; but a row changed in the same round as a document that embeds it must still reach it
 * (the fan-out leaves that document to the upsert).
 */
describe('embedded rows read by a round', () => {
  const ctx = projectorOnStore('embed', [orderViews]);

  const { change, customer, product, order, line } = rowChanges();
  const refReads = () => new Map([...ctx.store.timings].filter(([op]) => op.startsWith('fetch _ref_')).map(([op, t]) => [op, t.docs]));
  const view = async () => (await ctx.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: 100 })) as Record<string, unknown> | null;

  test('an update reads no row the document already embeds; a new line reads only its product', async () => {
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen'), product(11, 'Ink'), order('placed'), line(1000, 10)]);
    expect(await view()).toMatchObject({ status: 'placed', customer: { familyName: 'Lovelace' }, lines: [{ productName: 'Pen' }] });

    ctx.store.timings.clear();
    await ctx.projector.apply([order('paid')]);
    expect(refReads()).toEqual(new Map());
    expect(await view()).toMatchObject({ status: 'paid', customer: { familyName: 'Lovelace' } });

    ctx.store.timings.clear();
    await ctx.projector.apply([line(1001, 11)]);
    // Before the write, and once after it: the protocol's check that it did not change meanwhile.
    expect(refReads()).toEqual(new Map([['fetch _ref_products', 2]]));
    expect(await view()).toMatchObject({ lines: [{ productName: 'Pen' }, { productName: 'Ink' }] });
  });

  test('the customer documents an order round derives into are read once, while the orders are written', async () => {
    ctx.projector = new Projector(ctx.store, [orderViews, customerViews]);
    const secondOrder = change('orders', { id: 101, customer_id: 1, status: 'placed', currency: 'EUR', note: null, placed_at: '2026-11-28T10:00:00Z', updated_at: '2026-11-28T10:00:00Z' });
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen'), order('placed'), line(1000, 10)]);

    ctx.store.timings.clear();
    await ctx.projector.apply([line(1001, 10), secondOrder, line(1002, 10, 101)]);

    expect(ctx.store.timings.get('fetch customer_views')).toMatchObject({ count: 1, docs: 1 });
    const customerView = await ctx.db.collection<StoredDoc>(customerViews.collection).findOne({ _id: 1 });
    expect(customerView).toMatchObject({ orderCount: 2, lifetimeValue: '7.50', lastOrderAt: new Date('2026-11-28T10:00:00Z') });
  });

  test('a row changed in the round that also updates a document embedding it reaches that document', async () => {
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen'), order('placed'), line(1000, 10)]);

    await ctx.projector.apply([customer('King'), product(10, 'Fountain pen'), order('paid')]);

    expect(await view()).toMatchObject({ status: 'paid', customer: { familyName: 'King' }, lines: [{ productName: 'Fountain pen' }] });
  });

  test('a round reads a row all its slices embed before writing them only until it has a copy', async () => {
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen')]);
    const orders = 6000; // three slices of 2,000, two of them at once
    const changes = Array.from({ length: orders }, (_, i) => [
      change('orders', { id: 200 + i, customer_id: 1, status: 'placed', currency: 'EUR', note: null, placed_at: '2026-11-27T10:00:00Z', updated_at: '2026-11-27T10:00:00Z' }),
      line(10_000 + i, 10, 200 + i),
    ]).flat();

    ctx.store.timings.clear();
    await ctx.projector.apply(changes);

    // Each slice reads the row once after its write (the protocol's check). Before it, the first
    // slice reads it, the second too unless the first's read has answered by then, and the third
    // takes their copy: without the round's copy it would be 3 + 3.
    const reads = refReads().get('fetch _ref_products') ?? 0;
    expect(reads).toBeGreaterThanOrEqual(3 + 1);
    expect(reads).toBeLessThanOrEqual(3 + 2);
    expect(await ctx.db.collection(orderViews.collection).countDocuments({ 'lines.productName': 'Pen' })).toBe(orders);
  });

  test('a row changed after a round remembered it is caught by the check after the write, which also refreshes what the round remembers', async () => {
    const references = new References(ctx.store, [orderViews]);
    await references.writeRows([product(10, 'Pen')]);
    const orderWithLine = (id: number): { state: DocState; changed: boolean; previousKeys: string[] } => {
      const state = emptyState();
      state.slots[`orders:${id}`] = { pos: 1, row: { id, customer_id: 1 } };
      state.slots[`order_lines:${id}`] = { pos: 1, row: { id, order_id: id, product_id: 10 } };
      return { state, changed: true, previousKeys: [] };
    };
    const embedded = (s: { state: DocState }) => s.state.refs['products:10']?.row?.['name'];
    const written = (id: number, s: { state: DocState }) => ({ doc: { _id: id, _rev: 1, _visible: true, _refKeys: orderViews.referencesOf(s.state), _state: s.state } as StoredDoc, previousKeys: [] });

    await references.inRound(async () => {
      const first = orderWithLine(1);
      await references.embed(orderViews, [first], new Set());
      expect(embedded(first)).toBe('Pen');

      await references.writeRows([product(10, 'Quill')]); // another worker, after this round read the row
      const second = orderWithLine(2);
      await references.embed(orderViews, [second], new Set());
      expect(embedded(second)).toBe('Pen'); // this round's copy

      // The check after the write reads the store, finds the newer row, and has the document redone.
      expect(await references.outdatedAfterWrite([written(2, second)])).toEqual(new Set(['2']));
      const third = orderWithLine(3);
      await references.embed(orderViews, [third], new Set());
      expect(embedded(third)).toBe('Quill');
    });

    // Outside a round nothing is remembered.
    await references.writeRows([product(10, 'Brush')]);
    const later = orderWithLine(4);
    await references.embed(orderViews, [later], new Set());
    expect(embedded(later)).toBe('Brush');
  });

  test('a row another worker changes while a new document is first written reaches it, though that fan-out found nothing to update', async () => {
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen')]);
    const other = new Projector(new DocumentStore(ctx.db), [orderViews]);
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
    await new Projector(new RacingStore(ctx.db), [orderViews]).apply([order('placed'), line(1000, 10)]);

    expect(interleaved).toBe(true);
    expect(await view()).toMatchObject({ status: 'placed', customer: { familyName: 'King' } });
  });
});
