import type { PaymentKind } from '../../schemas/events/payment-events.js';
import { toCents } from '../../projections/decimal.js';

/**
 * What writers of older releases published for a payment, per event version: the tests play
 * those writers (the shop's own helper writes only the current version).
 */
export function legacyPaymentPayload(kind: PaymentKind, version: number, p: { orderId: number; amount: string; reason?: string }): unknown {
  const amountCents = Number(toCents(p.amount));
  const key = `${kind}.v${version}`;
  switch (key) {
    case 'authorized.v1':
      return { order_id: p.orderId, amount: p.amount };
    case 'authorized.v2':
      return { orderId: p.orderId, amount: p.amount };
    case 'authorized.v3':
      return { orderId: p.orderId, amountCents, method: 'card' };
    case 'captured.v1':
      return { orderId: p.orderId, amount: p.amount };
    case 'captured.v2':
      return { orderId: p.orderId, amountCents };
    case 'refunded.v1':
      return { orderId: p.orderId, amountCents, reason: p.reason ?? 'damaged' };
    default:
      throw new Error(`no legacy writer for payment.${key}`);
  }
}

/** Every (kind, version) pair ever published. */
export const PAYMENT_VERSIONS: readonly [PaymentKind, number][] = [
  ['authorized', 1],
  ['authorized', 2],
  ['authorized', 3],
  ['captured', 1],
  ['captured', 2],
  ['refunded', 1],
];
