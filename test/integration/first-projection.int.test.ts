import { orderViews } from '../../projections/order-views.js';
import type { StoredDoc } from '../../pipeline/store/documents.js';
import { runWorker, type RunningWorker } from '../../pipeline/worker/run-worker.js';
import { eventually, ShopEnv } from '../support/shop-env.js';

/**
 * The whole pipeline on the real stack: Postgres → Debezium (Kafka Connect) → Kafka → the
 * projector → the document store.
 */
describe('orders flow from Postgres into order_views', () => {
  const env = new ShopEnv();
  let worker: RunningWorker;

  beforeAll(async () => {
    await env.createSchema();
    await env.startConnector();
    worker = await runWorker({ topicPrefix: env.topicPrefix, schema: env.schema, groupId: env.groupId, mongoDatabase: env.mongoDatabase }, env.log);
  });

  afterAll(async () => {
    await worker?.stop();
    await env.dispose();
  });

  const view = (id: number) => env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: id, _visible: true });

  test('an inserted order appears as a document, an update changes it, a delete hides it', async () => {
    const [customer] = await env.sql<{ id: string; name: string }>("SELECT id, given_name || ' ' || family_name AS name FROM $schema.customers ORDER BY id LIMIT 1");
    const [order] = await env.sql<{ id: string }>("INSERT INTO $schema.orders (customer_id, note) VALUES ($1, 'gift wrap') RETURNING id", [customer?.id]);
    const id = Number(order?.id);

    const inserted = await eventually(() => view(id), (d) => d !== null);
    expect(inserted).toMatchObject({ orderId: id, customerId: Number(customer?.id), status: 'pending', currency: 'EUR', note: 'gift wrap', schemaVersion: 2 });
    expect(inserted?.['placedAt']).toBeInstanceOf(Date);

    await env.sql("UPDATE $schema.orders SET status = 'paid', note = NULL WHERE id = $1", [id]);
    const updated = await eventually(() => view(id), (d) => d?.['status'] === 'paid');
    expect(updated).toMatchObject({ status: 'paid', note: null, customer: { name: customer?.name } });

    await env.sql('DELETE FROM $schema.orders WHERE id = $1', [id]);
    await eventually(() => view(id), (d) => d === null);
  });

  test('a multi-row transaction projects every order it wrote', async () => {
    const client = await env.pool.connect();
    const ids: number[] = [];
    try {
      await client.query('BEGIN');
      for (let i = 0; i < 20; i++) {
        const r = await client.query<{ id: string }>(`INSERT INTO "${env.schema}".orders (customer_id, status) SELECT id, 'paid' FROM "${env.schema}".customers ORDER BY id LIMIT 1 RETURNING id`);
        ids.push(Number(r.rows[0]?.id));
      }
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const count = await eventually(() => env.db.collection<StoredDoc>(orderViews.collection).countDocuments({ _id: { $in: ids }, _visible: true }), (n) => n === ids.length);
    expect(count).toBe(20);
  });
});
