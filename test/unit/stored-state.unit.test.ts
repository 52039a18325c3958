import { compactState, expandState } from '../../pipeline/store/stored-state.js';
import type { StoredDoc } from '../../pipeline/store/documents.js';

const row = { id: 5, status: 'paid', note: null, tags: ['a'], total: { amount: '1.00' } };
const oneRow = (fields: Record<string, unknown>, slotRow: Record<string, unknown> | null = row, visible = true): StoredDoc => ({
  schemaVersion: 2,
  ...fields,
  _id: 5,
  _rev: 3,
  _visible: visible,
  _refKeys: [],
  _state: { slots: { 'orders:5': { pos: 90, row: slotRow } }, refs: {}, derivedTo: {}, rev: 3 },
});

describe('a one-row document stores its row once', () => {
  test('the slot is stored without the row the public fields already show, and read back whole', () => {
    const doc = oneRow(row);
    const stored = compactState(doc);
    expect(stored._state.slots['orders:5']).toEqual({ pos: 90 });
    expect(doc._state.slots['orders:5']).toEqual({ pos: 90, row }); // the caller's document is left as it was
    const read = expandState(structuredClone(stored));
    expect(read).toEqual(doc);
  });

  test('a rendering that is not exactly the row keeps the row in the state', () => {
    for (const doc of [
      oneRow({ ...row, status: 'PAID' }), // a field rendered differently
      oneRow({ ...row, extra: 1 }), // a field the row has not
      oneRow({ id: 5, status: 'paid' }), // fields left out
      oneRow({ ...row, total: { amount: '2.00' } }), // a nested value that differs
      oneRow({ ...row, tags: ['a', 'b'] }),
      oneRow({ ...row, note: undefined }, { ...row, note: null }), // absent is not null
      oneRow({ ...row, schemaVersion: 7 }, { ...row, schemaVersion: 7 }), // a column named like the version
    ]) {
      expect(compactState(doc)).toBe(doc);
    }
  });

  test('tombstones, invisible documents and documents of several slots are stored as they are', () => {
    const tombstone = oneRow({}, null, false);
    const invisible = oneRow(row, row, false);
    const twoSlots: StoredDoc = { ...oneRow(row), _state: { slots: { 'orders:5': { pos: 90, row }, 'order_lines:1': { pos: 91, row: { id: 1 } } }, refs: {}, derivedTo: {} } };
    for (const doc of [tombstone, invisible, twoSlots]) expect(compactState(doc)).toBe(doc);
    expect(expandState(structuredClone(twoSlots))).toEqual(twoSlots);
  });
});
