/**
 * Captures one real outbox event per payment event version from the running stack into
 * test/fixtures/events/ (see the README there). Run after adding an event version:
 *   npx tsc -p tsconfig.json --outDir /tmp/cdc-capture && node /tmp/cdc-capture/test/support/capture-event-fixtures.js
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../pipeline/config.js';
import { recordPayment } from '../../pipeline/shop/outbox.js';
import { eventTopic } from '../../schemas/events/registry.js';
import { legacyPaymentPayload, PAYMENT_VERSIONS } from './legacy-events.js';
import { eventually, ShopEnv } from './shop-env.js';

const env = new ShopEnv();
await env.createSchema({ customers: 1, products: 1 });
try {
  await env.startConnector();
  const [order] = await env.sql<{ id: string }>('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers LIMIT 1 RETURNING id');
  const orderId = Number(order?.id);
  const client = await env.pool.connect();
  try {
    for (const [kind, version] of PAYMENT_VERSIONS) {
      await recordPayment(client, env.schema, { orderId, kind, amount: '12.50' }, { schemaVersion: version, payload: legacyPaymentPayload(kind, version, { orderId, amount: '12.50' }) });
    }
  } finally {
    client.release();
  }
  const topic = eventTopic(env.topicPrefix, 'order');
  const records: Record<string, unknown>[] = [];
  const consumer = env.kafka.consumer({ groupId: `${env.name}-capture` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]));
      records.push({ topic, partition, offset: Number(message.offset), timestamp: Number(message.timestamp), key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? null, headers });
    },
  });
  await eventually(async () => records.length, (n) => n >= PAYMENT_VERSIONS.length, 60_000);
  await consumer.disconnect();
  const dir = join(PROJECT_ROOT, 'test', 'fixtures', 'events');
  mkdirSync(dir, { recursive: true });
  for (const r of records) {
    const headers = r['headers'] as Record<string, string>;
    writeFileSync(join(dir, `${headers['eventType']}.v${headers['schemaVersion']}.json`), `${JSON.stringify(r, null, 2)}\n`);
  }
  console.log(`captured ${records.length} events into ${dir}`);
} finally {
  await env.dispose();
}
