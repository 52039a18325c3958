import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../pipeline/config.js';
import { failureSignature, PoisonGuard } from '../../pipeline/engine/poison-guard.js';
import { decodeChange, type RawMessage } from '../../schemas/decode-change.js';
import { decodeEvent } from '../../schemas/decode-event.js';
import { EVENT_TYPES } from '../../schemas/events/registry.js';
import { SHOP_TABLES } from '../../schemas/shop-rows.js';
import { loadFixture } from '../support/fixtures.js';

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

function authorizedV1(amount: string, type = 'payment.authorized'): RawMessage {
  const f = JSON.parse(
    readFileSync(join(PROJECT_ROOT, 'test', 'fixtures', 'events', 'payment.authorized.v1.json'), 'utf8'),
  ) as { topic: string; key: string; headers: Record<string, string>; timestamp: number };
  return {
    topic: f.topic,
    key: f.key,
    value: JSON.stringify(JSON.stringify({ order_id: 7, amount })),
    headers: { ...f.headers, eventType: type, schemaVersion: '1' },
    timestamp: f.timestamp,
  };
}

describe('names from the data never reach a prototype', () => {
  test.each(PROTOTYPE_NAMES)('an outbox event of type %s is parked as unknown, not crashed on', (type) => {
    expect(decodeEvent(authorizedV1('1.00', type), EVENT_TYPES)).toEqual({
      kind: 'park',
      reason: expect.stringContaining(`event type ${type} is unknown to this worker`),
    });
  });

  test.each(PROTOTYPE_NAMES)('a change of a table named %s is invalid, not crashed on', (table) => {
    const f = loadFixture('orders-insert');
    const value = f.value as { source: Record<string, unknown> };
    const message = {
      topic: f.topic,
      key: JSON.stringify(f.key),
      value: JSON.stringify({ ...value, source: { ...value.source, table } }),
    };
    expect(decodeChange(message, SHOP_TABLES)).toEqual({
      kind: 'invalid',
      reason: expect.stringContaining(`no projection reads table`),
    });
  });
});

describe('an upcaster that throws poisons its event only', () => {
  test('payment.authorized v1 with an amount of more than two decimals is invalid with the reason', () => {
    expect(decodeEvent(authorizedV1('1.005'), EVENT_TYPES)).toEqual({
      kind: 'invalid',
      reason: 'payment.authorized v1 cannot be upcast to v3: 1.005 has more than 2 decimal places',
    });
  });

  test('the same event with a valid amount still upcasts', () => {
    expect(decodeEvent(authorizedV1('1.50'), EVENT_TYPES)).toMatchObject({
      kind: 'change',
      change: { row: { orderId: 7, amountCents: 150, method: 'unknown' } },
    });
  });
});

describe('the poison guard', () => {
  test('single poison records among good ones never trip it', () => {
    const guard = new PoisonGuard({ window: 100, share: 0.5 });
    for (let i = 0; i < 1000; i++) {
      guard.passed(3);
      expect(guard.wouldTrip(`row ${i} invalid: id: expected number`)).toBeUndefined();
    }
  });

  test('failures of many different causes do not trip it either', () => {
    const guard = new PoisonGuard({ window: 10, share: 0.5 });
    for (let i = 0; i < 100; i++)
      expect(guard.wouldTrip(`cause ${String.fromCharCode(97 + (i % 10))}`)).toBeUndefined();
  });

  test('one cause failing half of the window trips it, naming the cause and counting the tripping record out', () => {
    const guard = new PoisonGuard({ window: 100, share: 0.5 });
    guard.passed(100);
    for (let i = 0; i < 49; i++)
      expect(guard.wouldTrip(`projection failed on orders ${i}: boom at line ${i}`)).toBeUndefined();
    expect(guard.wouldTrip('projection failed on orders 77: boom at line 77')).toEqual({
      cause: 'projection failed on orders 77: boom at line 77',
      failed: 50,
      window: 100,
    });
  });

  test('old failures leave the window as records pass', () => {
    const guard = new PoisonGuard({ window: 10, share: 0.5 });
    for (let i = 0; i < 4; i++) expect(guard.wouldTrip('same')).toBeUndefined();
    guard.passed(10);
    for (let i = 0; i < 4; i++) expect(guard.wouldTrip('same')).toBeUndefined();
    expect(guard.wouldTrip('same')).toBeDefined();
  });

  test('a signature ignores numbers and quoted values', () => {
    expect(failureSignature('order 12 "abc" is 1.005')).toBe(failureSignature("order 9 'x' is 3.1"));
    expect(failureSignature('order 12 is bad')).not.toBe(failureSignature('line 12 is bad'));
  });

  test('settings out of range are refused', () => {
    expect(() => new PoisonGuard({ window: 0, share: 0.5 })).toThrow(RangeError);
    expect(() => new PoisonGuard({ window: 10, share: 0 })).toThrow(RangeError);
  });
});
