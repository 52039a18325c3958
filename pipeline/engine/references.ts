import { applyReference, pruneReferences } from '../../projections/fold.js';
import { slotKey, type DocId, type DocState, type Projection, type Row, type Slot } from '../../projections/types.js';
import type { RowChange } from '../../schemas/change.js';
import { PipelineError } from '../errors.js';
import type { DocumentStore, RefDoc, StoredDoc } from '../store/documents.js';

export const MAX_ATTEMPTS = 50;

/** Keeps, per key, only the newest change: positions order changes of one row. */
export function newestPerKey<T extends { position: number }>(items: T[], key: (t: T) => string): T[] {
  const newest = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    const seen = newest.get(k);
    if (seen === undefined || seen.position < item.position) newest.set(k, item);
  }
  return [...newest.values()];
}

function pick(row: Row | null, fields: readonly string[]): Row | null {
  if (row === null) return null;
  return Object.fromEntries(fields.filter((f) => f in row).map((f) => [f, row[f]]));
}

function keep(row: Row | null | undefined, columns: string[]): Row {
  if (row === null || row === undefined) return {};
  return Object.fromEntries(columns.filter((c) => c in row).map((c) => [c, row[c]]));
}

function newKeys(doc: StoredDoc, previousKeys: string[]): string[] {
  return doc._refKeys.filter((key) => !previousKeys.includes(key));
}

export function splitKey(key: string): { table: string; id: string } {
  const at = key.indexOf(':');
  return { table: key.slice(0, at), id: key.slice(at + 1) };
}

/** The slot a referenced row's change makes, with TOAST-unavailable columns kept from `held`. */
function refSlot(change: RowChange, fields: readonly string[], held: Row | null | undefined): Slot {
  if (change.op === 'delete') return { pos: change.position, row: null };
  const row = pick(change.row, fields) ?? {};
  const missing = change.unavailable.filter((u) => fields.includes(u));
  return { pos: change.position, row: missing.length === 0 ? row : { ...keep(held, missing), ...row } };
}

/**
 * Rows other documents embed (customers, products). The protocol that keeps every embedded copy
 * fresh, argued in docs/ARCHITECTURE.md:
 *   a row change:     write the row to `_ref_<table>`, then read `_refidx` and update every document listed;
 *   a document write: add it to `_refidx` under the rows it starts to embed, write it, then read
 *                     those rows again.
 * Whichever side goes second sees the other's write.
 */
export class References {
  /** Per table, the union of the columns any projection embeds. */
  readonly fields = new Map<string, string[]>();
  /**
   * The referenced rows read during the current round (`inRound`), newest copy per row. A round's
   * slices embed the same popular products and customers over and over; each read them again.
   * Only `embed` on a first attempt takes from here: whatever changes a row after it was read is
   * caught as before, by the fan-out of the row's writer for a document already listed under it,
   * and by `outdatedAfterWrite` (always a store read) for one that starts to embed it.
   */
  private roundRows: Map<string, RefDoc> | undefined;

  constructor(
    private readonly store: DocumentStore,
    projections: readonly Projection[],
  ) {
    for (const p of projections) {
      for (const [table, spec] of Object.entries(p.references)) {
        this.fields.set(table, [...new Set([...(this.fields.get(table) ?? []), ...spec.fields])]);
      }
    }
  }

  /** Runs one round with its rows remembered between slices (see `roundRows`); they start empty. */
  async inRound<T>(task: () => Promise<T>): Promise<T> {
    this.roundRows = new Map();
    try {
      return await task();
    } finally {
      this.roundRows = undefined;
    }
  }

