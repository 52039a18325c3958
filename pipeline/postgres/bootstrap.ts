import type { Client } from 'pg';
import type { Settings } from '../config.js';
import { superuserClient } from './clients.js';
import { ident, literal } from './sql.js';

/**
 * Roles and the shop database on a running Postgres, idempotently: the app role (DML only) and the
 * Debezium role (LOGIN REPLICATION; SELECT is granted per captured table by the shop migration).
 * Passwords are (re)set every time so the roles always match the secrets in force.
 */
export async function bootstrapDatabase(settings: Settings): Promise<void> {
  const { database, appUser, appPassword, debeziumUser, debeziumPassword } = settings.pg;
  const client = superuserClient(settings, 'postgres');
  await client.connect();
  try {
    await ensureRole(client, appUser, `LOGIN PASSWORD ${literal(appPassword)}`);
    await ensureRole(client, debeziumUser, `LOGIN REPLICATION PASSWORD ${literal(debeziumPassword)}`);
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${ident(database)}`);
    await client.query(`GRANT CONNECT ON DATABASE ${ident(database)} TO ${ident(appUser)}, ${ident(debeziumUser)}`);
  } finally {
    await client.end();
  }
}

async function ensureRole(client: Client, role: string, options: string): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  await client.query(`${exists.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${ident(role)} WITH ${options}`);
}
