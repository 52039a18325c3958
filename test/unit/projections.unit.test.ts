import { customerViews } from '../../projections/customer-views.js';
import { fromCents, toCents } from '../../projections/decimal.js';
import { applyContribution, applyReference } from '../../projections/fold.js';
import { orderViews } from '../../projections/order-views.js';
import { emptyState } from '../../projections/types.js';
import type { RowChange } from '../../schemas/change.js';

const at = (position: number, table: string, row: Record<string, unknown> | null, extra: Partial<RowChange> = {}): RowChange => ({
  table,
  id: String(row?.['id'] ?? extra.id),
  op: row === null ? 'delete' : 'upsert',
  row,
  before: null,
  unavailable: [],
  position,
  txId: 1,
  sourceTsMs: 0,
  snapshot: false,
  ...extra,
});

const order = { id: 7, customer_id: 3, status: 'paid', currency: 'EUR', note: null, placed_at: '2026-11-26T10:00:00.123456Z', updated_at: '2026-11-26T10:00:00Z' };
const line = (id: number, quantity: number, unit_price: string) => ({ id, order_id: 7, product_id: 9, quantity, unit_price });

describe('decimal money', () => {
  test('parses and formats exactly, keeping two places', () => {
    expect(fromCents(toCents('19.99') * 3n)).toBe('59.97');
    expect(fromCents(toCents('0.1') + toCents('0.2'))).toBe('0.30');
    expect(fromCents(toCents('-5'))).toBe('-5.00');
    expect(() => toCents('1.005')).toThrow(RangeError);
  });
});

