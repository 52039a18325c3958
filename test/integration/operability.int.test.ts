import { PipelineError } from '../../pipeline/errors.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../pipeline/config.js';
import { spawnWorker } from '../../pipeline/bench/worker-process.js';
import { pipelineStatus } from '../../pipeline/status/pipeline-status.js';
import type { AppliedReport } from '../../pipeline/worker/applied-report.js';
import { orderRows } from '../../projections/order-rows.js';
import { PROJECTIONS } from '../../projections/registry.js';
import type { Projection } from '../../projections/types.js';
import { eventually, ShopEnv } from '../support/shop-env.js';

async function text(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** The sum of a metric's samples whose labels contain `labels` (Prometheus text format). */
function metric(body: string, name: string, labels = ''): number {
  return body
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Operability on the real stack: what a worker reports, and what `cdc status` sees of a group. */
describe('operability', () => {
  let env: ShopEnv;
  beforeAll(async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 5, products: 5 });
    await env.startConnector();
  });
  afterAll(async () => env.dispose());

  async function placeOrders(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const [o] = await env.sql<{ id: string }>('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers ORDER BY id LIMIT 1 RETURNING id');
      await env.sql('INSERT INTO $schema.order_lines (order_id, product_id, quantity, unit_price) SELECT $1, id, 1, price FROM $schema.products ORDER BY id LIMIT 1', [o?.id]);
    }
  }

  test('a worker serves Prometheus metrics, liveness and readiness', async () => {
    const worker = await env.startWorker();
    const url = worker.metricsUrl as string;
    await eventually(async () => (await text(`${url}/readyz`)).status, (s) => s === 200, 30_000);
    await placeOrders(5);
    const producer = env.kafka.producer();
    await producer.connect();
    await producer.send({ topic: env.topic('orders'), messages: [{ key: '{"id": 31337}', value: 'not json' }] });
    await producer.disconnect();
    await env.converged();
    await env.drained();

    const { body } = await eventually(() => text(`${url}/metrics`), (r) => metric(r.body, 'cdc_dead_letters_total', 'kind="invalid"') === 1);
    expect(metric(body, 'cdc_changes_applied_total', 'projection="order_views"')).toBeGreaterThanOrEqual(10);
    expect(metric(body, 'cdc_documents_written_total', 'collection="order_views"')).toBeGreaterThanOrEqual(5);
    expect(metric(body, 'cdc_end_to_end_delay_seconds_count')).toBeGreaterThanOrEqual(10);
    expect(metric(body, 'cdc_store_operation_seconds_count', 'operation="cas order_views"')).toBeGreaterThan(0);
    expect(metric(body, 'cdc_rebalances_total')).toBeGreaterThanOrEqual(1);
    expect(metric(body, 'cdc_assigned_partitions')).toBeGreaterThan(0);
    expect(body).toMatch(/cdc_consumer_lag_records\{topic="[^"]+",partition="\d+"\} 0/);
    expect(metric(body, 'cdc_freshness_seconds')).toBeGreaterThan(0);
    expect(await text(`${url}/healthz`)).toMatchObject({ status: 200 });
    const ready = JSON.parse((await text(`${url}/readyz`)).body) as { ready: boolean; checks: Record<string, unknown> };
    expect(ready).toMatchObject({ ready: true, checks: { store: true } });
    await worker.stop();
  });

  test('a worker whose rounds keep failing turns unready, and is ready again once they are written', async () => {
    // Rounds that fail and are retried in place (what a store that answers pings but refuses every
    // write looks like): connected and assigned, yet nothing gets written. A projection that throws
    // on one record is not this: that record is parked (test/integration/poison.int.test.ts).
    let broken = true;
    const breakable: Projection = {
      ...orderRows,
      render: (id, state) => {
        const doc = orderRows.render(id, state);
        if (broken && doc?.['note'] === 'boom') {
          throw new PipelineError('STORE_WRITE_FAILED', 'the store refuses every write', { retriable: true });
        }
        return doc;
      },
    };
    const groupId = `${env.groupId}-breakable`;
    const worker = await env.startWorker({ groupId, mongoDatabase: `${env.mongoDatabase}_breakable`, projections: [breakable], tables: ['orders'], unreadyAfterFailingMs: 1_000 });
    const url = worker.metricsUrl as string;
    await eventually(async () => (await text(`${url}/readyz`)).status, (s) => s === 200, 30_000);
    await env.sql("INSERT INTO $schema.orders (customer_id, note) SELECT id, 'boom' FROM $schema.customers ORDER BY id LIMIT 1");

    const unready = await eventually(() => text(`${url}/readyz`), (r) => r.status === 503, 30_000);
    const checks = (JSON.parse(unready.body) as { checks: Record<string, unknown> }).checks;
    expect(checks).toMatchObject({ store: true, stopping: false, consumer: 'consuming' });
    expect(checks['roundsFailingForSeconds']).toBeGreaterThanOrEqual(1);
    expect(checks['kafkaAssignedPartitions']).toBeGreaterThan(0);
    expect(metric((await text(`${url}/metrics`)).body, 'cdc_rounds_failing_seconds')).toBeGreaterThanOrEqual(1);
    expect((await text(`${url}/healthz`)).status).toBe(200);

    // The fix: the retried round is written, committed, and the worker is ready.
    broken = false;
    await eventually(async () => (await text(`${url}/readyz`)).status, (s) => s === 200, 60_000);
    expect(metric((await text(`${url}/metrics`)).body, 'cdc_rounds_failing_seconds')).toBe(0);
    await env.drained(groupId, ['orders']);
    // Retried, not parked: the order is projected.
    const boom = await env.mongo.db(`${env.mongoDatabase}_breakable`).collection(orderRows.collection).findOne({ note: 'boom' });
    expect(boom).not.toBeNull();
    await worker.stop();
  });

  test('status shows the workers and their partitions, lag in events and seconds, and exits 2 past a threshold', async () => {
    const a = await env.startWorker();
    const b = await env.startWorker();
    await placeOrders(3);
    await env.drained();
    const target = { groupId: env.groupId, topicPrefix: env.topicPrefix, schema: env.schema };
    const settled = await eventually(
      () => pipelineStatus(env.kafka, env.db, PROJECTIONS, target),
      (s) => s.workers.length === 2 && s.workers.every((w) => w.partitions.length > 0) && s.projections.every((p) => p.lagEvents === 0 && p.lastAppliedSource !== null),
      60_000,
    );
    const assigned = settled.workers.flatMap((w) => w.partitions);
    expect(new Set(assigned).size).toBe(assigned.length);
    expect(assigned.length).toBe(settled.partitions.length);
    expect(settled.projections.map((p) => p.lagSeconds)).toEqual([0, 0]);

    await a.stop();
    await b.stop();
    await placeOrders(2);
    await env.published('orders', 1);
    const behind = await eventually(() => pipelineStatus(env.kafka, env.db, PROJECTIONS, target), (s) => (s.projections[0]?.lagEvents ?? 0) >= 2, 30_000);
    expect(behind.projections[0]?.lagSeconds).toBeGreaterThan(0);

    const cli = spawnSync(
      process.execPath,
      [join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'), 'status', '--json', '--max-lag-events', '0', '--group', env.groupId, '--schema', env.schema, '--topic-prefix', env.topicPrefix, '--database', env.mongoDatabase],
      { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    expect(cli.status).toBe(2);
    const parsed = JSON.parse(cli.stdout) as { breaches: string[]; workers: unknown[] };
    expect(parsed.breaches[0]).toMatch(/order_views: lag \d+ events > 0/);
    expect(parsed.workers).toEqual([]);
  });

  test('a worker started with --report-applied tells its parent which changes each round applied, and when', async () => {
    const reports: AppliedReport[] = [];
    const [o] = await env.sql<{ id: string }>('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers ORDER BY id LIMIT 1 RETURNING id');
    const since = Date.now();
    const worker = await spawnWorker(['--group', env.groupId, '--schema', env.schema, '--topic-prefix', env.topicPrefix, '--database', env.mongoDatabase], { onApplied: (r) => reports.push(r) });
    try {
      await worker.ready();
      const order = await eventually(
        async () => reports.flatMap((r) => r.changes.filter(([table, id]) => table === 'orders' && id === o?.id).map(([, , position]) => ({ position, at: r.at }))),
        (found) => found.length > 0,
        60_000,
      );
      expect(order[0]?.position).toBeGreaterThan(0);
      expect(order[0]?.at).toBeGreaterThanOrEqual(since);
      // Reported once the round is written: the document is there by then.
      const doc = await env.db.collection('order_views').findOne({ _id: Number(o?.id) as never });
      expect(doc).toMatchObject({ orderId: Number(o?.id) });
    } finally {
      worker.stop();
      await worker.exited;
    }
  });
});