  /** Step one for row changes: newest version of each row into `_ref_<table>`, by compare-and-set. */
  async writeRows(changes: RowChange[]): Promise<void> {
    for (const [table, fields] of this.fields) {
      let pending = newestPerKey(changes.filter((c) => c.table === table), (c) => c.id);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= MAX_ATTEMPTS) throw new PipelineError('STORE_WRITE_FAILED', `_ref_${table} kept losing to concurrent writers`, { retriable: true });
        const held = await this.store.fetchRefs(table, pending.map((c) => Number(c.id)));
        const writes = pending.flatMap((c) => {
          const current = held.get(c.id);
          if (current !== undefined && current.pos >= c.position) return [];
          const slot = refSlot(c, fields, current?.row);
          const doc: RefDoc = { _id: Number(c.id), _rev: (current?._rev ?? 0) + 1, pos: slot.pos, row: slot.row };
          return [{ id: doc._id, expectedRev: current?._rev ?? 0, doc }];
        });
        const lost = new Set((await this.store.casWrite(`_ref_${table}`, writes)).map(String));
        pending = pending.filter((c) => lost.has(c.id));
      }
    }
  }

  /**
   * Step two for row changes: the documents listed in `_refidx` for the changed rows, but those in
   * `skip`, which the caller rewrites from the stored rows anyway.
   */
  async documentsListing(projection: Projection, changes: RowChange[], skip?: ReadonlySet<string>): Promise<DocId[]> {
    // Entries are never removed: a listed document that no longer embeds the row is skipped when read.
    const listed = [...new Set([...(await this.store.referencingDocs(projection.collection, changes.map((c) => slotKey(c.table, c.id)))).values()].flat())];
    return skip === undefined ? listed : listed.filter((id) => !skip.has(String(id)));
  }

  /**
   * Step three: those documents (some of `documentsListing`, or the losers of a write) with the new
   * copies applied, for the caller to render and write.
   */
  async documentsToRefresh(projection: Projection, changes: RowChange[], ids: DocId[]): Promise<StoredDoc[]> {
    const byKey = new Map(changes.map((c) => [slotKey(c.table, c.id), c]));
    const docs = await this.store.fetch(projection.collection, ids);
    const changed: StoredDoc[] = [];
    for (const doc of docs.values()) {
      let touched = false;
      for (const key of doc._refKeys) {
        const c = byKey.get(key);
        if (c === undefined) continue;
        touched = applyReference(doc._state, key, refSlot(c, this.fields.get(c.table) ?? [], doc._state.refs[key]?.row)) || touched;
      }
      if (touched) changed.push(doc);
    }
    return changed;
  }

  /**
   * Fills each state with the newest stored copy of the rows it starts to embed, and of the rows
   * in `changedThisRound` (or of every row it embeds, with 'all'); one read per table. A row it
   * already embeds reached it by fan-out when it changed, except a change of this round: the
   * fan-out leaves the documents this round upserts to this read. Reading only these keeps a
   * small round's chain of store round trips short: an order's update needs no read of its
   * products and customer. A retry passes 'all' (see the projector).
   */
  async embed(projection: Projection, states: { state: DocState; changed: boolean; previousKeys: readonly string[] }[], changedThisRound: ReadonlySet<string> | 'all'): Promise<void> {
    const needs = states.map((s) => {
      const keys = projection.referencesOf(s.state);
      if (pruneReferences(s.state, keys)) s.changed = true;
      if (changedThisRound === 'all') return keys;
      const previous = new Set(s.previousKeys);
      return keys.filter((key) => !previous.has(key) || changedThisRound.has(key));
    });
    const refs = await this.readAll(needs.flat(), changedThisRound !== 'all');
    states.forEach((s, i) => {
      for (const key of needs[i] ?? []) {
        const ref = refs.get(key);
        if (ref !== undefined && applyReference(s.state, key, { pos: ref.pos, row: ref.row })) s.changed = true;
      }
    });
  }

  /**
   * Step one for document writes, before the write itself: list each document under the rows it
   * starts to embed. Index first, so a crash can never leave a written document unlisted (a
   * listed document that was not written is only a wasted read for a later fan-out).
   */
  async indexNewReferences(projection: Projection, writes: { doc: StoredDoc; previousKeys: string[] }[]): Promise<void> {
    const added = new Map<string, DocId[]>();
    for (const { doc, previousKeys } of writes) {
      for (const key of newKeys(doc, previousKeys)) {
        const ids = added.get(key);
        if (ids === undefined) added.set(key, [doc._id]);
        else ids.push(doc._id);
      }
    }
    await this.store.addReferences(projection.collection, added);
  }

  /**
   * Step two for document writes: read again the rows a written document started to embed, and
   * return the ids of documents whose copy is already outdated (the row changed while we wrote).
   */
  async outdatedAfterWrite(written: { doc: StoredDoc; previousKeys: string[] }[]): Promise<Set<string>> {
    const refs = await this.readAll(written.flatMap((w) => newKeys(w.doc, w.previousKeys)));
    const stale = new Set<string>();
    for (const { doc, previousKeys } of written) {
      for (const key of newKeys(doc, previousKeys)) {
        const ref = refs.get(key);
        const held = doc._state.refs[key];
        if (ref !== undefined && (held === undefined || held.pos < ref.pos)) stale.add(String(doc._id));
      }
    }
    return stale;
  }

  /** The rows under `keys`, from the store, or first from this round's reads when `remembered`. */
  private async readAll(keys: string[], remembered = false): Promise<Map<string, RefDoc>> {
    const out = new Map<string, RefDoc>();
    const byTable = new Map<string, Set<number>>();
    for (const key of keys) {
      const known = remembered ? this.roundRows?.get(key) : undefined;
      if (known !== undefined) {
        out.set(key, known);
        continue;
      }
      const { table, id } = splitKey(key);
      byTable.set(table, (byTable.get(table) ?? new Set()).add(Number(id)));
    }
    // Tables at once: a small round's latency is its chain of store round trips.
    const fetched = await Promise.all([...byTable].map(async ([table, ids]) => [table, await this.store.fetchRefs(table, [...ids])] as const));
    for (const [table, refs] of fetched) {
      for (const [id, ref] of refs) {
        const key = slotKey(table, id);
        out.set(key, ref);
        const held = this.roundRows?.get(key);
        if (this.roundRows !== undefined && (held === undefined || held.pos < ref.pos)) this.roundRows.set(key, ref);
      }
    }
    return out;
  }
}