describe('order_views', () => {
  test('an order renders with its lines, embedded customer and product, and exact totals', () => {
    const s = emptyState();
    for (const c of [...orderViews.sources['orders']!(at(1, 'orders', order)), ...orderViews.sources['order_lines']!(at(2, 'order_lines', line(1, 3, '19.99'))), ...orderViews.sources['order_lines']!(at(3, 'order_lines', line(2, 1, '0.01')))]) {
      applyContribution(s, c);
    }
    expect(orderViews.referencesOf(s)).toEqual(['customers:3', 'products:9']);
    applyReference(s, 'customers:3', { pos: 1, row: { given_name: 'Ada', family_name: 'Lovelace', email: 'ada@example.com', tier: 'gold' } });
    applyReference(s, 'products:9', { pos: 1, row: { sku: 'SKU-9', name: 'Widget' } });
    const rendered = orderViews.render(7, s);
    // What the worker writes is what readers of the current version accept.
    expect(orderViews.documents.currentSchema.safeParse(rendered).success).toBe(true);
    expect(rendered).toEqual({
      schemaVersion: 2,
      orderId: 7,
      status: 'paid',
      currency: 'EUR',
      note: null,
      placedAt: new Date('2026-11-26T10:00:00.123Z'),
      updatedAt: new Date('2026-11-26T10:00:00Z'),
      customerId: 3,
      customer: { id: 3, name: 'Ada Lovelace', givenName: 'Ada', familyName: 'Lovelace', email: 'ada@example.com', tier: 'gold' },
      lines: [
        { lineId: 1, productId: 9, sku: 'SKU-9', productName: 'Widget', quantity: 3, unitPrice: '19.99', lineTotal: '59.97' },
        { lineId: 2, productId: 9, sku: 'SKU-9', productName: 'Widget', quantity: 1, unitPrice: '0.01', lineTotal: '0.01' },
      ],
      totals: { itemCount: 4, amount: '59.98' },
      payment: { status: 'none', authorized: '0.00', captured: '0.00', refunded: '0.00' },
    });
  });

  test('a customer copy stored before the name split still renders given and family names', () => {
    const s = emptyState();
    for (const c of orderViews.sources['orders']!(at(1, 'orders', order))) applyContribution(s, c);
    applyReference(s, 'customers:3', { pos: 1, row: { name: 'Grace Brewster Hopper', email: 'g@example.com', tier: 'gold' } });
    expect(orderViews.render(7, s)).toMatchObject({ customer: { name: 'Grace Brewster Hopper', givenName: 'Grace', familyName: 'Brewster Hopper' } });
  });

  test('payment events fold into a summary that duplicates and reordering cannot change', () => {
    const pay = (eventId: string, type: string, amountCents: number) => orderViews.sources[type]!(at(1, type, null, { id: eventId, op: 'upsert', row: { orderId: 7, amountCents } }));
    const events = [pay('e1', 'payment.authorized', 5998), pay('e2', 'payment.captured', 5998), pay('e3', 'payment.refunded', 1000)];
    const forward = emptyState();
    const backward = emptyState();
    for (const c of orderViews.sources['orders']!(at(1, 'orders', order))) [forward, backward].forEach((s) => applyContribution(s, c));
    for (const c of [...events, events[1]!].flat()) applyContribution(forward, c);
    for (const c of [...events].reverse().flat()) applyContribution(backward, c);
    const expected = { status: 'refunded', authorized: '59.98', captured: '59.98', refunded: '10.00' };
    expect(orderViews.render(7, forward)).toMatchObject({ payment: expected });
    expect(orderViews.render(7, backward)).toMatchObject({ payment: expected });
  });

  test('lines alone do not make an order visible', () => {
    const s = emptyState();
    for (const c of orderViews.sources['order_lines']!(at(2, 'order_lines', line(1, 1, '1.00')))) applyContribution(s, c);
    expect(orderViews.render(7, s)).toBeNull();
  });

  test('a deleted line is routed to the order it belonged to (FULL identity before image)', () => {
    const del = at(5, 'order_lines', null, { id: '1', before: line(1, 1, '1.00') });
    expect(orderViews.sources['order_lines']!(del)).toEqual([{ docId: 7, slot: 'order_lines:1', row: null, position: 5, unavailable: [] }]);
  });

  test('a line moved to another order leaves the first and joins the second', () => {
    const moved = at(6, 'order_lines', { ...line(1, 1, '1.00'), order_id: 8 }, { before: line(1, 1, '1.00') });
    expect(orderViews.sources['order_lines']!(moved).map((c) => [c.docId, c.row === null])).toEqual([
      [7, true],
      [8, false],
    ]);
  });

  test('derives its amount and time for the customer it belongs to', () => {
    expect(orderViews.derive?.(7, { customerId: 3, placedAt: new Date(0), totals: { amount: '5.00' } })).toEqual([{ projection: 'customer_views', docId: 3, row: { placedAt: new Date(0), amount: '5.00' } }]);
    expect(orderViews.derive?.(7, null)).toEqual([]);
  });
});

describe('customer_views', () => {
  test('counts orders from their slots, so a contribution applied twice counts once', () => {
    const s = emptyState();
    for (const c of customerViews.sources['customers']!(at(1, 'customers', { id: 3, name: 'Ada', email: 'a@x', tier: 'gold', bio: null, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' }))) applyContribution(s, c);
    const o = (id: number, rev: number, amount: string | null, placedAt = '2026-11-01T00:00:00Z') =>
      applyContribution(s, { docId: 3, slot: `order_views:${id}`, row: amount === null ? null : { amount, placedAt: new Date(placedAt) }, position: rev, unavailable: [] });
    o(1, 1, '10.00');
    o(1, 1, '10.00');
    o(2, 4, '2.50', '2026-11-20T00:00:00Z');
    o(1, 2, '12.00');
    o(3, 1, '99.00');
    o(3, 2, null);
    expect(customerViews.render(3, s)).toMatchObject({ schemaVersion: 2, name: 'Ada', givenName: 'Ada', familyName: '', orderCount: 2, lifetimeValue: '14.50', lastOrderAt: new Date('2026-11-20T00:00:00Z') });
  });
});
