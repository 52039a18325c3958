import type { RowChange } from '../schemas/change.js';
import { NO_PAYMENT, orderViewHistory, type OrderView, type PaymentSummary } from '../schemas/documents/order-view.js';
import type { PaymentKind } from '../schemas/events/payment-events.js';
import { customerNames, type CustomerRow, type OrderLineRow, type OrderRow, type ProductRow } from '../schemas/shop-rows.js';
import { fromCents, toCents } from './decimal.js';
import { liveRows } from './fold.js';
import { slotKey, type Contribution, type DocId, type DocState, type Projection, type Row } from './types.js';

export const ORDER_VIEWS_VERSION = orderViewHistory.current;
export type { OrderView };

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

/**
 * A payment event (outbox) belongs to the document of its order. Each event is its own slot, keyed
 * by event id: the summary is recomputed from the set of events, so a redelivered or reordered
 * event cannot count twice.
 */
function paymentSource(kind: PaymentKind): (change: RowChange) => Contribution[] {
  return (change) => {
    const event = change.row as { orderId: number; amountCents: number };
    return [{ docId: event.orderId, slot: slotKey('payment', change.id), row: { kind, amountCents: event.amountCents }, position: change.position, unavailable: [] }];
  };
}

function paymentSummary(state: DocState): PaymentSummary {
  const events = liveRows(state, 'payment') as { kind: PaymentKind; amountCents: number }[];
  if (events.length === 0) return NO_PAYMENT;
  const sum = (kind: PaymentKind) => events.filter((e) => e.kind === kind).reduce((total, e) => total + BigInt(e.amountCents), 0n);
  const [authorized, captured, refunded] = [sum('authorized'), sum('captured'), sum('refunded')];
  const has = (kind: PaymentKind) => events.some((e) => e.kind === kind);
  const status = has('refunded') ? 'refunded' : has('captured') ? 'captured' : has('authorized') ? 'authorized' : 'none';
  return { status, authorized: fromCents(authorized), captured: fromCents(captured), refunded: fromCents(refunded) };
}

function orderRow(state: DocState, id: DocId): OrderRow | undefined {
  const slot = state.slots[slotKey('orders', id)];
  return slot?.row === null || slot === undefined ? undefined : (slot.row as OrderRow);
}

export const orderViews: Projection = {
  name: 'order_views',
  collection: 'order_views',
  schemaVersion: ORDER_VIEWS_VERSION,
  documents: orderViewHistory,
  sources: {
    orders: ordersSource,
    order_lines: orderLinesSource,
    'payment.authorized': paymentSource('authorized'),
    'payment.captured': paymentSource('captured'),
    'payment.refunded': paymentSource('refunded'),
  },
  references: {
    // `name` too: copies stored before customers split its name still render.
    customers: { fields: ['name', 'given_name', 'family_name', 'email', 'tier'] },
    products: { fields: ['sku', 'name'] },
  },
  // GET /customers/:id/orders pages by customer, newest first.
  readIndexes: [{ name: 'by_customer', key: { customerId: 1, placedAt: -1 } }],
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
    const customer = state.refs[slotKey('customers', order.customer_id)]?.row as (Partial<CustomerRow> & { name?: string }) | null | undefined;
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
      schemaVersion: 2,
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
          : { id: order.customer_id, ...customerNames(customer), email: customer.email ?? '', tier: customer.tier ?? 'standard' },
      lines,
      totals: { itemCount, amount: fromCents(amount) },
      payment: paymentSummary(state),
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
