import pg from 'pg';
import type { Settings } from '../config.js';

/** The superuser: migrations, grants, publications, replication slots. */
export function superuserClient(settings: Settings, database = settings.pg.database): pg.Client {
  const { host, port, superuser, superuserPassword } = settings.pg;
  return new pg.Client({
    host,
    port,
    user: superuser,
    password: superuserPassword,
    database,
    connectionTimeoutMillis: 3000,
  });
}

/** The application role: what services (and the load generator) write with. */
export function appPool(settings: Settings, max = 8): pg.Pool {
  const { host, port, database, appUser, appPassword } = settings.pg;
  const pool = new pg.Pool({
    host,
    port,
    database,
    user: appUser,
    password: appPassword,
    max,
    connectionTimeoutMillis: 3000,
  });
  // Postgres restarting closes the pool's connections: an idle one reports it on the pool, a checked
  // out one on itself. Unheard, either event would end the process; the query in flight fails
  // anyway, and the pool replaces the connection.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
