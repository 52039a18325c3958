import { applyContribution, applyReference, pruneReferences } from '../../projections/fold.js';
import { emptyState, slotKey, type Contribution, type DocId, type DocState, type Projection, type Row } from '../../projections/types.js';
import type { RowChange } from '../../schemas/change.js';
import { PipelineError } from '../errors.js';
import type { CasWrite, DocumentStore, StoredDoc } from '../store/documents.js';

export interface ApplyStats {
  changes: number;
  /** Documents written, per collection. */
  written: Record<string, number>;
  /** Compare-and-set writes that lost to a concurrent writer and were redone. */
  conflicts: number;
  /** Documents updated because a row they embed changed. */
  fannedOut: number;
}

const MAX_ATTEMPTS = 50;

type Target = { projection: string; docId: DocId; row: Row | null };
interface Prepared {
  write: CasWrite;
  targets: Target[];
}

/** Keeps, per slot or reference, only the newest change in a batch: later ones win. */
function newestPerKey<T extends { position: number }>(items: T[], key: (t: T) => string): T[] {
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

/**
 * The engine's core, independent of Kafka: applies a batch of row changes to every projection.
 * Each document is read, folded and written back with a compare-and-set, so concurrent workers
 * never lose each other's writes; every slot and embedded copy is guarded by the position of the
 * change behind it, so duplicates and reordering change nothing. docs/ARCHITECTURE.md argues why
 * the result converges.
 */
export class Projector {
  private readonly refFields = new Map<string, string[]>();

  constructor(
    private readonly store: DocumentStore,
    private readonly projections: readonly Projection[],
  ) {
    for (const p of projections) {
      for (const [table, spec] of Object.entries(p.references)) {
        this.refFields.set(table, [...new Set([...(this.refFields.get(table) ?? []), ...spec.fields])]);
      }
    }
  }

  /** Tables any projection reads, as owner or by reference. */
  tables(): string[] {
    return [...new Set(this.projections.flatMap((p) => [...Object.keys(p.sources), ...Object.keys(p.references)]))];
  }

  async apply(changes: RowChange[]): Promise<ApplyStats> {
    const stats: ApplyStats = { changes: changes.length, written: {}, conflicts: 0, fannedOut: 0 };
    await this.writeReferences(changes);
    const derived = new Map<string, Contribution[]>();
    for (const projection of this.projections) {
      const refChanges = newestPerKey(changes.filter((c) => c.table in projection.references), (c) => slotKey(c.table, c.id));
      if (refChanges.length > 0) await this.fanOut(projection, refChanges, stats, derived);
      const own = changes.flatMap((c) => projection.sources[c.table]?.(c) ?? []);
      const incoming = [...own, ...(derived.get(projection.name) ?? [])];
      if (incoming.length > 0) await this.upsert(projection, incoming, stats, derived);
    }
    return stats;
  }

  /** Step one of the reference protocol: the newest row goes to `_ref_<table>` first. */
  private async writeReferences(changes: RowChange[]): Promise<void> {
    for (const [table, fields] of this.refFields) {
      const refs = newestPerKey(changes.filter((c) => c.table === table), (c) => c.id).map((c) => ({
        id: Number(c.id),
        pos: c.position,
        row: c.op === 'delete' ? null : pick(c.row, fields),
        unavailable: c.unavailable.filter((u) => fields.includes(u)),
      }));
      await this.store.writeRefs(table, refs);
    }
  }

  /** Step two: every document that embeds an older copy of a changed row gets the new one. */
  private async fanOut(projection: Projection, changes: RowChange[], stats: ApplyStats, derived: Map<string, Contribution[]>): Promise<void> {
    const updates = changes.map((change) => {
      const fields = this.refFields.get(change.table) ?? [];
      return { key: slotKey(change.table, change.id), pos: change.position, row: change.op === 'delete' ? null : pick(change.row, fields), unavailable: change.unavailable };
    });
    let docs = await this.store.findStale(projection.collection, updates.map((u) => ({ key: u.key, pos: u.pos })));
    for (let attempt = 0; docs.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new PipelineError('STORE_WRITE_FAILED', `fan-out into ${projection.collection} kept losing to concurrent writers`, { retriable: true });
      }
      const writes: Prepared[] = [];
      for (const doc of docs) {
        let changed = false;
        for (const u of updates) {
          if (!doc._refKeys.includes(u.key)) continue;
          const row = u.row === null || u.unavailable.length === 0 ? u.row : { ...keep(doc._state.refs[u.key]?.row, u.unavailable), ...u.row };
          changed = applyReference(doc._state, u.key, { pos: u.pos, row }) || changed;
        }
        if (changed) writes.push(this.prepare(projection, doc._id, doc._rev, doc._state));
      }
      const lost = await this.write(projection, writes, stats, derived);
      stats.fannedOut += writes.length - lost.size;
      // The losers were changed by someone else meanwhile: read them again and re-apply.
      docs = lost.size === 0 ? [] : [...(await this.store.fetch(projection.collection, writes.filter((w) => lost.has(String(w.write.id))).map((w) => w.write.id))).values()];
    }
  }

  /**
   * Own and derived contributions: read the documents, fold, embed the newest referenced rows,
   * write with compare-and-set, redo the losers. Then read the references again: a row that
   * changed while we wrote (its fan-out may have missed our document) is embedded now.
   */
  private async upsert(projection: Projection, contributions: Contribution[], stats: ApplyStats, derived: Map<string, Contribution[]>): Promise<void> {
    const byDoc = new Map<string, { id: DocId; items: Contribution[] }>();
    for (const c of contributions) {
      const entry = byDoc.get(String(c.docId)) ?? { id: c.docId, items: [] };
      entry.items.push(c);
      byDoc.set(String(c.docId), entry);
    }
    let pending = [...byDoc.values()];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new PipelineError('STORE_WRITE_FAILED', `${pending.length} documents of ${projection.collection} kept losing to concurrent writers`, { retriable: true });
      }
      const docs = await this.store.fetch(projection.collection, pending.map((p) => p.id));
      const states = new Map<string, { id: DocId; rev: number; state: DocState; changed: boolean }>();
      for (const { id, items } of pending) {
        const doc = docs.get(String(id));
        const state = doc?._state ?? emptyState();
        let changed = doc === undefined;
        for (const c of items) changed = applyContribution(state, c) || changed;
        states.set(String(id), { id, rev: doc?._rev ?? 0, state, changed });
      }
      await this.embedReferences(projection, states);
      const writes: Prepared[] = [];
      for (const s of states.values()) {
        const prepared = this.prepare(projection, s.id, s.rev, s.state);
        if (s.changed) writes.push(prepared);
        // Unchanged (a redelivery): still send what it derives, in case a crash came in between.
        else this.queueDerived(projection, s.id, s.rev, s.state, prepared.targets, derived);
      }
      const lost = await this.write(projection, writes, stats, derived);
      const written = writes.filter((w) => !lost.has(String(w.write.id))).map((w) => w.write);
      const refreshed = await this.staleAfterWrite(projection, written);
      pending = pending.filter((p) => lost.has(String(p.id)) || refreshed.has(String(p.id)));
      // A refreshed document is re-read and re-folded; contributions already applied are no-ops.
    }
  }

  /** Fills each state with the newest copy of every row it references (one read per table). */
  private async embedReferences(projection: Projection, states: Map<string, { state: DocState; changed: boolean }>): Promise<void> {
    const wanted = new Map<string, Set<number>>();
    const needs = new Map<string, string[]>();
    for (const [id, s] of states) {
      const keys = projection.referencesOf(s.state);
      needs.set(id, keys);
      if (pruneReferences(s.state, keys)) s.changed = true;
      for (const key of keys) {
        const [table = '', refId = ''] = key.split(':');
        wanted.set(table, (wanted.get(table) ?? new Set()).add(Number(refId)));
      }
    }
    for (const [table, ids] of wanted) {
      const refs = await this.store.fetchRefs(table, [...ids]);
      for (const [id, s] of states) {
        for (const key of needs.get(id) ?? []) {
          if (!key.startsWith(`${table}:`)) continue;
          const ref = refs.get(key.slice(table.length + 1));
          if (ref !== undefined && applyReference(s.state, key, ref)) s.changed = true;
        }
      }
    }
  }

  /** The write-then-read half of the reference protocol (docs/ARCHITECTURE.md). */
  private async staleAfterWrite(projection: Projection, written: CasWrite[]): Promise<Set<string>> {
    const stale = new Set<string>();
    const byTable = new Map<string, Set<number>>();
    for (const w of written) {
      for (const key of w.doc._refKeys) {
        const [table = '', refId = ''] = key.split(':');
        byTable.set(table, (byTable.get(table) ?? new Set()).add(Number(refId)));
      }
    }
    for (const [table, ids] of byTable) {
      const refs = await this.store.fetchRefs(table, [...ids]);
      for (const w of written) {
        for (const key of w.doc._refKeys) {
          if (!key.startsWith(`${table}:`)) continue;
          const ref = refs.get(key.slice(table.length + 1));
          const held = w.doc._state.refs[key];
          if (ref !== undefined && (held === undefined || held.pos < ref.pos)) stale.add(String(w.id));
        }
      }
    }
    return stale;
  }

  /** Renders the document and records which documents of other projections it feeds. */
  private prepare(projection: Projection, id: DocId, rev: number, state: DocState): Prepared {
    const rendered = projection.render(id, state);
    const targets = projection.derive?.(id, rendered) ?? [];
    for (const t of targets) {
      const ever = state.derivedTo[t.projection] ?? [];
      if (!ever.some((d) => String(d) === String(t.docId))) state.derivedTo[t.projection] = [...ever, t.docId];
    }
    const doc: StoredDoc = {
      ...(rendered ?? {}),
      _id: id,
      _rev: rev + 1,
      _visible: rendered !== null,
      _refKeys: projection.referencesOf(state),
      _state: state,
    };
    return { write: { id, expectedRev: rev, doc }, targets };
  }

  /**
   * Compare-and-set writes; derived contributions are queued only for the writes that won, at the
   * revision they wrote (a lost write's revision belongs to its winner). Returns the losers.
   */
  private async write(projection: Projection, writes: Prepared[], stats: ApplyStats, derived: Map<string, Contribution[]>): Promise<Set<string>> {
    const lost = new Set((await this.store.casWrite(projection.collection, writes.map((w) => w.write))).map(String));
    for (const w of writes) {
      if (!lost.has(String(w.write.id))) this.queueDerived(projection, w.write.id, w.write.doc._rev, w.write.doc._state, w.targets, derived);
    }
    stats.written[projection.collection] = (stats.written[projection.collection] ?? 0) + writes.length - lost.size;
    stats.conflicts += lost.size;
    return lost;
  }

  /**
   * A derived contribution is guarded by the source document's revision. Every document this one
   * ever contributed to and no longer does gets a removal, so moving an order to another customer
   * uncounts it from the first.
   */
  private queueDerived(
    projection: Projection,
    id: DocId,
    rev: number,
    state: DocState,
    targets: Target[],
    derived: Map<string, Contribution[]>,
  ): void {
    const slot = slotKey(projection.name, id);
    for (const [target, ever] of Object.entries(state.derivedTo)) {
      const list = derived.get(target) ?? [];
      for (const docId of ever) {
        const now = targets.find((t) => t.projection === target && String(t.docId) === String(docId));
        list.push({ docId, slot, row: now?.row ?? null, position: rev, unavailable: [] });
      }
      derived.set(target, list);
    }
  }
}

function keep(row: Row | null | undefined, columns: string[]): Row {
  if (row === null || row === undefined) return {};
  return Object.fromEntries(columns.filter((c) => c in row).map((c) => [c, row[c]]));
}
