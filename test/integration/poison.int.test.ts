import { setTimeout as sleep } from 'node:timers/promises';
import { showDeadLetters, type DeadLetter } from '../../pipeline/dlq/dlq.js';
import { deadLetterTopic } from '../../pipeline/engine/dead-letter.js';
import { prng, runLoad } from '../../pipeline/shop/load-generator.js';
import { writeOutboxEvent } from '../../pipeline/shop/outbox.js';
import { PROJECTIONS } from '../../projections/registry.js';
import type { Projection } from '../../projections/types.js';
import { liveRows } from '../../projections/fold.js';
import { slotKey } from '../../projections/types.js';
import { eventTopic } from '../../schemas/events/registry.js';
import { loadFixture } from '../support/fixtures.js';
import { eventually, ShopEnv } from '../support/shop-env.js';

/**
 * A projection shipped with bugs: it throws on customers whose email starts with `throws-`
 * (`everything`: on every customer, a bad release) and renders a document over the store's size
 * limit for `huge-`. It comes after the real projections, so what they hold still converges.
 */
function throwingProjection(everything = false): Projection {
  return {
    name: 'poison_probe',
    collection: 'poison_probe',
    schemaVersion: 1,
    documents: PROJECTIONS[1]?.documents as Projection['documents'],
    sources: {
      customers: (c) => [
        {
          docId: Number(c.id),
          slot: slotKey('customers', c.id),
          row: c.op === 'delete' ? null : c.row,
          position: c.position,
          unavailable: c.unavailable,
        },
      ],
    },
    references: {},
    derivedFrom: [],
    referencesOf: () => [],
    render(_id, state) {
      const [customer] = liveRows(state, 'customers') as { email: string }[];
      if (customer === undefined) return null;
      if (everything || customer.email.startsWith('throws-'))
        throw new TypeError(`cannot render customer ${customer.email}`);
      // Over the store's 16 MiB document limit: the store refuses it.
      if (customer.email.startsWith('huge-'))
        return { schemaVersion: 1, email: customer.email, padding: 'x'.repeat(17 * 1024 * 1024) };
      return { schemaVersion: 1, email: customer.email };
    },
  };
}

/** Per partition of the group's topics, the longest time its committed offset stood still with records behind it. */
function stallMonitor(env: ShopEnv, topics: string[]): { stop: () => Promise<number> } {
  let running = true;
  let worst = 0;
  const since = new Map<string, { offset: number; at: number }>();
  const loop = (async () => {
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      while (running) {
        const committed = await admin.fetchOffsets({ groupId: env.groupId, topics }).catch(() => []);
        for (const t of committed) {
          const ends = new Map(
            (await admin.fetchTopicOffsets(t.topic).catch(() => [])).map((p) => [p.partition, Number(p.high)]),
          );
          for (const p of t.partitions) {
            const key = `${t.topic}/${p.partition}`;
            const offset = Number(p.offset);
            const behind = (ends.get(p.partition) ?? 0) > Math.max(offset, 0);
            const seen = since.get(key);
            if (seen === undefined || seen.offset !== offset || !behind) since.set(key, { offset, at: Date.now() });
            else worst = Math.max(worst, Date.now() - seen.at);
          }
        }
        await sleep(1000);
      }
    } finally {
      await admin.disconnect();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return worst;
    },
  };
}

async function allDeadLetters(env: ShopEnv): Promise<DeadLetter[]> {
  const topics = [
    ...['customers', 'products', 'orders', 'order_lines'].map((t) => deadLetterTopic(env.topic(t))),
    deadLetterTopic(eventTopic(env.topicPrefix, 'order')),
  ];
  return (await Promise.all(topics.map((t) => showDeadLetters(env.kafka, t, 100_000)))).flat();
}

