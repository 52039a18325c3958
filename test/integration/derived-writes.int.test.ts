import { Projector } from '../../pipeline/engine/projector.js';
import type { StoredDoc } from '../../pipeline/store/documents.js';
import { customerViews } from '../../projections/customer-views.js';
import { orderViews } from '../../projections/order-views.js';
import { rowChanges } from '../support/row-changes.js';
import { projectorOnStore } from '../support/projector-store.js';

/**
 * Which customer documents an order's write rewrites, on the real store. A customer's document
 * holds a part per order, and a large customer's is the costliest write of a small round: an
 * order write that leaves its amount and time alone must not rewrite it.
 */
describe('derived documents written by a round', () => {
  const ctx = projectorOnStore('derived', [orderViews, customerViews]);

  const { change, customer, product, order, line } = rowChanges();
  const revOf = async (collection: string, id: number) => (await ctx.db.collection<StoredDoc>(collection).findOne({ _id: id }))?._rev;
  const customerView = async () => ctx.db.collection<StoredDoc>(customerViews.collection).findOne({ _id: 1 });

  test('an order written without a change to its amount or time leaves its customer alone', async () => {
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen'), order('placed'), line(1000, 10)]);
    const customerRev = await revOf(customerViews.collection, 1);
    const orderRev = await revOf(orderViews.collection, 100);

    ctx.store.timings.clear();
    await ctx.projector.apply([order('paid')]);
    expect(await revOf(orderViews.collection, 100)).toBe((orderRev ?? 0) + 1);
    expect(await revOf(customerViews.collection, 1)).toBe(customerRev);
    // Not even read: the part keeps its position, and no change of this round came twice.
    expect(ctx.store.timings.get('fetch customer_views')).toBeUndefined();

    // A product rename rewrites the order (it embeds the name) and sends the customer nothing.
    ctx.store.timings.clear();
    await ctx.projector.apply([product(10, 'Fountain pen')]);
    expect(await revOf(orderViews.collection, 100)).toBe((orderRev ?? 0) + 2);
    expect(ctx.store.timings.get('fetch customer_views')).toBeUndefined();
    expect(await revOf(customerViews.collection, 1)).toBe(customerRev);

    // A new line changes the amount: the customer is rewritten.
    await ctx.projector.apply([line(1001, 10)]);
    expect(await revOf(customerViews.collection, 1)).toBe((customerRev ?? 0) + 1);
    expect(await customerView()).toMatchObject({ orderCount: 1, lifetimeValue: '5.00' });
  });

  test('a change delivered again after a crash sends the part its revision first sent, in a round that rewrites the order', async () => {
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen'), order('placed'), line(1000, 10)]);
    // The round of a new line wrote the order, then the worker crashed before the customer's write.
    const added = line(1001, 10);
    await new Projector(ctx.store, [orderViews]).apply([added]);
    expect(await customerView()).toMatchObject({ orderCount: 1, lifetimeValue: '2.50' });

    // The line comes again, in a round with a later change to the order that keeps its amount.
    await ctx.projector.apply([added, order('paid')]);
    expect(await customerView()).toMatchObject({ orderCount: 1, lifetimeValue: '5.00' });
  });

  test('after a rewrite, which nothing delivers again, the next write of the order sends its part anew', async () => {
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen'), order('placed'), line(1000, 10)]);
    // `documents upgrade` rewrites an order of an older version; say it stopped before the
    // customer's write.
    await ctx.db.collection<StoredDoc>(orderViews.collection).updateOne({ _id: 100 }, { $set: { schemaVersion: orderViews.schemaVersion - 1 } });
    await new Projector(ctx.store, [orderViews]).rewrite(orderViews, [100]);
    const rewritten = await ctx.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: 100 });
    expect(rewritten?._state.sent).toBeUndefined();

    ctx.store.timings.clear();
    await ctx.projector.apply([order('paid')]);
    expect(ctx.store.timings.get('fetch customer_views')).toMatchObject({ docs: 1 });
    const stored = await ctx.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: 100 });
    expect(stored?._state.sent?.rev).toBe(stored?._rev);
    expect((await customerView())?._state.slots['order_views:100']?.pos).toBe(stored?._rev);
  });

  test('an amount changed and changed back is sent under a new position, kept while unchanged', async () => {
    await ctx.projector.apply([customer('Lovelace'), product(10, 'Pen'), order('placed'), line(1000, 10)]);
    const added = line(1001, 10);
    const removed = { ...change('order_lines', { id: 1001 }), op: 'delete' as const, row: null, before: added.row };
    // Three rounds, three amounts: 2.50, 5.00, 2.50. Then the order is rewritten again unchanged.
    await ctx.projector.apply([added]);
    await ctx.projector.apply([removed]);
    await ctx.projector.apply([order('paid')]);
    expect(await customerView()).toMatchObject({ orderCount: 1, lifetimeValue: '2.50' });
    const stored = await ctx.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: 100 });
    const slot = (await customerView())?._state.slots['order_views:100'];
    // The part the customer holds is under the position its row was first sent at (the removal's
    // revision), not the one before the amount changed, which a stalled copy of 5.00 would beat.
    expect(stored?._state.sent?.to['customer_views:1']).toEqual({ pos: slot?.pos, row: slot?.row });
    expect(slot?.pos).toBe((stored?._rev ?? 0) - 1);
  });
});
