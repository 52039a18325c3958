import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from '../../pipeline/config.js';
import { decodeEvent } from '../../schemas/decode-event.js';
import { customerViewHistory } from '../../schemas/documents/customer-view.js';
import { orderViewHistory } from '../../schemas/documents/order-view.js';
import { EVENT_TYPES, type EventSpec } from '../../schemas/events/registry.js';
import { CustomerRow } from '../../schemas/shop-rows.js';

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'events');

const EventFixture = z.object({
  topic: z.string(),
  timestamp: z.number(),
  key: z.string(),
  value: z.string(),
  headers: z.record(z.string(), z.string()),
});

function fixture(type: string, version: number) {
  return EventFixture.parse(JSON.parse(readFileSync(join(FIXTURES, `${type}.v${version}.json`), 'utf8')));
}

const asRaw = (f: z.infer<typeof EventFixture>, headers: Record<string, string | undefined> = f.headers) => ({ topic: f.topic, key: f.key, value: f.value, headers, timestamp: f.timestamp });

describe('event histories', () => {
  const versions = Object.entries(EVENT_TYPES).flatMap(([type, spec]) => Array.from({ length: spec.history.current }, (_, i) => [type, i + 1] as const));

  test('every version of every event type has a captured fixture (add one with the capture script)', () => {
    const files = new Set(readdirSync(FIXTURES).filter((f) => f.endsWith('.json')));
    const missing = versions.map(([type, v]) => `${type}.v${v}.json`).filter((f) => !files.has(f));
    expect(missing).toEqual([]);
    // and no fixture of a version the registry has forgotten (an upcaster removed too early)
    const known = new Set(versions.map(([type, v]) => `${type}.v${v}.json`));
    expect([...files].filter((f) => !known.has(f))).toEqual([]);
  });

  test.each(versions)('%s v%i from the real stack upcasts to what the current schema accepts', (type, version) => {
    const decoded = decodeEvent(asRaw(fixture(type, version)), EVENT_TYPES);
    expect(decoded.kind).toBe('change');
    if (decoded.kind !== 'change') return;
    const spec = EVENT_TYPES[type] as EventSpec;
    expect(spec.history.currentSchema.safeParse(decoded.change.row).success).toBe(true);
    expect(decoded.change).toMatchObject({ table: type, id: fixture(type, version).headers['id'], op: 'upsert' });
    expect(decoded.change.row).toMatchObject({ orderId: expect.any(Number), amountCents: 1250 });
  });

  test('a version newer than the worker knows is parked with a reason that says what to do', () => {
    const older: Record<string, EventSpec> = { ...EVENT_TYPES, 'payment.authorized': { aggregateType: 'order', history: (EVENT_TYPES['payment.authorized'] as EventSpec).history.truncated(2) } };
    const decoded = decodeEvent(asRaw(fixture('payment.authorized', 3)), older);
    expect(decoded).toEqual({ kind: 'park', reason: expect.stringMatching(/v3 is newer than this worker knows \(up to v2\): upgrade the worker, then replay/) });
    // The older worker still projects what it knows.
    expect(decodeEvent(asRaw(fixture('payment.authorized', 1)), older).kind).toBe('change');
  });

  test('an unknown event type is parked, not rejected', () => {
    const f = fixture('payment.captured', 2);
    expect(decodeEvent(asRaw(f, { ...f.headers, eventType: 'payment.disputed' }), EVENT_TYPES)).toMatchObject({ kind: 'park', reason: expect.stringContaining('payment.disputed is unknown') });
  });

  test('a payload that breaks its own version, or missing headers, is invalid (dead-lettered)', () => {
    const f = fixture('payment.captured', 2);
    expect(decodeEvent({ ...asRaw(f), value: JSON.stringify(JSON.stringify({ orderId: 1, amountCents: -5 })) }, EVENT_TYPES)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('payment.captured v2 invalid: amountCents') });
    expect(decodeEvent(asRaw(f, { id: 'x', eventType: 'payment.captured' }), EVENT_TYPES)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('schemaVersion') });
    expect(decodeEvent({ ...asRaw(f), value: '{' }, EVENT_TYPES).kind).toBe('invalid');
  });
});

describe('document histories', () => {
  test('a v1 order_views document reads as v2, names split and no payments', () => {
    const v1 = {
      schemaVersion: 1, orderId: 1, status: 'paid', currency: 'EUR', note: null, placedAt: new Date(0), updatedAt: new Date(0), customerId: 2,
      customer: { id: 2, name: 'Ada King Lovelace', email: 'a@x', tier: 'gold' }, lines: [], totals: { itemCount: 0, amount: '0.00' },
    };
    const read = orderViewHistory.upcast(1, v1);
    expect(read).toEqual({ ok: true, value: expect.objectContaining({ schemaVersion: 2, customer: expect.objectContaining({ givenName: 'Ada', familyName: 'King Lovelace' }), payment: expect.objectContaining({ status: 'none' }) }) });
  });

  test('a v1 customer_views document reads as v2', () => {
    const v1 = { schemaVersion: 1, customerId: 2, name: 'Ada', email: 'a@x', tier: 'gold', bio: null, orderCount: 0, lifetimeValue: '0.00', lastOrderAt: null };
    expect(customerViewHistory.upcast(1, v1)).toEqual({ ok: true, value: expect.objectContaining({ givenName: 'Ada', familyName: '' }) });
  });

  test('a document of a version this build does not know is reported as such', () => {
    expect(orderViewHistory.upcast(3, {})).toMatchObject({ ok: false, kind: 'future' });
  });
});

describe('customers rows before and after migration 004', () => {
  const common = { id: 1, email: 'a@x', tier: 'gold', created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' };
  test('a one-column name is split like the migration backfill splits it', () => {
    expect(CustomerRow.parse({ ...common, name: 'Grace Brewster Hopper' })).toMatchObject({ given_name: 'Grace', family_name: 'Brewster Hopper' });
    expect(CustomerRow.parse({ ...common, name: 'Cher' })).toMatchObject({ given_name: 'Cher', family_name: '' });
  });
  test('the new columns win, also in the backfill event that carries all three', () => {
    expect(CustomerRow.parse({ ...common, name: 'A B', given_name: 'A', family_name: 'B' })).toMatchObject({ given_name: 'A', family_name: 'B' });
    expect(CustomerRow.parse({ ...common, given_name: 'Ada', family_name: 'Lovelace' })).not.toHaveProperty('name');
  });
});
