import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { PAYMENT_KINDS } from '../../schemas/events/payment-events.js';
import { ident } from '../postgres/sql.js';
import { prng } from '../shop/load-generator.js';
import { recordPayment } from '../shop/outbox.js';

/**
 * Another service writing the shop's tables with a mix the load generator never makes: orders
 * moved between customers, lines moved between orders, renames of hot rows, deletes of lines and
 * customers' orders, and payments through the outbox. Each step is one transaction; a step that
 * fails (Postgres killed under it, a row another writer deleted) is rolled back and counted, never
 * fatal, so it writes through every fault of a drill.
 */
export interface OutsideWriterResult {
  transactions: number;
  failed: number;
  byKind: Record<string, number>;
}

const STEPS = [
  'order_moved',
  'line_moved',
  'customer_renamed',
  'product_renamed',
  'line_deleted',
  'order_deleted',
  'payment',
] as const;

export async function runOutsideWriter(
  pool: pg.Pool,
  schema: string,
  opts: { rate: number; seed: number },
  shouldStop: () => boolean,
): Promise<OutsideWriterResult> {
  const s = ident(schema);
  const rnd = prng(opts.seed);
  const result: OutsideWriterResult = { transactions: 0, failed: 0, byKind: {} };
  const started = Date.now();
  const someId = async (client: pg.PoolClient, table: string): Promise<number | undefined> => {
    // The newest rows are where the load generator works too: races on purpose.
    const res = await client.query<{ id: string }>(`SELECT id FROM ${s}.${table} ORDER BY id DESC OFFSET $1 LIMIT 1`, [
      Math.floor(rnd() * 200),
    ]);
    return res.rows[0] === undefined ? undefined : Number(res.rows[0].id);
  };
  while (!shouldStop()) {
    const step = STEPS[Math.floor(rnd() * STEPS.length)] ?? 'payment';
    let client: pg.PoolClient | undefined;
    try {
      client = await pool.connect();
      await client.query('BEGIN');
      const order = await someId(client, 'orders');
      const customer = await someId(client, 'customers');
      if (order !== undefined && customer !== undefined) {
        switch (step) {
          case 'order_moved':
            await client.query(`UPDATE ${s}.orders SET customer_id = $1, updated_at = now() WHERE id = $2`, [
              customer,
              order,
            ]);
            break;
          case 'line_moved':
            await client.query(
              `UPDATE ${s}.order_lines SET order_id = $1 WHERE id = (SELECT max(id) FROM ${s}.order_lines WHERE order_id <> $1)`,
              [order],
            );
            break;
          case 'customer_renamed':
            await client.query(
              `UPDATE ${s}.customers SET given_name = $1, family_name = $2, updated_at = now() WHERE id = $3`,
              [`Outside${randomBytes(2).toString('hex')}`, 'Writer', customer],
            );
            break;
          case 'product_renamed':
            await client.query(
              `UPDATE ${s}.products SET name = $1, updated_at = now() WHERE id = (SELECT max(id) FROM ${s}.products)`,
              [`Renamed ${randomBytes(3).toString('hex')}`],
            );
            break;
          case 'line_deleted':
            await client.query(
              `DELETE FROM ${s}.order_lines WHERE id = (SELECT min(id) FROM ${s}.order_lines WHERE order_id = $1)`,
              [order],
            );
            break;
          case 'order_deleted':
            await client.query(`DELETE FROM ${s}.orders WHERE id = $1`, [order]);
            break;
          case 'payment':
            await client.query('COMMIT');
            await recordPayment(client, schema, {
              orderId: order,
              kind: PAYMENT_KINDS[Math.floor(rnd() * PAYMENT_KINDS.length)] ?? 'authorized',
              amount: (1 + Math.floor(rnd() * 5000) / 100).toFixed(2),
              method: 'bank_transfer',
            });
            break;
        }
      }
      if (step !== 'payment') await client.query('COMMIT');
      result.transactions += 1;
      result.byKind[step] = (result.byKind[step] ?? 0) + 1;
      client.release();
    } catch (err) {
      result.failed += 1;
      await client?.query('ROLLBACK').catch(() => undefined);
      // A client whose connection died must not go back to the pool.
      client?.release(err instanceof Error ? err : true);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const due = started + (result.transactions / opts.rate) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return result;
}
