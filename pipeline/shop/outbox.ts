import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { toCents } from '../../projections/decimal.js';
import type { PaymentKind } from '../../schemas/events/payment-events.js';
import { ownValue } from '../../schemas/own-key.js';
import { EVENT_TYPES } from '../../schemas/events/registry.js';
import { PipelineError } from '../errors.js';
import { ident } from '../postgres/sql.js';

export interface OutboxEvent {
  /** Also the Kafka header `id`: consumers deduplicate by it. */
  id: string;
  aggregateType: string;
  aggregateId: string;
  type: string;
  schemaVersion: number;
  payload: unknown;
}

/**
 * Writes an event to the outbox inside the caller's transaction, and deletes it again: Debezium
 * reads the insert from the WAL, so the event is published exactly when the transaction commits,
 * and the table never grows. Must run inside BEGIN/COMMIT with the state change it announces.
 */
export async function writeOutboxEvent(client: pg.ClientBase, schema: string, event: OutboxEvent): Promise<void> {
  const s = ident(schema);
  await client.query(`INSERT INTO ${s}.outbox (id, aggregatetype, aggregateid, type, schema_version, payload) VALUES ($1, $2, $3, $4, $5, $6)`, [
    event.id,
    event.aggregateType,
    event.aggregateId,
    event.type,
    event.schemaVersion,
    JSON.stringify(event.payload),
  ]);
  await client.query(`DELETE FROM ${s}.outbox WHERE id = $1`, [event.id]);
}

export interface Payment {
  orderId: number;
  kind: PaymentKind;
  /** Decimal string, two places ("12.50"). */
  amount: string;
  method?: 'card' | 'bank_transfer';
  reason?: string;
}

/** The current version's payload for a payment. */
function currentPayload(p: Payment): unknown {
  const amountCents = Number(toCents(p.amount));
  if (p.kind === 'authorized') return { orderId: p.orderId, amountCents, method: p.method ?? 'card' };
  if (p.kind === 'captured') return { orderId: p.orderId, amountCents };
  return { orderId: p.orderId, amountCents, reason: p.reason ?? 'customer request' };
}

/**
 * Records a payment and publishes its event in one transaction: the shop's example of an outbox
 * writer. The event is validated against its schema before it is written, so a writer cannot
 * publish what consumers would reject. `as` lets a writer still on an older event version publish
 * that version (what rolling upgrades and the tests play through).
 */
export async function recordPayment(client: pg.ClientBase, schema: string, payment: Payment, as?: { schemaVersion: number; payload: unknown }): Promise<string> {
  const type = `payment.${payment.kind}`;
  const spec = ownValue(EVENT_TYPES, type);
  if (spec === undefined) throw new PipelineError('EVENT_INVALID', `no event type ${type} in schemas/events/registry.ts`);
  const history = spec.history;
  const schemaVersion = as?.schemaVersion ?? history.current;
  const payload = as?.payload ?? currentPayload(payment);
  const check = history.upcast(schemaVersion, payload);
  if (!check.ok) throw new PipelineError('EVENT_INVALID', `refusing to publish ${type}: ${check.reason}`, { hint: 'fix the writer: consumers would park or reject this event' });
  const id = randomUUID();
  const s = ident(schema);
  await client.query('BEGIN');
  try {
    await client.query(`INSERT INTO ${s}.payments (id, order_id, kind, amount, method) VALUES ($1, $2, $3, $4, $5)`, [id, payment.orderId, payment.kind, payment.amount, payment.method ?? 'card']);
    await writeOutboxEvent(client, schema, { id, aggregateType: spec.aggregateType, aggregateId: String(payment.orderId), type, schemaVersion, payload });
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return id;
}
