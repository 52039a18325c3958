import { isDeepStrictEqual } from 'node:util';
import type { DerivedContribution, DocId, DocState, Row } from '../../projections/types.js';

/** One part a document sends to a document of a derived projection, under its position. */
export interface DerivedSend {
  projection: string;
  docId: DocId;
  /** null removes the sender's part (it no longer contributes to that document). */
  row: Row | null;
  position: number;
  /** First sent under this position by this revision (not kept from an earlier one). */
  fresh: boolean;
}

function sentKey(projection: string, docId: DocId): string {
  return `${projection}:${String(docId)}`;
}

/**
 * What a document at revision `rev` sends to every document it ever contributed to: its part
 * (`targets`, from its rendering) or a removal. `readRev` is the revision its state was read at;
 * `rev` is `readRev` for a document sent again unchanged, `readRev + 1` for one being written.
 *
 * A part keeps the position it was first sent under while its row stays the same, and gets `rev`
 * when the row changes. So every part sent under one position carries one row, and the derived
 * document's guard (the highest position wins, an equal one is a no-op) ends on the newest row,
 * as if each revision had sent under its own; an order updated without a change to its amount
 * or time then costs its customer's document no write. Skipping the send of an unchanged row is
 * not the same: a stalled worker's lower revision, with another row, could land after it.
 *
 * The record of what was sent is trusted only if the revision read wrote it: a worker that does
 * not know the field carries it along unchanged, and its revision would otherwise reuse a
 * position for a row it never recorded.
 */
export function derivedSends(state: DocState, targets: readonly DerivedContribution[], readRev: number, rev: number): DerivedSend[] {
  const previous = state.sent?.rev === readRev ? state.sent.to : {};
  const sends: DerivedSend[] = [];
  for (const [projection, ever] of Object.entries(state.derivedTo)) {
    for (const docId of ever) {
      const row = targets.find((t) => t.projection === projection && String(t.docId) === String(docId))?.row ?? null;
      const before = previous[sentKey(projection, docId)];
      const kept = before !== undefined && isDeepStrictEqual(before.row, row);
      sends.push({ projection, docId, row, position: kept ? before.pos : rev, fresh: !kept });
    }
  }
  return sends;
}

/** Records in the state what its revision `rev` sends (written with the document). */
export function recordSends(state: DocState, sends: readonly DerivedSend[], rev: number): void {
  if (sends.length === 0) {
    delete state.sent;
    return;
  }
  const to: NonNullable<DocState['sent']>['to'] = {};
  for (const s of sends) to[sentKey(s.projection, s.docId)] = { pos: s.position, row: s.row };
  state.sent = { rev, to };
}
