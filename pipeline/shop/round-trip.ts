import type pg from 'pg';
import { z } from 'zod';
import { PipelineError } from '../errors.js';
import { ident } from '../postgres/sql.js';

export interface RoundTrip {
  orderId: number;
  lsn: string;
  status: number;
  consistency: string | null;
  ms: number;
  document: unknown;
}

const OrderIdRow = z.object({ id: z.coerce.number().int() });

/**
 * Read-your-writes as a shop client does it: place an order in one transaction, read the WAL
 * position after COMMIT, then ask the read API for the order with that position. The API answers
 * once the projections have applied past it (X-Read-Consistency: fresh).
 */
export async function orderRoundTrip(pool: pg.Pool, schema: string, apiUrl: string, maxWaitMs = 10_000): Promise<RoundTrip> {
  const s = ident(schema);
  const client = await pool.connect();
  let orderId: number;
  let lsn: string;
  try {
    await client.query('BEGIN');
    const placed = await client.query(`INSERT INTO ${s}.orders (customer_id, note) SELECT id, 'round trip' FROM ${s}.customers ORDER BY id LIMIT 1 RETURNING id`);
    const row = OrderIdRow.safeParse(placed.rows[0]);
    if (!row.success) throw new PipelineError('CLI_USAGE', `schema ${schema} has no customers`, { hint: 'seed it first (cdc shop seed)' });
    orderId = row.data.id;
    await client.query(`INSERT INTO ${s}.order_lines (order_id, product_id, quantity, unit_price) SELECT $1, id, 2, price FROM ${s}.products ORDER BY id LIMIT 1`, [orderId]);
    await client.query('COMMIT');
    lsn = (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0';
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  const started = performance.now();
  const res = await fetch(`${apiUrl}/orders/${orderId}`, { headers: { 'X-Min-Lsn': lsn, 'X-Max-Wait-Ms': String(maxWaitMs) } });
  const document: unknown = await res.json();
  return { orderId, lsn, status: res.status, consistency: res.headers.get('x-read-consistency'), ms: Math.round(performance.now() - started), document };
}
