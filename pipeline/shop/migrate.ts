import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { PROJECT_ROOT } from '../config.js';
import { ident } from '../postgres/sql.js';

/** Tables whose row changes projections read, each on its own topic. */
export const ROW_TABLES = ['customers', 'products', 'orders', 'order_lines'] as const;
/** The outbox: Debezium's event router turns its inserts into events on `<prefix>.events.<aggregate>`. */
export const OUTBOX_TABLE = 'outbox';
/** Debezium's heartbeat.action.query target: keeps the slot moving while the shop is quiet. */
export const HEARTBEAT_TABLE = 'debezium_heartbeat';
/** Debezium's signal.data.collection: incremental snapshots are asked for, and watermarked, here. */
export const SIGNAL_TABLE = 'debezium_signal';
/** Tables Debezium captures; the publication lists exactly these. */
export const CAPTURED_TABLES = [...ROW_TABLES, OUTBOX_TABLE, HEARTBEAT_TABLE, SIGNAL_TABLE] as const;
export type CapturedTable = (typeof CAPTURED_TABLES)[number];
/** Tables the shop's app writes (payments are published through the outbox, not captured). */
const APP_TABLES = [...ROW_TABLES, OUTBOX_TABLE, 'payments'] as const;

const MIGRATIONS_DIR = join(PROJECT_ROOT, 'shop', 'migrations');

export interface ShopSchemaOptions {
  schema: string;
  publication: string;
  appUser: string;
  debeziumUser: string;
  /** Migrations not to apply yet (a test applies them later, while the pipeline runs). */
  holdBack?: readonly string[];
}

/**
 * Creates or upgrades a shop schema, as the superuser: applies pending migrations (each in its own
 * transaction, recorded in `<schema>.schema_migrations`), grants the app role DML and the Debezium
 * role SELECT on the captured tables only, and points the publication at them.
 */
export async function migrateShop(client: pg.Client, opts: ShopSchemaOptions): Promise<string[]> {
  const s = ident(opts.schema);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
  const done = new Set((await client.query<{ name: string }>(`SELECT name FROM ${s}.schema_migrations`)).rows.map((r) => r.name));
  const applied: string[] = [];
  for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort()) {
    if (done.has(file)) continue;
    if (opts.holdBack?.includes(file) === true) continue;
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL search_path TO ${s}`);
      await client.query(readFileSync(join(MIGRATIONS_DIR, file), 'utf8'));
      await client.query(`INSERT INTO ${s}.schema_migrations (name) VALUES ($1)`, [file]);
      await client.query('COMMIT');
      applied.push(file);
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  }
  const tables = CAPTURED_TABLES.map((t) => `${s}.${ident(t)}`).join(', ');
  const appTables = APP_TABLES.map((t) => `${s}.${ident(t)}`).join(', ');
  const app = ident(opts.appUser);
  const dbz = ident(opts.debeziumUser);
  await client.query(`GRANT USAGE ON SCHEMA ${s} TO ${app}, ${dbz}`);
  await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${appTables} TO ${app}`);
  await client.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${s} TO ${app}`);
  await client.query(`GRANT SELECT ON ${tables} TO ${dbz}`);
  await client.query(`GRANT INSERT, UPDATE ON ${s}.${ident(HEARTBEAT_TABLE)} TO ${dbz}`);
  await client.query(`GRANT INSERT, DELETE ON ${s}.${ident(SIGNAL_TABLE)} TO ${dbz}`);
  const pub = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [opts.publication]);
  await client.query(pub.rowCount === 0 ? `CREATE PUBLICATION ${ident(opts.publication)} FOR TABLE ${tables}` : `ALTER PUBLICATION ${ident(opts.publication)} SET TABLE ${tables}`);
  return applied;
}

/** customers before migration 004 has one `name` column; from it on, given and family names. */
export type NameShape = 'single' | 'split';

export async function customerNameShape(client: pg.ClientBase, schema: string): Promise<NameShape> {
  const { rows } = await client.query('SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3', [schema, 'customers', 'given_name']);
  return rows.length > 0 ? 'split' : 'single';
}

/** Removes a shop schema and its publication (tests clean up after themselves). */
export async function dropShop(client: pg.Client, schema: string, publication: string): Promise<void> {
  await client.query(`DROP PUBLICATION IF EXISTS ${ident(publication)}`);
  await client.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
}
