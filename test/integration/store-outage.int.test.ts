import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupLag } from '../../pipeline/kafka/lag.js';
import { freePort, startStore, stopStore } from '../support/private-store.js';
import { ShopEnv } from '../support/shop-env.js';

describe('a store outage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-outage-'));
  let port: number;
  let store: ChildProcess;
  let env: ShopEnv;

  beforeAll(async () => {
    port = await freePort();
    store = await startStore(port, join(dir, 'store.mv'));
    env = new ShopEnv(`mongodb://127.0.0.1:${port}`);
    await env.createSchema({ customers: 5, products: 5 });
    await env.startConnector();
  });
  afterAll(async () => {
    await env.dispose();
    if (store.exitCode === null) await stopStore(store);
    rmSync(dir, { recursive: true, force: true });
  });

  const placeOrders = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const [o] = await env.sql<{ id: string }>('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers ORDER BY random() LIMIT 1 RETURNING id');
      await env.sql('INSERT INTO $schema.order_lines (order_id, product_id, quantity, unit_price) SELECT $1, id, 2, price FROM $schema.products ORDER BY random() LIMIT 1', [o?.id]);
    }
  };

  test('is retried, not dead-lettered; nothing is committed past unwritten changes; the store catches up after', async () => {
    await env.startWorker();
    await placeOrders(5);
    await env.converged();

    await stopStore(store);
    await placeOrders(10);
    await env.sql("UPDATE $schema.orders SET status = 'shipped'");
    await env.published('orders', 25);
    await sleep(5000);
    // While the store is down the group's offsets stay behind the changes that were not written.
    expect(await groupLag(env.kafka, env.groupId, env.topics())).toBeGreaterThan(0);

    store = await startStore(port, join(dir, 'store.mv'));
    await env.mongo.db('admin').command({ ping: 1 });
    const [orders] = await env.converged(120_000);
    expect(orders?.expected).toBe(15);
    await env.drained();
    // Nothing went to the dead-letter topic: an outage is not poison.
    const admin = env.kafka.admin();
    await admin.connect();
    const dlq = (await admin.listTopics()).filter((t) => t.startsWith(`${env.topicPrefix}.`) && t.endsWith('.dlq'));
    let parked = 0;
    for (const t of dlq) for (const p of await admin.fetchTopicOffsets(t)) parked += Number(p.high);
    await admin.disconnect();
    expect(parked).toBe(0);
  }, 240_000);
});