describe('poison', () => {
  let env: ShopEnv;
  afterEach(async () => env.dispose());

  test('a flood of 1,000 poison records of 15 kinds (names the outbox refuses sent straight to the event topic) mixed into live load: each is parked once with its reason, no partition stalls, verify is clean', async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 40, products: 20 });
    await env.startConnector();
    await env.startWorker({ projections: [...PROJECTIONS, throwingProjection()] });

    const random = prng(21);
    const orderInsert = loadFixture('orders-insert');
    const value = orderInsert.value as { source: Record<string, unknown>; after: Record<string, unknown> };
    const withSource = (source: Record<string, unknown>) =>
      JSON.stringify({ ...value, source: { ...value.source, ...source } });
    // Kind name -> how to make one, and the reason it must be parked with.
    const kafkaKinds: Record<string, { make: (i: number) => { key: string; value: string }; reason: RegExp }> = {
      'value not JSON': {
        make: (i) => ({ key: `{"id": ${900_000 + i}}`, value: '{"op": "c", "after": ' }),
        reason: /value is not JSON/,
      },
      'key of the wrong shape': {
        make: (i) => ({ key: `{"uuid": "k${i}"}`, value: withSource({}) }),
        reason: /key is not/,
      },
      'table constructor': {
        make: (i) => ({ key: `{"id": ${900_000 + i}}`, value: withSource({ table: 'constructor' }) }),
        reason: /no projection reads table .*constructor/,
      },
      'table __proto__': {
        make: (i) => ({ key: `{"id": ${900_000 + i}}`, value: withSource({ table: '__proto__' }) }),
        reason: /no projection reads table .*__proto__/,
      },
      'table toString': {
        make: (i) => ({ key: `{"id": ${900_000 + i}}`, value: withSource({ table: 'toString' }) }),
        reason: /no projection reads table .*toString/,
      },
      'no source position': {
        make: (i) => ({ key: `{"id": ${900_000 + i}}`, value: withSource({ lsn: null }) }),
        reason: /no source.lsn/,
      },
      'row of the wrong type': {
        make: (i) => ({
          key: `{"id": ${900_000 + i}}`,
          value: JSON.stringify({ ...value, after: { ...value.after, id: 900_000 + i, customer_id: 'x' } }),
        }),
        reason: /after of orders invalid/,
      },
    };
    // The outbox refuses these type names (migration 007); a client that may produce to the event
    // topic can still send them.
    const eventKinds: Record<string, { type: string; reason: RegExp }> = {
      'type __proto__': { type: '__proto__', reason: /event type __proto__ is unknown/ },
      'type toString': { type: 'toString', reason: /event type toString is unknown/ },
    };
    const outboxKinds: Record<
      string,
      { type: string; schemaVersion: number; payload: (i: number) => unknown; reason: RegExp }
    > = {
      'type constructor': {
        type: 'constructor',
        schemaVersion: 1,
        payload: () => ({}),
        reason: /event type constructor is unknown/,
      },
      'amount 1.005': {
        type: 'payment.authorized',
        schemaVersion: 1,
        payload: (i) => ({ order_id: i, amount: '1.005' }),
        reason: /cannot be upcast .*1\.005 has more than 2 decimal places/,
      },
      'version from the future': {
        type: 'payment.captured',
        schemaVersion: 9,
        payload: (i) => ({ orderId: i, amount: '1.00' }),
        reason: /payment.captured v9 is newer than this worker knows/,
      },
      'payload of the wrong shape': {
        type: 'payment.refunded',
        schemaVersion: 1,
        payload: (i) => ({ orderId: i, amountCents: 'lots', reason: 'x' }),
        reason: /payment.refunded v1 invalid/,
      },
    };
    const throwingCustomers = 40;
    const hugeCustomers = 3;
    const perKind = Math.floor(
      (1000 - throwingCustomers - hugeCustomers) /
        (Object.keys(kafkaKinds).length + Object.keys(eventKinds).length + Object.keys(outboxKinds).length),
    );
    const plan: string[] = [];
    for (const kind of [...Object.keys(kafkaKinds), ...Object.keys(eventKinds), ...Object.keys(outboxKinds)])
      for (let i = 0; i < perKind; i++) plan.push(kind);
    while (plan.length < 1000 - throwingCustomers - hugeCustomers) plan.push('value not JSON');
    for (let i = 0; i < throwingCustomers; i++) plan.push('projection throws');
    for (let i = 0; i < hugeCustomers; i++) plan.push('document too large');
    // Interleaved at random: a burst of one kind is what the poison guard is for.
    for (let i = plan.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [plan[i], plan[j]] = [plan[j] as string, plan[i] as string];
    }

    // The outbox itself refuses names that are not plain dotted lower-case.
    for (const type of ['__proto__', 'toString', 'payment.authorized; drop']) {
      await expect(
        env.sql(
          `INSERT INTO $schema.outbox (id, aggregatetype, aggregateid, type, schema_version, payload) VALUES (gen_random_uuid(), 'order', '1', $1, 1, '{}')`,
          [type],
        ),
      ).rejects.toThrow(/outbox_type_safe/);
    }
    await expect(
      env.sql(
        `INSERT INTO $schema.outbox (id, aggregatetype, aggregateid, type, schema_version, payload) VALUES (gen_random_uuid(), 'Order.X', '1', 'x', 1, '{}')`,
      ),
    ).rejects.toThrow(/outbox_aggregatetype_safe/);

    const topics = env.topics();
    const stalls = stallMonitor(env, topics);
    const load = runLoad(env.pool, { schema: env.schema, rate: 150, durationS: 25, concurrency: 2, seed: 3 });
    const producer = env.kafka.producer();
    await producer.connect();
    const client = await env.pool.connect();
    try {
      for (const [i, kind] of plan.entries()) {
        const k = kafkaKinds[kind];
        const e = eventKinds[kind];
        const o = outboxKinds[kind];
        if (e !== undefined) {
          const headers = { id: `poison-${i}`, eventType: e.type, schemaVersion: '1' };
          await producer.send({
            topic: eventTopic(env.topicPrefix, 'order'),
            messages: [{ key: String(i), value: JSON.stringify('{}'), headers }],
          });
        } else if (k !== undefined) {
          await producer.send({
            topic: env.topic(['orders', 'customers', 'products'][i % 3] as string),
            messages: [k.make(i)],
          });
        } else if (o !== undefined) {
          await client.query('BEGIN');
          await writeOutboxEvent(client, env.schema, {
            id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
            aggregateType: 'order',
            aggregateId: String(i),
            type: o.type,
            schemaVersion: o.schemaVersion,
            payload: o.payload(i),
          });
          await client.query('COMMIT');
        } else {
          const email = kind === 'document too large' ? `huge-${i}@example.com` : `throws-${i}@example.com`;
          await client.query(
            `INSERT INTO "${env.schema}".customers (email, given_name, family_name, tier) VALUES ($1, 'Poi', 'Son', 'standard')`,
            [email],
          );
        }
        if (i % 50 === 49) await sleep(400);
      }
    } finally {
      client.release();
      await producer.disconnect();
    }
    await load;

    const reports = await env.converged(180_000);
    expect(reports.map((r) => r.different + r.missing + r.unexpected)).toEqual([0, 0]);
    const letters = await eventually(
      () => allDeadLetters(env),
      (l) => l.length >= 1000,
      120_000,
    );
    await env.drained();
    expect(await stalls.stop()).toBeLessThan(30_000);

    // Each parked once, and each with the reason of its kind.
    const coordinates = letters.map((l) => `${l.originalTopic}/${l.originalPartition}/${l.originalOffset}`);
    expect(new Set(coordinates).size).toBe(letters.length);
    expect(letters).toHaveLength(1000);
    const counts = new Map<string, number>();
    for (const letter of letters) {
      const kind = /^projection failed on customers .*cannot render customer throws-/.test(letter.reason)
        ? 'projection throws'
        : /^projection failed on customers .*(larger than|too large|exceeds|size)/i.test(letter.reason)
          ? 'document too large'
          : [...Object.entries(kafkaKinds), ...Object.entries(eventKinds), ...Object.entries(outboxKinds)].find(
              ([, k]) => k.reason.test(letter.reason),
            )?.[0];
      expect(kind).toBeDefined();
      counts.set(kind as string, (counts.get(kind as string) ?? 0) + 1);
    }
    const expected = new Map<string, number>();
    for (const kind of plan) expected.set(kind, (expected.get(kind) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(expected));
    expect(letters.filter((l) => /is unknown|is newer/.test(l.reason)).every((l) => l.kind === 'parked')).toBe(true);
    expect(letters.filter((l) => !/is unknown|is newer/.test(l.reason)).every((l) => l.kind === 'invalid')).toBe(true);
  }, 420_000);

  test('when most records fail alike (a bad release), the worker stops consuming, turns unready naming the cause, and a fixed worker resumes where it stopped', async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 5, products: 5 });
    await env.startConnector();
    const bad = await env.startWorker({
      projections: [...PROJECTIONS, throwingProjection(true)],
      poisonGuard: { window: 40, share: 0.5 },
    });
    for (let i = 0; i < 200; i++)
      await env.sql(
        `INSERT INTO $schema.customers (email, given_name, family_name, tier) VALUES ($1, 'A', 'B', 'standard')`,
        [`c${i}@example.com`],
      );

    const ready = await eventually(
      async () => {
        const res = await fetch(`${bad.metricsUrl ?? ''}/readyz`);
        return { status: res.status, body: (await res.json()) as { checks: { consumer: string } } };
      },
      (r) => r.status === 503 && r.body.checks.consumer.startsWith('poison_guard'),
      90_000,
    );
    expect(ready.body.checks.consumer).toMatch(
      /20 of the last 40 records failed alike: projection failed on customers \d+: cannot render customer/,
    );
    const metrics = await (await fetch(`${bad.metricsUrl ?? ''}/metrics`)).text();
    expect(metrics).toMatch(/^cdc_consumer_halted 1$/m);
    // Parked before the guard tripped: the 5 seeded customers (their emails fail alike among
    // themselves, not with the inserted ones) and fewer than the threshold of the rest, left unread.
    const parked = await showDeadLetters(env.kafka, deadLetterTopic(env.topic('customers')), 1000);
    expect(parked.length).toBeLessThanOrEqual(5 + 19);
    await sleep(2000);
    expect((await showDeadLetters(env.kafka, deadLetterTopic(env.topic('customers')), 1000)).length).toBe(
      parked.length,
    );

    await bad.stop();
    await env.startWorker();
    const [, customers] = await env.converged(120_000);
    expect(customers).toMatchObject({ different: 0, missing: 0, unexpected: 0 });
    expect(customers?.expected).toBeGreaterThanOrEqual(205);
  }, 300_000);
});
