import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { ident } from '../postgres/sql.js';
import { customerNameShape, type NameShape } from './migrate.js';
import { recordPayment } from './outbox.js';
import { PAYMENT_KINDS } from '../../schemas/events/payment-events.js';

/** A small seeded PRNG so a load run can be repeated exactly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Incompressible text, so Postgres stores it out of line (TOAST) rather than compressing it inline. */
export function toastableText(bytes: number): string {
  return randomBytes(Math.ceil(bytes / 2)).toString('hex').slice(0, bytes);
}

export interface LoadOptions {
  schema: string;
  /** Stop after this many row changes (a backlog) ... */
  changes?: number;
  /** ... or after this many seconds. */
  durationS?: number;
  /** Target row changes per second; unlimited when absent. */
  rate?: number;
  concurrency?: number;
  seed?: number;
}

export interface LoadResult {
  changes: number;
  transactions: number;
  byKind: Record<string, number>;
  ms: number;
}

interface Ids {
  customers: number[];
  products: number[];
  orders: number[];
  schema: string;
  /** Which shape customers has: one `name` column, or given and family names (migration 004). */
  names: NameShape;
}

/** Writers follow the schema they find: before migration 004 one name column, after it two. */
function nameColumns(shape: NameShape): string {
  return shape === 'split' ? 'given_name, family_name' : 'name';
}

function nameValues(shape: NameShape, first: string, last: string): string[] {
  return shape === 'split' ? [first, last] : [`${first} ${last}`];
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Niklaus'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Wirth'];
const TIERS = ['standard', 'silver', 'gold'];
const STATUSES = ['pending', 'paid', 'shipped', 'cancelled'];

/** Creates customers and products for the load to work on. Returns the number of rows. */
export async function seedShop(client: pg.ClientBase, schema: string, counts: { customers: number; products: number }, seed = 1): Promise<number> {
  const s = ident(schema);
  const rnd = prng(seed);
  const shape = await customerNameShape(client, schema);
  await client.query('BEGIN');
  for (let i = 0; i < counts.customers; i++) {
    const [first, last] = [pick(rnd, FIRST), pick(rnd, LAST)];
    const names = nameValues(shape, first, last);
    const n = names.length;
    await client.query(`INSERT INTO ${s}.customers (${nameColumns(shape)}, email, tier, bio) VALUES (${names.map((_, j) => `$${j + 1}`).join(', ')}, $${n + 1}, $${n + 2}, $${n + 3})`, [
      ...names,
      `${first}.${last}.${i}@example.com`.toLowerCase(),
      pick(rnd, TIERS),
      i % 10 === 0 ? toastableText(9_000) : null,
    ]);
  }
  for (let i = 0; i < counts.products; i++) {
    await client.query(`INSERT INTO ${s}.products (sku, name, price, attributes, description) VALUES ($1, $2, $3, $4, $5)`, [
      `SKU-${seed}-${i}-${Math.floor(rnd() * 1e9)}`,
      `Product ${i}`,
      (1 + Math.floor(rnd() * 20000) / 100).toFixed(2),
      JSON.stringify({ color: pick(rnd, ['red', 'green', 'blue']), 'weight.kg': Math.round(rnd() * 100) / 10 }),
      i % 10 === 0 ? toastableText(12_000) : `A short description of product ${i}`,
    ]);
  }
  await client.query('COMMIT');
  return counts.customers + counts.products;
}

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)] as T;
}

/** Hot keys: a cubic skew sends most picks to the first few ids of the list. */
function pickHot(rnd: () => number, ids: number[]): number | undefined {
  if (ids.length === 0) return undefined;
  return ids[Math.floor(ids.length * rnd() ** 3)];
}

async function loadIds(client: pg.ClientBase, schema: string): Promise<Ids> {
  const s = ident(schema);
  const ids = async (table: string) => (await client.query<{ id: string }>(`SELECT id FROM ${s}.${table} ORDER BY id DESC LIMIT 5000`)).rows.map((r) => Number(r.id));
  return { customers: await ids('customers'), products: await ids('products'), orders: await ids('orders'), schema, names: await customerNameShape(client, schema) };
}

/**
 * One transaction of the shop's change mix. Returns its kind and how many row changes (Debezium
 * events, tombstones not counted) it made.
 */
