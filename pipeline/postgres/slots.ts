import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/**
 * Drops a replication slot once its connector has let go of it (a deleted connector's task may
 * hold it for a moment). A slot left behind pins WAL forever.
 */
export async function dropSlotWhenInactive(client: pg.ClientBase, slot: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await client.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (found.rowCount === 0) return;
    if (found.rows[0]?.active === false) {
      await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
      return;
    }
    await sleep(250);
  }
}
