import { z } from 'zod';
import { fromCents, toCents } from '../../projections/decimal.js';
import { DecimalString, Id } from '../source-values.js';
import { VersionHistory } from '../versioned.js';

/**
 * Payment events the shop publishes through its outbox (pipeline/shop/outbox.ts), one history per
 * event type. Old versions stay here for as long as any topic may hold them: a replay from the
 * earliest offset reads every one of them again.
 */

const Cents = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const cents = (amount: string): number => Number(toCents(amount));

/** v1 (first release): snake_case, amount as a decimal string. */
const AuthorizedV1 = z.object({ order_id: Id, amount: DecimalString });
/** v2: camelCase like every other event. */
const AuthorizedV2 = z.object({ orderId: Id, amount: DecimalString });
/** v3: integer cents, and the payment method (unknown for events written before it existed). */
const AuthorizedV3 = z.object({ orderId: Id, amountCents: Cents, method: z.enum(['card', 'bank_transfer', 'unknown']) });

export const paymentAuthorized = VersionHistory.start('payment.authorized', AuthorizedV1)
  .next(AuthorizedV2, (v1) => ({ orderId: v1.order_id, amount: v1.amount }))
  .next(AuthorizedV3, (v2) => ({ orderId: v2.orderId, amountCents: cents(v2.amount), method: 'unknown' as const }));

const CapturedV1 = z.object({ orderId: Id, amount: DecimalString });
const CapturedV2 = z.object({ orderId: Id, amountCents: Cents });

export const paymentCaptured = VersionHistory.start('payment.captured', CapturedV1).next(CapturedV2, (v1) => ({ orderId: v1.orderId, amountCents: cents(v1.amount) }));

const RefundedV1 = z.object({ orderId: Id, amountCents: Cents, reason: z.string().max(500) });

export const paymentRefunded = VersionHistory.start('payment.refunded', RefundedV1);

export type PaymentAuthorized = z.infer<typeof AuthorizedV3>;
export type PaymentCaptured = z.infer<typeof CapturedV2>;
export type PaymentRefunded = z.infer<typeof RefundedV1>;

export const PAYMENT_KINDS = ['authorized', 'captured', 'refunded'] as const;
export type PaymentKind = (typeof PAYMENT_KINDS)[number];

/** The amount of any current-version payment event, as a decimal string. */
export function paymentAmount(event: { amountCents: number }): string {
  return fromCents(BigInt(event.amountCents));
}
