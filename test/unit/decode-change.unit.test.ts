import { SHOP_TABLES } from '../../schemas/shop-rows.js';
import { decodeChange, type Decoded, type RawMessage } from '../../schemas/decode-change.js';
import { loadFixture } from '../support/fixtures.js';

function raw(name: string, overrides: Partial<RawMessage> = {}): RawMessage {
  const f = loadFixture(name);
  return { topic: f.topic, key: JSON.stringify(f.key), value: f.value === null ? null : JSON.stringify(f.value), ...overrides };
}

function change(decoded: Decoded) {
  if (decoded.kind !== 'change') throw new Error(`expected a change, got ${JSON.stringify(decoded)}`);
  return decoded.change;
}

describe('decoding captured Debezium events', () => {
  test('an insert becomes an upsert at the event LSN, with the row validated', () => {
    const f = loadFixture('orders-insert');
    const c = change(decodeChange(raw('orders-insert'), SHOP_TABLES));
    const v = f.value as { after: { id: number }; source: { lsn: number; ts_ms: number; txId: number } };
    expect(c).toMatchObject({ table: 'orders', id: String(v.after.id), op: 'upsert', position: v.source.lsn, sourceTsMs: v.source.ts_ms, txId: v.source.txId, snapshot: false, unavailable: [] });
    expect(c.row).toMatchObject({ id: v.after.id, status: 'pending' });
  });

  test('a snapshot read is an ordinary upsert, flagged as snapshot', () => {
    expect(change(decodeChange(raw('customers-snapshot-read'), SHOP_TABLES))).toMatchObject({ op: 'upsert', snapshot: true });
  });

  test("an incremental snapshot's read (lsn null) is guarded by the position its window closed at", () => {
    // Debezium 3.6.1 on this stack writes incremental reads with lsn null and sequence ["<commit>", "<lsn>"].
    const f = loadFixture('customers-snapshot-read');
    const v = f.value as { source: Record<string, unknown> };
    const incremental = { ...v, source: { ...v.source, snapshot: 'incremental', lsn: null, sequence: '["1256788320","1256788664"]' } };
    const c = change(decodeChange(raw('customers-snapshot-read', { value: JSON.stringify(incremental) }), SHOP_TABLES));
    expect(c).toMatchObject({ op: 'upsert', snapshot: true, position: 1256788664 });
    const noPosition = { ...incremental, source: { ...incremental.source, sequence: null } };
    expect(decodeChange(raw('customers-snapshot-read', { value: JSON.stringify(noPosition) }), SHOP_TABLES)).toMatchObject({ kind: 'invalid', reason: 'change event has no source.lsn' });
  });

  test('the TOAST placeholder is taken out of the row and named as unavailable', () => {
    const c = change(decodeChange(raw('customers-update-toast-unchanged'), SHOP_TABLES));
    expect(c.unavailable).toEqual(['bio']);
    expect(c.row).not.toHaveProperty('bio');
    expect(JSON.stringify(c.row)).not.toContain('__debezium_unavailable_value');
  });

  test("a DEFAULT-identity delete keeps only the key: the before image's placeholder defaults are not trusted", () => {
    const c = change(decodeChange(raw('orders-delete'), SHOP_TABLES));
    expect(c).toMatchObject({ op: 'delete', id: String((loadFixture('orders-delete').key as { id: number }).id), row: null, before: null });
  });

  test('a FULL-identity delete carries the real old row, so a line can be routed to its order', () => {
    const c = change(decodeChange(raw('order-lines-delete'), SHOP_TABLES));
    expect(c.op).toBe('delete');
    expect(c.before).toMatchObject({ order_id: expect.any(Number) });
    expect((c.before as { order_id: number }).order_id).toBeGreaterThan(0);
  });

  test('jsonb arrives as a string and is parsed, with keys that could become Mongo paths escaped', () => {
    const products = decodeChange(raw('products-insert', { value: JSON.stringify({ ...(loadFixture('products-insert').value as object), after: { ...(loadFixture('products-insert').value as { after: object }).after, name: 'Widget' } }) }), SHOP_TABLES);
    expect(change(products).row?.['attributes']).toEqual({ tags: ['new', 'sale'], 'weight%2Ekg': 1.5 });
  });

  test('tombstones and heartbeats are skipped, not errors', () => {
    expect(decodeChange(raw('orders-tombstone'), SHOP_TABLES)).toEqual({ kind: 'skip', why: 'tombstone' });
    expect(decodeChange(raw('heartbeat'), SHOP_TABLES)).toEqual({ kind: 'skip', why: 'heartbeat' });
  });

  test.each([
    ['a value that is not JSON', { value: '{nope' }, /value is not JSON/],
    ['a missing key', { key: null }, /no key/],
    ['a key of another shape', { key: '{"sku": 1}' }, /key is not/],
    ['an event that is not a Debezium envelope', { value: '{"hello": 1}' }, /not a Debezium change event/],
    ['a row image that is not an object', { value: JSON.stringify({ ...(loadFixture('orders-insert').value as object), after: [1, 2] }) }, /not a Debezium change event: after: expected a row object/],
    ['a row that breaks the table schema', { value: JSON.stringify({ ...(loadFixture('orders-insert').value as object), after: { id: 1 } }) }, /after of orders invalid: customer_id/],
  ])('%s is invalid, with a reason for the dead-letter header', (_what, overrides, reason) => {
    const decoded = decodeChange(raw('orders-insert', overrides as Partial<RawMessage>), SHOP_TABLES);
    expect(decoded.kind).toBe('invalid');
    if (decoded.kind === 'invalid') expect(decoded.reason).toMatch(reason);
  });
});
