import { replayDeadLetters, showDeadLetters } from '../../pipeline/dlq/dlq.js';
import { deadLetterTopic } from '../../pipeline/engine/dead-letter.js';
import { Projector } from '../../pipeline/engine/projector.js';
import { groupLag, messageCount } from '../../pipeline/kafka/lag.js';
import { readDocument } from '../../pipeline/read/document-reader.js';
import { runLoad } from '../../pipeline/shop/load-generator.js';
import { recordPayment, writeOutboxEvent } from '../../pipeline/shop/outbox.js';
import { DocumentStore, type StoredDoc } from '../../pipeline/store/documents.js';
import { upgradeDocuments } from '../../pipeline/store/upgrade-documents.js';
import { orderViews } from '../../projections/order-views.js';
import { PROJECTIONS } from '../../projections/registry.js';
import { EVENT_TYPES, eventTopic, type EventSpec } from '../../schemas/events/registry.js';
import { legacyPaymentPayload, PAYMENT_VERSIONS } from '../support/legacy-events.js';
import { PREVIOUS_PROJECTIONS } from '../support/previous-release.js';
import { eventually, randomName, ShopEnv } from '../support/shop-env.js';

/**
 * Schema evolution on the real stack: outbox events of every version, a captured table changing
 * shape under load, events newer than the worker, and a rolling upgrade of the document version.
 * Each ends with verify at zero differences.
 */
