import { isDeepStrictEqual } from 'node:util';
import type { DocState, Row, Slot } from '../../projections/types.js';

/** The engine's fields of a stored document, and `schemaVersion`: what a one-row document's row is not. */
const NOT_THE_ROW = new Set(['_id', '_rev', '_visible', '_refKeys', '_state', 'schemaVersion']);

interface WithState {
  _visible: boolean;
  _state: DocState;
  [field: string]: unknown;
}

function hasState(doc: object): doc is WithState {
  return '_state' in doc && typeof (doc as { _state?: unknown })._state === 'object';
}

/** The row a document shows, if its public fields are one row: everything but the engine's fields. */
function rowInPublicFields(doc: WithState): Row {
  const row: Row = {};
  for (const key of Object.keys(doc)) if (!NOT_THE_ROW.has(key)) row[key] = doc[key];
  return row;
}

/**
 * `isDeepStrictEqual(row, rowInPublicFields(doc))` without building that row: checked on every
 * write, and the copy and the generic comparison were 4% of a one-table worker's CPU profile.
 */
function isPublicFields(doc: WithState, row: Row): boolean {
  let fields = 0;
  for (const key of Object.keys(doc)) {
    if (NOT_THE_ROW.has(key)) continue;
    fields += 1;
    if (!Object.hasOwn(row, key)) return false;
    const a = doc[key];
    const b = row[key];
    if (!Object.is(a, b) && !(typeof a === 'object' && a !== null && isDeepStrictEqual(a, b))) return false;
  }
  return fields === Object.keys(row).length;
}

/**
 * A one-row document (a table copy, such as `order_rows`) would carry its row twice: as its public
 * fields and in its state's only slot, so the store would encode, keep and send every value twice.
 * Where the public fields are exactly that row (with `schemaVersion` beside it), the slot is stored
 * as `{pos}` alone, and `expandState` reads the row back from the public fields. It is checked on
 * every write, so it holds for any projection whose document is its row, and is skipped for any
 * other. Returns a new document; the one given is left as it is.
 */
export function compactState<D extends object>(doc: D): D {
  if (!hasState(doc) || !doc._visible) return doc;
  const keys = Object.keys(doc._state.slots);
  if (keys.length !== 1) return doc;
  const key = keys[0] as string;
  const slot = doc._state.slots[key] as Slot;
  if (slot.row === null || !isPublicFields(doc, slot.row)) return doc;
  // Stored without `row` on purpose: expandState puts it back before anything reads the state.
  const stored = { pos: slot.pos } as Slot;
  return { ...doc, _state: { ...doc._state, slots: { [key]: stored } } };
}

/** Puts back the row of a slot stored by `compactState` (in place: the document is the caller's). */
export function expandState<D extends object>(doc: D): D {
  if (!hasState(doc)) return doc;
  for (const slot of Object.values(doc._state.slots) as Partial<Slot>[]) if (slot.row === undefined) slot.row = rowInPublicFields(doc);
  return doc;
}
