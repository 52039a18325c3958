import type { RowChange } from '../schemas/change.js';
import type { CustomerRow, OrderLineRow, OrderRow, ProductRow } from '../schemas/shop-rows.js';
import { fromCents, toCents } from './decimal.js';
import { liveRows } from './fold.js';
import { slotKey, type Contribution, type DocId, type DocState, type Projection, type Row } from './types.js';

export const ORDER_VIEWS_VERSION = 1;

/** order_views: one document per order, with its customer and its lines' products embedded. */
export type OrderView = {
  schemaVersion: number;
  orderId: number;
  status: string;
  currency: string;
  note: string | null;
  placedAt: Date;
  updatedAt: Date;
  customerId: number;
  customer: { id: number; name: string; email: string; tier: string } | null;
  lines: { lineId: number; productId: number; sku: string | null; productName: string | null; quantity: number; unitPrice: string; lineTotal: string }[];
  totals: { itemCount: number; amount: string };
};

function own(change: RowChange, docId: DocId, row: Row | null): Contribution {
  return { docId, slot: slotKey(change.table, change.id), row, position: change.position, unavailable: change.unavailable };
}

function ordersSource(change: RowChange): Contribution[] {
  return [own(change, Number(change.id), change.op === 'delete' ? null : change.row)];
}

/**
 * A line belongs to the document of its order. order_lines has FULL replica identity, so a delete
 * (and an update that moves a line) names the order it left.
 */
function orderLinesSource(change: RowChange): Contribution[] {
  const before = change.before as OrderLineRow | null;
  if (change.op === 'delete') return before === null ? [] : [own(change, before.order_id, null)];
  const after = change.row as OrderLineRow;
  const moved = before !== null && before.order_id !== after.order_id ? [own(change, before.order_id, null)] : [];
  return [...moved, own(change, after.order_id, change.row)];
}

function orderRow(state: DocState, id: DocId): OrderRow | undefined {
  const slot = state.slots[slotKey('orders', id)];
  return slot?.row === null || slot === undefined ? undefined : (slot.row as OrderRow);
}

export const orderViews: Projection = {
  name: 'order_views',
  collection: 'order_views',
  schemaVersion: ORDER_VIEWS_VERSION,
  sources: { orders: ordersSource, order_lines: orderLinesSource },
  references: {
    customers: { fields: ['name', 'email', 'tier'] },
    products: { fields: ['sku', 'name'] },
  },
  derivedFrom: [],

  referencesOf(state) {
    const keys = new Set<string>();
    for (const slot of Object.entries(state.slots)) {
      const [key, { row }] = slot;
      if (row === null) continue;
      if (key.startsWith('orders:')) keys.add(slotKey('customers', (row as OrderRow).customer_id));
      if (key.startsWith('order_lines:')) keys.add(slotKey('products', (row as OrderLineRow).product_id));
    }
    return [...keys].sort();
  },

  render(id, state): Row | null {
    const order = orderRow(state, id);
    if (order === undefined) return null;
    const customer = state.refs[slotKey('customers', order.customer_id)]?.row as Partial<CustomerRow> | null | undefined;
    let amount = 0n;
    let itemCount = 0;
    const lines = liveRows(state, 'order_lines').map((r) => {
      const line = r as OrderLineRow;
      const product = state.refs[slotKey('products', line.product_id)]?.row as Partial<ProductRow> | null | undefined;
      const lineTotal = toCents(line.unit_price) * BigInt(line.quantity);
      amount += lineTotal;
      itemCount += line.quantity;
      return {
        lineId: line.id,
        productId: line.product_id,
        sku: product?.sku ?? null,
        productName: product?.name ?? null,
        quantity: line.quantity,
        unitPrice: line.unit_price,
        lineTotal: fromCents(lineTotal),
      };
    });
    const view: OrderView = {
      schemaVersion: ORDER_VIEWS_VERSION,
      orderId: order.id,
      status: order.status,
      currency: order.currency,
      note: order.note,
      placedAt: new Date(order.placed_at),
      updatedAt: new Date(order.updated_at),
      customerId: order.customer_id,
      customer:
        customer === null || customer === undefined
          ? null
          : { id: order.customer_id, name: customer.name ?? '', email: customer.email ?? '', tier: customer.tier ?? 'standard' },
      lines,
      totals: { itemCount, amount: fromCents(amount) },
    };
    return view;
  },

  derive(_id, rendered) {
    // customer_views counts an order under the customer it belongs to now; the engine sends a
    // removal to every customer the order was counted under before.
    if (rendered === null) return [];
    const view = rendered as OrderView;
    return [{ projection: 'customer_views', docId: view.customerId, row: { placedAt: view.placedAt, amount: view.totals.amount } }];
  },
};
