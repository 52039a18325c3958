import { z } from 'zod';
import { customerNames } from '../shop-rows.js';
import { VersionHistory } from '../versioned.js';

/**
 * The documents of order_views, every version ever written. A reader upcasts an older document
 * on read; a worker rewrites it at the current version when it next touches it (or
 * `cdc documents upgrade` does, for those nobody touches). A new version only adds fields, so a
 * reader one version behind still reads the new documents (zod drops what it does not know).
 */
const Money = z.string().regex(/^-?\d+\.\d{2}$/);

const Line = z.object({
  lineId: z.number().int(),
  productId: z.number().int(),
  sku: z.string().nullable(),
  productName: z.string().nullable(),
  quantity: z.number().int(),
  unitPrice: z.string(),
  lineTotal: Money,
});

const orderColumns = {
  orderId: z.number().int(),
  status: z.string(),
  currency: z.string(),
  note: z.string().nullable(),
  placedAt: z.date(),
  updatedAt: z.date(),
  customerId: z.number().int(),
  lines: z.array(Line),
  totals: z.object({ itemCount: z.number().int(), amount: Money }),
};

export const OrderViewV1 = z.object({
  schemaVersion: z.literal(1),
  ...orderColumns,
  customer: z.object({ id: z.number().int(), name: z.string(), email: z.string(), tier: z.string() }).nullable(),
});

export const PaymentSummary = z.object({
  /** The furthest step any payment event reached: refunded > captured > authorized > none. */
  status: z.enum(['none', 'authorized', 'captured', 'refunded']),
  authorized: Money,
  captured: Money,
  refunded: Money,
});

/** v2: the customer's given and family names (customers split its name), and payments (outbox events). */
export const OrderViewV2 = z.object({
  schemaVersion: z.literal(2),
  ...orderColumns,
  customer: z.object({ id: z.number().int(), name: z.string(), givenName: z.string(), familyName: z.string(), email: z.string(), tier: z.string() }).nullable(),
  payment: PaymentSummary,
});

export const NO_PAYMENT: z.infer<typeof PaymentSummary> = { status: 'none', authorized: '0.00', captured: '0.00', refunded: '0.00' };

export const orderViewHistory = VersionHistory.start('order_views document', OrderViewV1).next(OrderViewV2, (v1) => ({
  ...v1,
  schemaVersion: 2 as const,
  customer: v1.customer === null ? null : { ...v1.customer, ...customerNames({ name: v1.customer.name }) },
  // A v1 document predates payment events: read as "none" until a worker rewrites it.
  payment: NO_PAYMENT,
}));

export type OrderView = z.infer<typeof OrderViewV2>;
export type PaymentSummary = z.infer<typeof PaymentSummary>;
