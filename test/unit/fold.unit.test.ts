import { applyContribution, applyReference, liveRows } from '../../projections/fold.js';
import { emptyState, type Contribution } from '../../projections/types.js';

const c = (position: number, row: Record<string, unknown> | null, unavailable: string[] = []): Contribution => ({ docId: 1, slot: 'customers:1', row, position, unavailable });

describe('folding contributions', () => {
  test('a newer change replaces the slot; a duplicate or older one changes nothing', () => {
    const s = emptyState();
    expect(applyContribution(s, c(10, { name: 'a' }))).toBe(true);
    expect(applyContribution(s, c(10, { name: 'a' }))).toBe(false);
    expect(applyContribution(s, c(5, { name: 'old' }))).toBe(false);
    expect(applyContribution(s, c(20, { name: 'b' }))).toBe(true);
    expect(s.slots['customers:1']).toEqual({ pos: 20, row: { name: 'b' } });
  });

  test('any delivery order gives the same state', () => {
    const changes = [c(1, { n: 1 }), c(3, null), c(2, { n: 2 }), c(4, { n: 4 })];
    const orders = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
    const results = orders.map((order) => {
      const s = emptyState();
      for (const i of order) applyContribution(s, changes[i] as Contribution);
      return s;
    });
    for (const r of results) expect(r).toEqual(results[0]);
  });

  test('a delete leaves a tombstone that a late update cannot get past', () => {
    const s = emptyState();
    applyContribution(s, c(30, null));
    expect(applyContribution(s, c(20, { name: 'late' }))).toBe(false);
    expect(liveRows(s, 'customers')).toEqual([]);
  });

  test('a TOAST-unavailable column keeps the value already held', () => {
    const s = emptyState();
    applyContribution(s, c(1, { name: 'a', bio: 'long text' }));
    applyContribution(s, c(2, { name: 'b' }, ['bio']));
    expect(s.slots['customers:1']?.row).toEqual({ name: 'b', bio: 'long text' });
  });

  test('a TOAST-unavailable column with no value held stays absent (never the placeholder)', () => {
    const s = emptyState();
    applyContribution(s, c(2, { name: 'b' }, ['bio']));
    expect(s.slots['customers:1']?.row).toEqual({ name: 'b' });
  });

  test('embedded copies are replaced only by newer ones', () => {
    const s = emptyState();
    expect(applyReference(s, 'customers:1', { pos: 5, row: { name: 'x' } })).toBe(true);
    expect(applyReference(s, 'customers:1', { pos: 4, row: { name: 'older' } })).toBe(false);
    expect(s.refs['customers:1']?.row).toEqual({ name: 'x' });
  });

  test('live rows come in id order', () => {
    const s = emptyState();
    for (const id of [10, 2, 33]) applyContribution(s, { docId: 1, slot: `order_lines:${id}`, row: { id }, position: id, unavailable: [] });
    applyContribution(s, { docId: 1, slot: 'order_lines:5', row: null, position: 1, unavailable: [] });
    expect(liveRows(s, 'order_lines')).toEqual([{ id: 2 }, { id: 10 }, { id: 33 }]);
  });
});
