import type { Contribution, DocState, Row, Slot } from './types.js';

/**
 * Applies one contribution if it is newer than what the slot holds (last writer wins per source
 * row, by position). Returns whether the state changed. A duplicate or older change is a no-op,
 * whatever order the changes arrive in: this is what makes redelivery harmless.
 */
export function applyContribution(state: DocState, c: Contribution): boolean {
  const current = state.slots[c.slot];
  if (current !== undefined && current.pos >= c.position) return false;
  state.slots[c.slot] = { pos: c.position, row: c.row === null ? null : mergeUnavailable(c.row, c.unavailable, current) };
  return true;
}

/**
 * A TOASTed column an update left untouched arrives without a value: keep the one we hold. When
 * we hold none (the row's earlier changes were never seen), the column stays absent.
 */
function mergeUnavailable(row: Row, unavailable: string[], current: Slot | undefined): Row {
  if (unavailable.length === 0 || current?.row === null || current?.row === undefined) return row;
  const kept: Row = {};
  for (const column of unavailable) if (column in current.row) kept[column] = current.row[column];
  return { ...kept, ...row };
}

/** Embeds a referenced row if it is newer than the copy the document holds. */
export function applyReference(state: DocState, key: string, slot: Slot): boolean {
  const current = state.refs[key];
  if (current !== undefined && current.pos >= slot.pos) return false;
  state.refs[key] = slot;
  return true;
}

/** Drops copies of rows the document no longer refers to. */
export function pruneReferences(state: DocState, needed: readonly string[]): boolean {
  let changed = false;
  for (const key of Object.keys(state.refs)) {
    if (!needed.includes(key)) {
      delete state.refs[key];
      changed = true;
    }
  }
  return changed;
}

/** Live rows of one table among the slots, in id order. */
export function liveRows(state: DocState, table: string): Row[] {
  const prefix = `${table}:`;
  return Object.entries(state.slots)
    .filter(([key, slot]) => key.startsWith(prefix) && slot.row !== null)
    .sort(([a], [b]) => compareIds(a.slice(prefix.length), b.slice(prefix.length)))
    .map(([, slot]) => slot.row as Row);
}

function compareIds(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  return Number.isFinite(na) && Number.isFinite(nb) ? na - nb : a.localeCompare(b);
}
