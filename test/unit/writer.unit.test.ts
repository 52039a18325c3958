import { toBulkOperation } from '../../pipeline/store/writer.js';

describe('write models become guarded bulk operations', () => {
  test('an upsert only matches a document whose contribution from that source is older or absent', () => {
    const op = toBulkOperation({ kind: 'upsert', collection: 'order_views', id: 7, source: 'orders', position: 120, set: { status: 'paid' } });
    expect(op).toEqual({
      updateOne: {
        filter: { _id: 7, $or: [{ '_positions.orders': { $lt: 120 } }, { '_positions.orders': { $exists: false } }] },
        update: { $set: { status: 'paid', '_positions.orders': 120 } },
        upsert: true,
      },
    });
  });

  test('a delete is guarded by the same position', () => {
    const op = toBulkOperation({ kind: 'delete', collection: 'order_views', id: 7, source: 'orders', position: 130 });
    expect(op).toEqual({ deleteOne: { filter: { _id: 7, $or: [{ '_positions.orders': { $lt: 130 } }, { '_positions.orders': { $exists: false } }] } } });
  });
});