async function oneTransaction(client: pg.PoolClient, s: string, ids: Ids, rnd: () => number): Promise<{ kind: string; changes: number }> {
  const roll = rnd();
  const customer = pickHot(rnd, ids.customers);
  const product = pickHot(rnd, ids.products);
  const order = pickHot(rnd, ids.orders);
  if (roll < 0.35 || order === undefined || customer === undefined || product === undefined) {
    if (customer === undefined || product === undefined) throw new Error(`schema ${s} has no customers or products: seed it first (cdc shop seed)`);
    const lines = 1 + Math.floor(rnd() * 4);
    await client.query('BEGIN');
    const res = await client.query<{ id: string }>(`INSERT INTO ${s}.orders (customer_id) VALUES ($1) RETURNING id`, [customer]);
    const orderId = Number(res.rows[0]?.id);
    for (let i = 0; i < lines; i++) {
      await client.query(`INSERT INTO ${s}.order_lines (order_id, product_id, quantity, unit_price) SELECT $1, id, $2, price FROM ${s}.products WHERE id = $3`, [orderId, 1 + Math.floor(rnd() * 5), pickHot(rnd, ids.products)]);
    }
    await client.query('COMMIT');
    ids.orders.unshift(orderId);
    if (ids.orders.length > 5000) ids.orders.pop();
    return { kind: 'order_placed', changes: 1 + lines };
  }
  if (roll < 0.62) {
    await client.query(`UPDATE ${s}.orders SET status = $1, updated_at = now() WHERE id = $2`, [pick(rnd, STATUSES), order]);
    return { kind: 'order_status', changes: 1 };
  }
  if (roll < 0.72) {
    await client.query(`INSERT INTO ${s}.order_lines (order_id, product_id, quantity, unit_price) SELECT $1, id, 1, price FROM ${s}.products WHERE id = $2`, [order, product]);
    return { kind: 'line_added', changes: 1 };
  }
  if (roll < 0.75) {
    const res = await client.query(`UPDATE ${s}.order_lines SET quantity = quantity + 1 WHERE id = (SELECT max(id) FROM ${s}.order_lines WHERE order_id = $1)`, [order]);
    return { kind: 'line_changed', changes: res.rowCount ?? 0 };
  }
  if (roll < 0.78) {
    // Leaves the (possibly TOASTed) bio untouched: Debezium sends the placeholder for it.
    const names = nameValues(ids.names, pick(rnd, FIRST), pick(rnd, LAST));
    const set = nameColumns(ids.names).split(', ').map((c, j) => `${c} = $${j + 1}`).join(', ');
    await client.query(`UPDATE ${s}.customers SET ${set}, tier = $${names.length + 1}, updated_at = now() WHERE id = $${names.length + 2}`, [...names, pick(rnd, TIERS), customer]);
    return { kind: 'customer_renamed', changes: 1 };
  }
  if (roll < 0.82) {
    // Leaves the (possibly TOASTed) description untouched: Debezium sends the placeholder for it.
    await client.query(`UPDATE ${s}.products SET name = $1, price = $2, updated_at = now() WHERE id = $3`, [`Product ${Math.floor(rnd() * 1e6)}`, (1 + Math.floor(rnd() * 20000) / 100).toFixed(2), product]);
    return { kind: 'product_changed', changes: 1 };
  }
  if (roll < 0.87) {
    const res = await client.query(`WITH gone AS (DELETE FROM ${s}.orders WHERE id = $1 RETURNING id) SELECT count(*) FROM gone`, [order]);
    ids.orders = ids.orders.filter((id) => id !== order);
    return { kind: 'order_deleted', changes: Number((res.rows[0] as { count: string }).count) };
  }
  if (roll < 0.91) {
    const names = nameValues(ids.names, pick(rnd, FIRST), pick(rnd, LAST));
    const res = await client.query<{ id: string }>(
      `INSERT INTO ${s}.customers (${nameColumns(ids.names)}, email) VALUES (${names.map((_, j) => `$${j + 1}`).join(', ')}, $${names.length + 1}) RETURNING id`,
      [...names, `${randomBytes(6).toString('hex')}@example.com`],
    );
    ids.customers.push(Number(res.rows[0]?.id));
    return { kind: 'customer_created', changes: 1 };
  }
  if (roll < 0.96) {
    // A payment and its outbox event, in one transaction (one event reaches Kafka).
    const kind = pick(rnd, PAYMENT_KINDS);
    await recordPayment(client, ids.schema, { orderId: order, kind, amount: (1 + Math.floor(rnd() * 10000) / 100).toFixed(2) });
    return { kind: `payment_${kind}`, changes: 1 };
  }
  const res = await client.query<{ id: string }>(`INSERT INTO ${s}.products (sku, name, price, description) VALUES ($1, $2, $3, $4) RETURNING id`, [`SKU-${randomBytes(8).toString('hex')}`, 'New product', '9.99', toastableText(12_000)]);
  ids.products.push(Number(res.rows[0]?.id));
  return { kind: 'product_created', changes: 1 };
}

/**
 * Runs the shop's change mix (inserts, updates, deletes, renames, hot keys, multi-row transactions)
 * either as a backlog of N changes as fast as Postgres takes them or at a target rate.
 */
/**
 * `result`: where to count, so a caller that runs the load again after a failure (a fault drill)
 * keeps what the failed run committed.
 */
export async function runLoad(pool: pg.Pool, opts: LoadOptions, shouldStop: () => boolean = () => false, result: LoadResult = { changes: 0, transactions: 0, byKind: {}, ms: 0 }): Promise<LoadResult> {
  const s = ident(opts.schema);
  const started = Date.now();
  const base = result.changes;
  const seeded = await pool.connect();
  const ids = await loadIds(seeded, opts.schema).finally(() => seeded.release());
  const deadline = opts.durationS === undefined ? Infinity : started + opts.durationS * 1000;
  const done = () => shouldStop() || Date.now() >= deadline || (opts.changes !== undefined && result.changes - base >= opts.changes);
  const lane = async (laneNo: number) => {
    const rnd = prng((opts.seed ?? 42) + laneNo);
    const client = await pool.connect();
    try {
      while (!done()) {
        const { kind, changes } = await oneTransaction(client, s, ids, rnd).catch(async (err: unknown) => {
          await client.query('ROLLBACK').catch(() => undefined);
          // Concurrent lanes may delete an order another lane is touching: a lost race, not a failure.
          if (err instanceof Error && /violates foreign key|deadlock/.test(err.message)) return { kind: 'conflict', changes: 0 };
          throw err;
        });
        result.changes += changes;
        result.transactions += 1;
        result.byKind[kind] = (result.byKind[kind] ?? 0) + 1;
        if (opts.rate !== undefined) {
          const due = started + ((result.changes - base) / opts.rate) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await sleep(wait);
        }
      }
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 1 }, (_, i) => lane(i)));
  result.ms += Date.now() - started;
  return result;
}
