import type { OrderChange } from '../schemas/shop-rows.js';
import type { WriteModel } from './write-model.js';

export const ORDER_VIEWS = 'order_views';
export const ORDER_VIEW_SCHEMA_VERSION = 1;

/**
 * orders → order_views: one document per order. Pure: the position (Debezium's source.lsn) guards
 * the write, so a duplicate or an older change changes nothing.
 */
export function orderViewWrite(change: OrderChange, position: number, orderId: number): WriteModel {
  if (change.op === 'd' || change.after === null || change.after === undefined) {
    return { kind: 'delete', collection: ORDER_VIEWS, id: orderId, source: 'orders', position };
  }
  const row = change.after;
  return {
    kind: 'upsert',
    collection: ORDER_VIEWS,
    id: row.id,
    source: 'orders',
    position,
    set: {
      schemaVersion: ORDER_VIEW_SCHEMA_VERSION,
      orderId: row.id,
      customerId: row.customer_id,
      status: row.status,
      currency: row.currency,
      note: row.note,
      placedAt: new Date(row.placed_at),
      updatedAt: new Date(row.updated_at),
    },
  };
}
