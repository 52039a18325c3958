import type { RowChange } from '../schemas/change.js';
import { customerViewHistory, type CustomerView } from '../schemas/documents/customer-view.js';
import { customerNames, type CustomerRow } from '../schemas/shop-rows.js';
import { fromCents, toCents } from './decimal.js';
import { liveRows } from './fold.js';
import { slotKey, type Contribution, type Projection, type Row } from './types.js';

export const CUSTOMER_VIEWS_VERSION = customerViewHistory.current;
export type { CustomerView };

function customersSource(change: RowChange): Contribution[] {
  return [{ docId: Number(change.id), slot: slotKey('customers', change.id), row: change.op === 'delete' ? null : change.row, position: change.position, unavailable: change.unavailable }];
}

/**
 * customer_views: a customer with order count, lifetime value and last order time. The counts
 * are never incremented: each order's part is a slot (`order_views:<id>`, fed from the order's
 * rendered document and guarded by its revision), and the totals are recomputed from the slots,
 * so a redelivered change cannot count twice.
 */
export const customerViews: Projection = {
  name: 'customer_views',
  collection: 'customer_views',
  schemaVersion: CUSTOMER_VIEWS_VERSION,
  documents: customerViewHistory,
  sources: { customers: customersSource },
  references: {},
  derivedFrom: ['order_views'],
  referencesOf: () => [],

  render(_id, state): Row | null {
    const [customer] = liveRows(state, 'customers') as (CustomerRow & { name?: string })[];
    if (customer === undefined) return null;
    const orders = liveRows(state, 'order_views') as { placedAt: Date; amount: string }[];
    let lifetime = 0n;
    let last: Date | null = null;
    for (const o of orders) {
      lifetime += toCents(o.amount);
      const placed = new Date(o.placedAt);
      if (last === null || placed > last) last = placed;
    }
    const view: CustomerView = {
      schemaVersion: 2,
      customerId: customer.id,
      ...customerNames(customer),
      email: customer.email,
      tier: customer.tier,
      bio: customer.bio ?? null,
      orderCount: orders.length,
      lifetimeValue: fromCents(lifetime),
      lastOrderAt: last,
    };
    return view;
  },
};
