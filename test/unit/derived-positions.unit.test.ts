import { derivedSends, recordSends, type DerivedSend } from '../../pipeline/engine/derived-positions.js';
import { applyContribution } from '../../projections/fold.js';
import { emptyState, type DerivedContribution, type DocState, type Row } from '../../projections/types.js';

const part = (customer: number, amount: string): DerivedContribution => ({ projection: 'customer_views', docId: customer, row: { amount, placedAt: new Date(0) } });

/** What a write of the order at `readRev + 1` sends, recorded in its state as the projector does. */
function write(state: DocState, readRev: number, targets: DerivedContribution[]): DerivedSend[] {
  for (const t of targets) {
    const ever = state.derivedTo[t.projection] ?? [];
    if (!ever.some((d) => String(d) === String(t.docId))) state.derivedTo[t.projection] = [...ever, t.docId];
  }
  const sends = derivedSends(state, targets, readRev, readRev + 1);
  recordSends(state, sends, readRev + 1);
  return sends;
}

const positions = (sends: DerivedSend[]) => sends.map((s) => [s.docId, s.row === null ? null : (s.row as Row)['amount'], s.position, s.fresh]);

describe('positions of derived contributions', () => {
  test('an unchanged row keeps the position it was first sent under; a changed one takes the new revision', () => {
    const s = emptyState();
    expect(positions(write(s, 0, [part(3, '10.00')]))).toEqual([[3, '10.00', 1, true]]);
    expect(positions(write(s, 1, [part(3, '10.00')]))).toEqual([[3, '10.00', 1, false]]);
    expect(positions(write(s, 2, [part(3, '12.00')]))).toEqual([[3, '12.00', 3, true]]);
    // Back to an earlier row: a new position, never the earlier one (which a later row overtook).
    expect(positions(write(s, 3, [part(3, '10.00')]))).toEqual([[3, '10.00', 4, true]]);
  });

  test('a document that moved sends a removal to its former target, which then keeps its position', () => {
    const s = emptyState();
    write(s, 0, [part(3, '10.00')]);
    expect(positions(write(s, 1, [part(4, '10.00')]))).toEqual([
      [3, null, 2, true],
      [4, '10.00', 2, true],
    ]);
    expect(positions(write(s, 2, [part(4, '10.00')]))).toEqual([
      [3, null, 2, false],
      [4, '10.00', 2, false],
    ]);
  });

  test('a record written at another revision than the one read is not trusted', () => {
    const s = emptyState();
    write(s, 0, [part(3, '10.00')]);
    // A worker that does not know the record wrote revision 2 and carried it along unchanged.
    expect(positions(write(s, 2, [part(3, '10.00')]))).toEqual([[3, '10.00', 3, true]]);
  });

  test('sending again unchanged uses the recorded positions, or its own revision without a record', () => {
    const s = emptyState();
    write(s, 0, [part(3, '10.00')]);
    write(s, 1, [part(3, '10.00')]);
    expect(positions(derivedSends(s, [part(3, '10.00')], 2, 2))).toEqual([[3, '10.00', 1, false]]);
    delete s.sent;
    expect(positions(derivedSends(s, [part(3, '10.00')], 2, 2))).toEqual([[3, '10.00', 2, true]]);
  });

  test('in any arrival order the target ends on the row of the newest revision', () => {
    // Amounts by revision, with runs of equal rows and returns to earlier ones.
    const amounts = ['1', '1', '2', '2', '2', '1', '3', '1', '1'];
    const s = emptyState();
    const sent = amounts.map((a, i) => write(s, i, [part(3, a)])[0] as DerivedSend);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 200; trial++) {
      const order = sent.map((x) => ({ x, k: random() })).sort((a, b) => a.k - b.k);
      const target = emptyState();
      for (const { x } of order) applyContribution(target, { docId: 3, slot: 'order_views:7', row: x.row, position: x.position, unavailable: [] });
      expect(target.slots['order_views:7']?.row).toEqual({ amount: '1', placedAt: new Date(0) });
    }
  });
});
