import { orderViews } from '../../projections/order-views.js';
import { customerViews } from '../../projections/customer-views.js';
import type { StoredDoc } from '../../pipeline/store/documents.js';
import { toastableText } from '../../pipeline/shop/load-generator.js';
import { eventually, ShopEnv } from '../support/shop-env.js';

/**
 * Convergence on the real stack: whatever order and however often Kafka delivers, the store ends
 * equal to what Postgres says (verify at zero differences).
 */
describe('projections converge', () => {
  let env: ShopEnv;

  beforeEach(async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 10, products: 10 });
    await env.startConnector();
  });
  afterEach(async () => env.dispose());

  async function placeOrders(n: number, linesEach = 2): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const [o] = await env.sql<{ id: string }>('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers ORDER BY random() LIMIT 1 RETURNING id');
      const id = Number(o?.id);
      for (let l = 0; l < linesEach; l++) {
        await env.sql('INSERT INTO $schema.order_lines (order_id, product_id, quantity, unit_price) SELECT $1, id, $2, price FROM $schema.products ORDER BY random() LIMIT 1', [id, 1 + l]);
      }
      ids.push(id);
    }
    return ids;
  }

  const revisions = async (collection: string) =>
    new Map((await env.db.collection<StoredDoc>(collection).find({}, { projection: { _rev: 1 } }).toArray()).map((d) => [String(d._id), d._rev]));

  test('the same offsets consumed twice change nothing', async () => {
    await placeOrders(15);
    await env.sql("UPDATE $schema.orders SET status = 'paid' WHERE id % 2 = 0");
    await env.sql("UPDATE $schema.customers SET family_name = family_name || ' Jr.' WHERE id % 3 = 0");
    const first = await env.startWorker();
    await env.converged();
    await env.drained();
    await first.stop();
    const before = { orders: await revisions(orderViews.collection), customers: await revisions(customerViews.collection) };

    // A second group reads every topic again from offset 0: every event is now a duplicate.
    const again = await env.startWorker({ groupId: `${env.groupId}-again` });
    await env.drained(`${env.groupId}-again`);
    await again.stop();
    await env.converged();
    expect(await revisions(orderViews.collection)).toEqual(before.orders);
    expect(await revisions(customerViews.collection)).toEqual(before.customers);
  });

  test('lines, customers and products read before the orders they belong to still converge', async () => {
    await placeOrders(10, 3);
    await env.sql("UPDATE $schema.customers SET tier = 'gold' WHERE id % 2 = 1");
    await env.sql("UPDATE $schema.products SET name = name || ' v2'");
    await env.published('order_lines', 30);
    await env.published('products', 20);
    await env.published('customers', 15);
    // First everything but the orders topic, to the end.
    const early = await env.startWorker({ groupId: `${env.groupId}-early`, tables: ['order_lines', 'customers', 'products'] });
    await env.drained(`${env.groupId}-early`, ['order_lines', 'customers', 'products']);
    await early.stop();
    expect(await env.db.collection<StoredDoc>(orderViews.collection).countDocuments({ _visible: true })).toBe(0);
    expect(await env.db.collection<StoredDoc>(orderViews.collection).countDocuments({})).toBe(10);
    // Then the orders, with everything else delivered a second time.
    await env.startWorker();
    const [report] = await env.converged();
    expect(report?.expected).toBe(10);
  });

  test('a delete followed by a late update of the same order does not resurrect it', async () => {
    const worker = await env.startWorker();
    const [id] = await placeOrders(1);
    await env.sql("UPDATE $schema.orders SET status = 'paid' WHERE id = $1", [id]);
    await env.converged();
    await env.drained();
    await worker.stop();

    // Capture the update event as Debezium wrote it, then delete the order.
    const late = await readEvents(env, 'orders', (v) => v?.op === 'u' && v.after?.id === id);
    const lateLine = await readEvents(env, 'order_lines', (v) => v?.op === 'c' && v.after?.order_id === id);
    await env.sql('DELETE FROM $schema.orders WHERE id = $1', [id]);
    await env.startWorker();
    await eventually(() => env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: id as number }), (d) => d?._visible === false);
    await env.drained();

    // The old update and line insert arrive again, after the delete (a redelivery, a replay).
    const producer = env.kafka.producer();
    await producer.connect();
    await producer.send({ topic: env.topic('orders'), messages: [late] });
    await producer.send({ topic: env.topic('order_lines'), messages: [lateLine] });
    await producer.disconnect();
    await env.drained();
    const doc = await env.db.collection<StoredDoc>(orderViews.collection).findOne({ _id: id as number });
    expect(doc?._visible).toBe(false);
    await env.converged();
  });

  test('an update that leaves a TOASTed column untouched keeps its value in the projection', async () => {
    const bio = toastableText(9000);
    const [c] = await env.sql<{ id: string }>("INSERT INTO $schema.customers (given_name, family_name, email, bio) VALUES ('Toast', 'Tester', 'toast@example.com', $1) RETURNING id", [bio]);
    const id = Number(c?.id);
    await env.sql("UPDATE $schema.customers SET family_name = 'Renamed' WHERE id = $1", [id]);
    await env.startWorker();
    const view = await eventually(() => env.db.collection<StoredDoc>(customerViews.collection).findOne({ _id: id }), (d) => d?.['name'] === 'Toast Renamed');
    expect(view?.['bio']).toBe(bio);
    // The test exercises the placeholder: Debezium really sent it for the unchanged bio.
    const update = await readEvents(env, 'customers', (v) => v?.op === 'u' && v.after?.id === id);
    expect(JSON.parse(String(update.value)).after.bio).toBe('__debezium_unavailable_value');
    await env.converged();
  });

  test('a customer renamed while orders embedding it are being created reaches every order', async () => {
    await env.startWorker();
    await env.startWorker();
    const [customer] = await env.sql<{ id: string }>('SELECT id FROM $schema.customers ORDER BY id LIMIT 1');
    const renames = (async () => {
      for (let i = 0; i < 40; i++) await env.sql('UPDATE $schema.customers SET family_name = $1 WHERE id = $2', [`Racer ${i}`, customer?.id]);
    })();
    const orders = (async () => {
      for (let i = 0; i < 40; i++) {
        const [o] = await env.sql<{ id: string }>('INSERT INTO $schema.orders (customer_id) VALUES ($1) RETURNING id', [customer?.id]);
        await env.sql('INSERT INTO $schema.order_lines (order_id, product_id, quantity, unit_price) SELECT $1, id, 1, price FROM $schema.products ORDER BY id LIMIT 1', [o?.id]);
      }
    })();
    await Promise.all([renames, orders]);
    const [report] = await env.converged();
    expect(report?.expected).toBe(40);
    const names = await env.db.collection<StoredDoc>(orderViews.collection).distinct('customer.familyName', { _visible: true });
    expect(names).toEqual(['Racer 39']);
  });
});

/** Reads a topic from the start and returns the first record whose value matches, as it was. */
async function readEvents(env: ShopEnv, table: string, match: (value: { op?: string; after?: Record<string, unknown> } | null) => boolean) {
  const consumer = env.kafka.consumer({ groupId: `${env.name}-reader-${Math.random().toString(16).slice(2)}` });
  await consumer.connect();
  await consumer.subscribe({ topic: env.topic(table), fromBeginning: true });
  const found = await new Promise<{ key: Buffer | null; value: Buffer | null }>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const value = message.value === null ? null : (JSON.parse(message.value.toString()) as { op?: string; after?: Record<string, unknown> });
        if (match(value)) resolve({ key: message.key, value: message.value });
      },
    });
  });
  await consumer.disconnect();
  return found;
}
