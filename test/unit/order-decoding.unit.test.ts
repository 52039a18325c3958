import { PipelineError } from '../../pipeline/errors.js';
import { decodeOrderMessage } from '../../pipeline/worker/order-views-worker.js';
import { asMessage, loadFixture } from '../support/fixtures.js';

function decodeError(message: Parameters<typeof decodeOrderMessage>[0]): PipelineError {
  try {
    decodeOrderMessage(message);
  } catch (err) {
    if (err instanceof PipelineError) return err;
    throw err;
  }
  throw new Error('expected decoding to fail');
}

describe('decoding real Debezium events of shop.orders', () => {
  test('an insert becomes an upsert of the order document, guarded by the change LSN', () => {
    const fixture = loadFixture('orders-insert');
    const decoded = decodeOrderMessage(asMessage(fixture));
    const value = fixture.value as { after: { id: number; customer_id: number }; source: { lsn: number } };
    expect(decoded).toEqual({
      kind: 'write',
      model: expect.objectContaining({ kind: 'upsert', collection: 'order_views', id: value.after.id, source: 'orders', position: value.source.lsn }),
    });
    if (decoded.kind !== 'write' || decoded.model.kind !== 'upsert') throw new Error('unreachable');
    expect(decoded.model.set).toMatchObject({ orderId: value.after.id, customerId: value.after.customer_id, schemaVersion: 1 });
    expect(decoded.model.set['placedAt']).toBeInstanceOf(Date);
  });

  test('an update carries the new row and a later LSN than the insert of the same order', () => {
    const update = decodeOrderMessage(asMessage(loadFixture('orders-update')));
    expect(update.kind).toBe('write');
    if (update.kind !== 'write' || update.model.kind !== 'upsert') throw new Error('unreachable');
    expect(update.model.set['status']).toEqual(expect.any(String));
  });

  test("a delete is keyed by the message key, not by the delete's placeholder-filled before image", () => {
    const fixture = loadFixture('orders-delete');
    const decoded = decodeOrderMessage(asMessage(fixture));
    expect(decoded).toEqual({ kind: 'write', model: expect.objectContaining({ kind: 'delete', id: (fixture.key as { id: number }).id }) });
  });

  test('the Kafka tombstone after a delete is skipped', () => {
    expect(decodeOrderMessage(asMessage(loadFixture('orders-tombstone')))).toEqual({ kind: 'skip' });
  });

  test('a value that is not JSON is rejected as an invalid event', () => {
    const err = decodeError(asMessage(loadFixture('orders-insert'), { value: Buffer.from('{not json') }));
    expect(err.code).toBe('EVENT_INVALID');
    expect(err.message).toMatch(/not JSON/);
  });

  test('an event of another shape is rejected with the failing field named', () => {
    const products = loadFixture('products-insert');
    const err = decodeError(asMessage(products, { key: Buffer.from('{"id": 1}') }));
    expect(err.code).toBe('EVENT_INVALID');
    expect(err.message).toMatch(/customer_id/);
  });

  test('a message without a key is rejected', () => {
    const err = decodeError(asMessage(loadFixture('orders-insert'), { key: null }));
    expect(err.code).toBe('EVENT_INVALID');
  });
});
