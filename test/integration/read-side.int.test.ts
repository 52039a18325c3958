import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { messageCount } from '../../pipeline/kafka/lag.js';
import { DocumentCache } from '../../pipeline/read/document-cache.js';
import { startReadService, type RunningReadService } from '../../pipeline/read/service.js';
import { orderRoundTrip } from '../../pipeline/shop/round-trip.js';
import type { StoredDoc } from '../../pipeline/store/documents.js';
import { orderViews } from '../../projections/order-views.js';
import { freePort } from '../support/private-store.js';
import { eventually, randomName, ShopEnv } from '../support/shop-env.js';

/** A private Redis, so a test can stop or pause it without touching the stack's. */
function startRedis(port: number): ChildProcess {
  return spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/**
 * The read side on the real stack: the read API over the projections, Redis in front of hot
 * documents kept coherent by the projector, read-your-writes by commit LSN, and what happens when
 * Redis or the store goes away.
 */
describe('read side', () => {
  let env: ShopEnv;
  let service: RunningReadService;
  const others: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 10, products: 10 });
    await env.startConnector();
    await env.startWorker();
    service = await startReadService({ port: 0, database: env.mongoDatabase, readYourWrites: { groupId: env.groupId, slot: env.slot, topicPrefix: env.topicPrefix, schema: env.schema } }, env.log);
  });
  afterAll(async () => {
    for (const o of others) await o.close().catch(() => undefined);
    await service?.close();
    await env.dispose();
  });

  /** A write in Postgres and the LSN to read it back with. */
  async function write(sql: string, params: unknown[] = []): Promise<{ rows: Record<string, unknown>[]; lsn: string }> {
    const client = await env.pool.connect();
    try {
      const { rows } = await client.query(sql.replaceAll('$schema', `"${env.schema}"`), params);
      const lsn = (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn as string;
      return { rows, lsn };
    } finally {
      client.release();
    }
  }

  test('the quiet shop still moves its slot: the heartbeat query confirms positions past other WAL', async () => {
    const [order] = (await write('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers LIMIT 1 RETURNING id')).rows;
    // payments is not captured: WAL Debezium never receives.
    const { lsn } = await write("INSERT INTO $schema.payments (id, order_id, kind, amount) SELECT gen_random_uuid(), $1, 'authorized', 1 FROM generate_series(1, 200)", [order?.['id']]);
    const confirmed = async () => (await env.sql<{ ok: boolean }>('SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $2', [lsn, env.slot]))[0]?.ok;
    expect(await eventually(confirmed, (ok) => ok === true, 20_000)).toBe(true);
  });

  test('read-your-writes: a read that names its commit LSN sees that write', async () => {
    const placed = await write(
      "WITH o AS (INSERT INTO $schema.orders (customer_id, note) SELECT id, 'ryw' FROM $schema.customers ORDER BY id LIMIT 1 RETURNING id) INSERT INTO $schema.order_lines (order_id, product_id, quantity, unit_price) SELECT o.id, p.id, 3, p.price FROM o, $schema.products p ORDER BY p.id LIMIT 1 RETURNING order_id",
    );
    const id = Number(placed.rows[0]?.['order_id']);
    const first = await get(`${service.url}/orders/${id}`, { 'X-Min-Lsn': placed.lsn, 'X-Max-Wait-Ms': '20000' });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-read-consistency')).toBe('fresh');
    expect(first.body).toMatchObject({ orderId: id, note: 'ryw', totals: { itemCount: 3 } });

    for (const status of ['paid', 'shipped']) {
      const updated = await write('UPDATE $schema.orders SET status = $1 WHERE id = $2', [status, id]);
      const read = await get(`${service.url}/orders/${id}`, { 'X-Min-Lsn': updated.lsn, 'X-Max-Wait-Ms': '20000' });
      expect([read.headers.get('x-read-consistency'), read.body['status']]).toEqual(['fresh', status]);
    }
    // A position the projections cannot have reached: a bounded wait, then a clear "stale".
    const far = await get(`${service.url}/orders/${id}`, { 'X-Min-Lsn': 'FF/0', 'X-Max-Wait-Ms': '200' });
    expect([far.status, far.headers.get('x-read-consistency'), far.body['status']]).toEqual([200, 'stale', 'shipped']);
  });

  test("the shop's round trip: place an order, read it back with the commit's LSN, fresh", async () => {
    const trip = await orderRoundTrip(env.pool, env.schema, service.url, 20_000);
    expect([trip.status, trip.consistency]).toEqual([200, 'fresh']);
    expect(trip.document).toMatchObject({ orderId: trip.orderId, note: 'round trip', totals: { itemCount: 2 } });
  });

  test('cache coherence: once the projector has acknowledged a write, no read returns an older revision', async () => {
    const [o] = (await write('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers LIMIT 1 RETURNING id')).rows;
    const id = Number(o?.['id']);
    await eventually(() => env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: id }), (d) => d !== null);
    await env.drained();
    const reads: { at: number; rev: number; cache: string }[] = [];
    let reading = true;
    const readers = Array.from({ length: 4 }, async () => {
      while (reading) {
        const at = performance.now();
        const res = await fetch(`${service.url}/orders/${id}`);
        await res.arrayBuffer();
        if (res.status === 200) reads.push({ at, rev: Number(res.headers.get('etag')?.replaceAll('"', '')), cache: res.headers.get('x-cache') ?? '' });
      }
    });
    const acknowledged: { at: number; rev: number }[] = [];
    for (let i = 0; i < 12; i++) {
      await write('UPDATE $schema.orders SET note = $1 WHERE id = $2', [`n${i}`, id]);
      await eventually(() => env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: id }), (d) => d?.['note'] === `n${i}`);
      await env.drained(); // the round's offsets are committed: its store write and cache update are done
      const doc = await env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: id });
      acknowledged.push({ at: performance.now(), rev: doc?._rev ?? 0 });
    }
    reading = false;
    await Promise.all(readers);
    const violations = reads.filter((r) => acknowledged.some((a) => r.at > a.at && r.rev < a.rev));
    expect(reads.filter((r) => r.cache === 'hit').length).toBeGreaterThan(0);
    expect(violations).toEqual([]);
  });

  test('a racing stale fill cannot overwrite a newer entry, and a fence refuses fills that read before the write', async () => {
    const cache = new DocumentCache({ ...env.settings.redis, namespace: randomName('race') }, env.log);
    others.push(cache);
    await cache.connect();
    expect(await cache.fill('order_views', 1, 5, { v: 5 })).toBe(true);
    expect(await cache.fill('order_views', 1, 3, { v: 3 })).toBe(false);
    await cache.written('order_views', [{ id: 1, rev: 6, doc: { v: 6 } }]);
    expect(await cache.fill('order_views', 1, 5, { v: 5 })).toBe(false);
    expect(await cache.get('order_views', 1)).toEqual({ kind: 'hit', rev: 6, doc: { v: 6 } });

    // Not cached when the projector writes: a fence. A fill from before the write is refused, one from after is taken.
    await cache.written('order_views', [{ id: 2, rev: 9, doc: { v: 9 } }]);
    expect(await cache.get('order_views', 2)).toEqual({ kind: 'miss', reason: 'fence' });
    expect(await cache.fill('order_views', 2, 8, { v: 8 })).toBe(false);
    expect(await cache.fill('order_views', 2, 9, { v: 9 })).toBe(true);

    // Many fills racing: the newest revision wins whatever the arrival order.
    const revs = Array.from({ length: 60 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    await Promise.all(revs.map((rev) => cache.fill('order_views', 3, rev, { v: rev })));
    expect(await cache.get('order_views', 3)).toEqual({ kind: 'hit', rev: 60, doc: { v: 60 } });
  });

  test('an old-version document is served upcast, and errors are consistent', async () => {
    await env.db.collection('order_views').insertOne({
      _id: 900001 as never, _rev: 1, _visible: true, _refKeys: [], _state: { slots: {}, refs: {}, derivedTo: {} },
      schemaVersion: 1, orderId: 900001, status: 'paid', currency: 'EUR', note: null, placedAt: new Date(0), updatedAt: new Date(0), customerId: 1,
      customer: { id: 1, name: 'Grace Brewster Hopper', email: 'g@example.com', tier: 'gold' }, lines: [], totals: { itemCount: 0, amount: '0.00' },
    });
    const old = await get(`${service.url}/orders/900001`);
    expect(old.status).toBe(200);
    expect(old.headers.get('x-stored-version')).toBe('1');
    expect(old.body).toMatchObject({ schemaVersion: 2, customer: { givenName: 'Grace', familyName: 'Brewster Hopper' }, payment: { status: 'none' } });

    expect(await get(`${service.url}/orders/987654321`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await get(`${service.url}/orders/abc`)).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    expect(await get(`${service.url}/orders/1`, { 'X-Min-Lsn': 'yesterday' })).toMatchObject({ status: 400, body: { message: expect.stringContaining('X-Min-Lsn') } });
    const customers = await get(`${service.url}/customers/1/orders?pageSize=2`);
    expect(customers).toMatchObject({ status: 200, body: { customerId: 1, page: 1, pageSize: 2 } });
    expect((customers.body['orders'] as unknown[]).length).toBeLessThanOrEqual(2);
    const customer = await get(`${service.url}/customers/1`);
    expect(customer).toMatchObject({ status: 200, body: { customerId: 1, schemaVersion: 2 } });
    expect(await get(`${service.url}/customers/987654321`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await get(`${service.url}/customers/1/orders?pageSize=1000`)).toMatchObject({ status: 400, body: { error: 'bad_request' } });
    // A page beyond the bound is refused, not served by skipping 10,000 documents.
    expect(await get(`${service.url}/customers/1/orders?page=101&pageSize=100`)).toMatchObject({ status: 400, body: { error: 'bad_request', message: expect.stringContaining('10000') } });
    expect(await get(`${service.url}/customers/1/orders?page=100&pageSize=100`)).toMatchObject({ status: 200 });
    expect((await get(`${service.url}/openapi.json`)).body).toMatchObject({
      openapi: '3.1.0',
      paths: { '/orders/{id}': { get: { responses: { 503: { headers: { 'Retry-After': expect.any(Object) } } } } }, '/customers/{id}/orders': expect.any(Object) },
    });
    expect(await get(`${service.url}/healthz`)).toMatchObject({ status: 200 });
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/cdc_read_requests_total\{route="\/orders\/:id",status="404"\} [1-9]/);
    expect(await get(`${service.url}/readyz`)).toMatchObject({ status: 200, body: { store: 'up', redis: 'up' } });
  });

  test('Redis stopped mid-test: the API keeps answering from the store, and uses Redis again once it is back', async () => {
    const port = await freePort();
    let redis = startRedis(port);
    await sleep(300);
    const own = await startReadService({ port: 0, database: env.mongoDatabase, redis: { host: '127.0.0.1', port } }, env.log);
    others.push(own);
    const [o] = await env.sql<{ id: string }>('SELECT id FROM $schema.orders ORDER BY id LIMIT 1');
    const url = `${own.url}/orders/${o?.id}`;
    await eventually(() => get(url), (r) => r.status === 200);
    expect((await get(url)).headers.get('x-cache')).toBe('hit');

    redis.kill('SIGKILL');
    await sleep(200);
    const started = performance.now();
    const during = await get(url);
    expect([during.status, during.headers.get('x-cache')]).toEqual([200, 'miss']);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await get(`${own.url}/readyz`)).toMatchObject({ status: 200, body: { store: 'up', redis: 'down' } });

    redis = startRedis(port);
    try {
      await eventually(async () => (await get(url)).headers.get('x-cache'), (c) => c === 'hit', 15_000);
    } finally {
      redis.kill('SIGKILL');
    }
  });

  test('Redis answering too slowly for the projector: the write is acknowledged only once its stale entry is fenced', async () => {
    const port = await freePort();
    const redis = startRedis(port);
    const admin = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
    try {
      await sleep(300);
      await admin.connect();
      const groupId = randomName('slowcache');
      const database = randomName('slowcache');
      await env.startWorker({ groupId, mongoDatabase: database, redis: { host: '127.0.0.1', port } });
      const own = await startReadService({ port: 0, database, redis: { host: '127.0.0.1', port } }, env.log);
      others.push(own);
      const [o] = (await write('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers LIMIT 1 RETURNING id')).rows;
      const url = `${own.url}/orders/${String(o?.['id'])}`;
      await eventually(() => get(url), (r) => r.status === 200 && r.headers.get('x-cache') === 'hit');

      // Writes (and so every script) wait; reads still get the cached, soon older, entry.
      const pauseMs = 6000;
      await admin.call('CLIENT', 'PAUSE', String(pauseMs), 'WRITE');
      const paused = performance.now();
      const before = await messageCount(env.kafka, [env.topic('orders')]);
      await write("UPDATE $schema.orders SET note = 'after-pause' WHERE id = $1", [o?.['id']]);
      await env.published('orders', before + 1);
      await env.drained(groupId);
      const acknowledgedAfter = performance.now() - paused;
      const read = await get(url);
      expect(read.body['note']).toBe('after-pause');
      // The worker's update times out after 2 s; before the fix the round was acknowledged then, with the old entry still served.
      expect(acknowledgedAfter).toBeGreaterThan(pauseMs - 1000);
    } finally {
      admin.disconnect();
      redis.kill('SIGKILL');
    }
  });

  test('Kafka unreachable: the read API starts and serves reads; read-your-writes answers stale after its bound', async () => {
    const placed = await write("INSERT INTO $schema.orders (customer_id, note) SELECT id, 'no-kafka' FROM $schema.customers ORDER BY id LIMIT 1 RETURNING id");
    const id = Number(placed.rows[0]?.['id']);
    // Projected by the suite's worker first, through a read that waits for it on the real Kafka.
    expect((await get(`${service.url}/orders/${id}`, { 'X-Min-Lsn': placed.lsn, 'X-Max-Wait-Ms': '20000' })).headers.get('x-read-consistency')).toBe('fresh');

    const started = Date.now();
    const own = await startReadService({ port: 0, database: env.mongoDatabase, redis: false, readYourWrites: { groupId: env.groupId, slot: env.slot, topicPrefix: env.topicPrefix, schema: env.schema, kafkaBrokers: [`127.0.0.1:${await freePort()}`] } }, env.log);
    others.push(own);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await get(`${own.url}/readyz`)).toMatchObject({ status: 200, body: { store: 'up', readYourWrites: 'kafka_unavailable' } });
    const plain = await get(`${own.url}/orders/${id}`);
    expect([plain.status, plain.body['note']]).toEqual([200, 'no-kafka']);
    const ryw = await get(`${own.url}/orders/${id}`, { 'X-Min-Lsn': placed.lsn, 'X-Max-Wait-Ms': '300' });
    expect([ryw.status, ryw.headers.get('x-read-consistency'), ryw.body['note']]).toEqual([200, 'stale', 'no-kafka']);
  });

  test('store unreachable: 503 with Retry-After, and not ready', async () => {
    const own = await startReadService({ port: 0, database: env.mongoDatabase, mongoUrl: `mongodb://127.0.0.1:${await freePort()}`, redis: false }, env.log);
    others.push(own);
    const res = await fetch(`${own.url}/orders/1`);
    expect([res.status, res.headers.get('retry-after')]).toEqual([503, '5']);
    expect(await res.json()).toMatchObject({ error: 'store_unavailable' });
    expect((await fetch(`${own.url}/readyz`)).status).toBe(503);
  });
});
