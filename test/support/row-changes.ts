import type { RowChange } from '../../schemas/change.js';

/**
 * Shop row changes for tests that drive a Projector directly (no Kafka), each at the next
 * position, as Debezium would number a single writer's commits.
 */
export function rowChanges() {
  let position = 0;
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
  return {
    change,
    customer: (familyName: string) => change('customers', { id: 1, given_name: 'Ada', family_name: familyName, email: 'ada@example.com', tier: 'gold' }),
    product: (id: number, name: string) => change('products', { id, sku: `SKU-${id}`, name, price: '2.50' }),
    order: (status: string, id = 100) => change('orders', { id, customer_id: 1, status, currency: 'EUR', note: null, placed_at: '2026-11-27T10:00:00Z', updated_at: '2026-11-27T10:00:00Z' }),
    line: (id: number, productId: number, orderId = 100) => change('order_lines', { id, order_id: orderId, product_id: productId, quantity: 1, unit_price: '2.50' }),
  };
}