describe('schema evolution', () => {
  let env: ShopEnv;
  afterEach(async () => env.dispose());

  async function placeOrders(n: number): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const [o] = await env.sql<{ id: string }>('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers ORDER BY id LIMIT 1 OFFSET $1 RETURNING id', [i % 5]);
      await env.sql('INSERT INTO $schema.order_lines (order_id, product_id, quantity, unit_price) SELECT $1, id, 2, price FROM $schema.products ORDER BY id LIMIT 1', [o?.id]);
      ids.push(Number(o?.id));
    }
    return ids;
  }

  async function withClient<T>(run: (client: import('pg').PoolClient) => Promise<T>): Promise<T> {
    const client = await env.pool.connect();
    try {
      return await run(client);
    } finally {
      client.release();
    }
  }

  test('payments of every event version, published through the outbox, fold into order_views live and on a replay; the outbox stays empty', async () => {
    env = new ShopEnv();
    await env.createSchema();
    await env.startConnector();
    await env.startWorker();
    const orders = await placeOrders(4);
    await withClient(async (client) => {
      for (const [i, [kind, version]] of PAYMENT_VERSIONS.entries()) {
        const orderId = orders[i % orders.length] as number;
        await recordPayment(client, env.schema, { orderId, kind, amount: `${10 + i}.25` }, { schemaVersion: version, payload: legacyPaymentPayload(kind, version, { orderId, amount: `${10 + i}.25` }) });
      }
      await recordPayment(client, env.schema, { orderId: orders[0] as number, kind: 'captured', amount: '3.10' });
    });
    const [report] = await env.converged();
    expect(report).toMatchObject({ expected: 4, different: 0 });
    const first = await env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: orders[0] as number });
    expect(first?.['payment']).toMatchObject({ status: 'captured', authorized: '10.25', captured: '17.35' });
    expect(await env.sql('SELECT * FROM $schema.outbox')).toEqual([]);

    // A new group from the earliest offsets reads every version again into a fresh database.
    const database = randomName('replay');
    await env.startWorker({ groupId: `${env.groupId}-replay`, mongoDatabase: database });
    const replayed = await env.converged(90_000, database);
    expect(replayed.map((r) => r.different + r.missing + r.unexpected)).toEqual([0, 0]);
  });

  test('customers splits its name column while the pipeline runs: old and new row shapes project alike, live and on a replay', async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 20, products: 10 }, ['004_customer_name_split.sql']);
    await env.startConnector();
    await env.startWorker();
    await runLoad(env.pool, { schema: env.schema, changes: 300, concurrency: 2, seed: 7 });
    await env.converged();
    expect(await env.migrate()).toEqual(['004_customer_name_split.sql']);
    await runLoad(env.pool, { schema: env.schema, changes: 300, concurrency: 2, seed: 8 });
    const live = await env.converged();
    expect(live.map((r) => r.different + r.missing + r.unexpected)).toEqual([0, 0]);
    const names = await env.db.collection<StoredDoc>('customer_views').find({ _visible: true }).toArray();
    expect(names.every((c) => typeof c['givenName'] === 'string' && c['name'] === (c['familyName'] === '' ? c['givenName'] : `${String(c['givenName'])} ${String(c['familyName'])}`))).toBe(true);

    const database = randomName('replay');
    await env.startWorker({ groupId: `${env.groupId}-replay`, mongoDatabase: database });
    const replayed = await env.converged(90_000, database);
    expect(replayed.map((r) => r.different + r.missing + r.unexpected)).toEqual([0, 0]);
  });

  test('an event newer than the worker is parked without blocking its partition, and projects after the upgrade and a replay', async () => {
    env = new ShopEnv();
    await env.createSchema();
    await env.startConnector();
    const older: Record<string, EventSpec> = { ...EVENT_TYPES, 'payment.captured': { aggregateType: 'order', history: (EVENT_TYPES['payment.captured'] as EventSpec).history.truncated(1) } };
    const oldWorker = await env.startWorker({ events: older });
    const [orderId] = (await placeOrders(1)) as [number];
    await withClient(async (client) => {
      await recordPayment(client, env.schema, { orderId, kind: 'authorized', amount: '20.00' });
      await recordPayment(client, env.schema, { orderId, kind: 'captured', amount: '20.00' }); // v2: newer than the old worker
      // A writer one release ahead: a type nobody knows yet. Parked too, never dropped.
      await client.query('BEGIN');
      await writeOutboxEvent(client, env.schema, { id: '0b9e4c1a-2f7d-4e37-9d6b-6f0f1c0e5a11', aggregateType: 'order', aggregateId: String(orderId), type: 'payment.disputed', schemaVersion: 1, payload: { orderId } });
      await client.query('COMMIT');
      await recordPayment(client, env.schema, { orderId, kind: 'refunded', amount: '5.00' }); // after the parked ones: still projected
    });
    const view = await eventually(() => env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: orderId }), (d) => (d?.['payment'] as { refunded?: string } | undefined)?.refunded === '5.00');
    expect(view?.['payment']).toMatchObject({ authorized: '20.00', captured: '0.00', refunded: '5.00' });
    const dlq = deadLetterTopic(eventTopic(env.topicPrefix, 'order'));
    const letters = await eventually(() => showDeadLetters(env.kafka, dlq, 10), (l) => l.length === 2);
    expect(letters.map((l) => l.kind)).toEqual(['parked', 'parked']);
    expect(letters.map((l) => l.reason).sort()).toEqual([
      expect.stringContaining('event type payment.disputed is unknown to this worker'),
      expect.stringContaining('payment.captured v2 is newer than this worker knows (up to v1)'),
    ]);

    await oldWorker.stop();
    await env.startWorker();
    expect(await replayDeadLetters(env.kafka, dlq, false)).toHaveLength(2);
    // The unknown type, replayed, is still unknown to this build: parked again, not lost.
    await eventually(() => showDeadLetters(env.kafka, dlq, 10), (l) => l.length === 3);
    const [report] = await env.converged();
    expect(report).toMatchObject({ expected: 1, different: 0, missing: 0, unexpected: 0 });
  });

  test('an older worker never overwrites a document a newer one wrote: it backs off and commits nothing, and the newer worker applies the change', async () => {
    env = new ShopEnv();
    await env.createSchema();
    await env.startConnector();
    const ids = await placeOrders(3);
    const newer = await env.startWorker();
    // Converged first: a lag of 0 alone can be read before Debezium has published the orders.
    await env.converged();
    await env.drained();
    await newer.stop();
    const views = env.db.collection<StoredDoc>(orderViews.collection);
    const written = await views.find({ _id: { $in: ids } }).sort({ _id: 1 }).toArray();
    expect(written.map((d) => d['schemaVersion'])).toEqual([2, 2, 2]);

    const older = await env.startWorker({ projections: PREVIOUS_PROJECTIONS });
    const before = await messageCount(env.kafka, [env.topic('orders')]);
    await env.sql("UPDATE $schema.orders SET status = 'paid' WHERE id = ANY($1)", [ids]);
    await env.published('orders', before + ids.length);
    const refusals = /cdc_store_errors_total\{code="DOCUMENT_FROM_NEWER_WORKER"\} ([0-9]+)/;
    await eventually(async () => (await fetch(`${older.metricsUrl}/metrics`)).text(), (text) => Number(refusals.exec(text)?.[1] ?? 0) >= 2);
    // Refused, not written: every document is the newer worker's, untouched, and the offsets stay behind.
    expect((await views.find({ _id: { $in: ids } }).sort({ _id: 1 }).toArray()).map((d) => [d._rev, d['schemaVersion'], d['status']])).toEqual(written.map((d) => [d._rev, 2, 'pending']));
    expect(await groupLag(env.kafka, env.groupId, env.topics())).toBeGreaterThan(0);
    expect((await fetch(`${older.metricsUrl}/readyz`)).status).toBe(200);

    await older.stop();
    await env.startWorker();
    const reports = await env.converged();
    expect(reports.map((r) => r.different + r.missing + r.unexpected)).toEqual([0, 0]);
    expect((await views.find({ _id: { $in: ids } }).toArray()).map((d) => [d['schemaVersion'], d['status']])).toEqual(ids.map(() => [2, 'paid']));
  });

  test('rolling upgrade: old and new workers in one group, readers of both versions, then the store converges to the new version', async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 20, products: 10 });
    await env.startConnector();
    const oldWorker = await env.startWorker({ projections: PREVIOUS_PROJECTIONS });
    await runLoad(env.pool, { schema: env.schema, changes: 200, concurrency: 2, seed: 11 });
    await env.drained();
    expect(await env.db.collection<StoredDoc>(orderViews.collection).countDocuments({ schemaVersion: 2 })).toBe(0);

    // Readers of both releases read every document, every version, throughout the upgrade.
    let reading = true;
    let reads = 0;
    const seen = new Map<string, number>();
    const downgrades: string[] = [];
    const readers = (async () => {
      while (reading) {
        for (let raw of await env.db.collection<StoredDoc>(orderViews.collection).find({ _visible: true }).toArray()) {
          // The local store can return a document mid-replace (two writes mixed); such a read is
          // recognised by `_state.rev` and read again, as the read API does.
          for (let attempt = 0; raw._state.rev !== undefined && raw._state.rev !== raw._rev && attempt < 5; attempt++) {
            raw = (await env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: raw._id })) ?? raw;
          }
          if (raw._visible !== true) continue;
          readDocument(orderViews.documents, 'order_views', raw);
          readDocument(orderViews.documents.truncated(1), 'order_views', raw);
          const version = Number(raw['schemaVersion']);
          if (version < (seen.get(String(raw._id)) ?? 0)) downgrades.push(String(raw._id));
          seen.set(String(raw._id), Math.max(version, seen.get(String(raw._id)) ?? 0));
          reads += 1;
        }
      }
    })();
    const newWorker = await env.startWorker();
    await runLoad(env.pool, { schema: env.schema, changes: 300, concurrency: 2, seed: 12 });
    // Both releases still up and serving their partitions when the old one is retired: no crash.
    for (const w of [oldWorker, newWorker]) expect((await fetch(`${w.metricsUrl}/readyz`)).status).toBe(200);
    await oldWorker.stop(); // the upgrade completes
    await env.drained(env.groupId, undefined, 90_000);
    const store = new DocumentStore(env.db);
    const projector = new Projector(store, PROJECTIONS);
    for (const p of PROJECTIONS) await upgradeDocuments(store, projector, p);
    reading = false;
    await readers;
    expect(reads).toBeGreaterThan(0);
    expect(downgrades).toEqual([]);
    const reports = await env.converged();
    expect(reports.map((r) => r.different + r.missing + r.unexpected)).toEqual([0, 0]);
    for (const p of PROJECTIONS) expect(await env.db.collection<StoredDoc>(p.collection).countDocuments({ schemaVersion: 1 })).toBe(0);
  });
});
