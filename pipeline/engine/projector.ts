import { applyContribution } from '../../projections/fold.js';
import { emptyState, slotKey, type Contribution, type DocId, type DocState, type Projection } from '../../projections/types.js';
import type { RowChange } from '../../schemas/change.js';
import { hasOwnName, ownValue } from '../../schemas/own-key.js';
import { PipelineError } from '../errors.js';
import type { CasWrite, DocumentStore, StoredDoc, WrittenDoc } from '../store/documents.js';
import { derivedSends, recordSends, type DerivedSend } from './derived-positions.js';
import { eachSettled } from './each-settled.js';
import { MAX_ATTEMPTS, newestPerKey, References } from './references.js';

export interface ApplyStats {
  changes: number;
  /** Documents written, per collection. */
  written: Record<string, number>;
  /** Compare-and-set writes that lost to a concurrent writer and were redone. */
  conflicts: number;
  /** Documents rewritten because a row they embed changed. */
  fannedOut: number;
  /** Changes each projection read (as owner or by reference). */
  changesByProjection: Record<string, number>;
}

interface Prepared {
  write: CasWrite;
  sends: DerivedSend[];
  previousKeys: string[];
  /**
   * Whether parts kept under an earlier position are sent again (parts under a new one always
   * are). See `keptPartsSent`.
   */
  resendKept: boolean;
}

type Derived = Map<string, Contribution[]>;

/** Every table and event type the projections read, as owners or by reference. */
export function sourceNames(projections: readonly Projection[]): string[] {
  return [...new Set(projections.flatMap((p) => [...Object.keys(p.sources), ...Object.keys(p.references)]))];
}

/** What a reader may see of a stored document: its public fields, or null while it is not visible. */
export function publicView(doc: StoredDoc): WrittenDoc {
  const { _state, _refKeys, _visible, _rev, ...fields } = doc;
  return { id: doc._id, rev: _rev, doc: _visible ? fields : null };
}

function storedVersion(doc: StoredDoc): number | undefined {
  return typeof doc['schemaVersion'] === 'number' ? doc['schemaVersion'] : undefined;
}

function isOlder(projection: Projection, doc: StoredDoc): boolean {
  const version = storedVersion(doc);
  return version !== undefined && version < projection.schemaVersion;
}

/**
 * Whether a write sends again the parts it keeps under an earlier position (derived-positions.ts).
 * A kept part was sent by the revision that first sent it, after that revision's write; if a crash
 * or a failed round came in between, the change behind that revision is delivered again, and a
 * change delivered again is a no-op on the document: so a write that applied nothing twice needs
 * not send them, and one that met a duplicate does (as does a rewrite: a touch, or a document of
 * an older version, which must reach its derived documents).
 */
function keptPartsSent(contributions: number, duplicate: boolean, older: boolean): boolean {
  return contributions === 0 || duplicate || older;
}

/** What a prepared write sends once it has won. */
function sent(w: Prepared): DerivedSend[] {
  return w.resendKept ? w.sends : w.sends.filter((s) => s.fresh);
}

/**
 * In a rolling upgrade an older worker must never overwrite a newer document with its older
 * shape. It stops instead (retriable: it backs off and commits nothing), and the changes it holds
 * are re-read by an upgraded worker once the older ones leave the group.
 */
function assertNotNewer(projection: Projection, doc: StoredDoc): void {
  const version = storedVersion(doc);
  if (version === undefined || version <= projection.schemaVersion) return;
  throw new PipelineError('DOCUMENT_FROM_NEWER_WORKER', `${projection.collection} document ${String(doc._id)} is at schemaVersion ${version}; this worker writes ${projection.schemaVersion}`, {
    retriable: true,
    hint: 'finish the rolling upgrade (stop the older workers); their uncommitted changes are re-read by the upgraded ones',
  });
}

/** Documents read, folded and written together by an upsert (four store bulks of 500). */
const UPSERT_SLICE = 2000;
/**
 * Slices in flight at once. One slice alternates between the worker (folding, encoding) and the
 * store (reading, writing); two let each side work on one while the other waits on the other.
 */
const SLICES_AT_ONCE = 2;
/** How stale a round may find the generation pointer; a switch waits this much longer for workers. */
const POINTER_MAX_AGE_MS = 250;

/** Long folds must let kafkajs heartbeats out, or the group thinks this worker died. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The engine's core, independent of Kafka: applies a batch of row changes to every projection.
 * Each document is read, folded and written back with a compare-and-set on `_rev`, so concurrent
 * workers never lose each other's writes; each slot and embedded copy is guarded by the position
 * of the change behind it, so duplicates and reordering change nothing. docs/ARCHITECTURE.md
 * argues why the result converges.
 */
export class Projector {
  private readonly references: References;

  constructor(
    private readonly store: DocumentStore,
    private readonly projections: readonly Projection[],
    /**
     * Told about every document written, before the round is acknowledged (so before its offsets
     * are committed): the read side's cache keeps itself coherent with it.
     */
    private readonly onWritten?: (collection: string, docs: WrittenDoc[]) => Promise<void>,
    /** Run after every round, before the next starts (a rebuild flushes its staged documents here). */
    private readonly afterRound?: () => Promise<void>,
  ) {
    this.references = new References(store, projections);
  }

  /** Tables any projection reads, as owner or by reference. */
  tables(): string[] {
    return sourceNames(this.projections);
  }

  /**
   * One round at a time: a rebuild's hand-over relies on a worker never writing the old
   * generation after it reported the new one, and a report happens only in a refresh, between
   * rounds. The pointer read is skipped when the last one is under POINTER_MAX_AGE_MS old: under
   * a steady trickle of small rounds it was one store round trip of the few each round costs.
   */
  async apply(changes: RowChange[]): Promise<ApplyStats> {
    return this.serial(async () => {
      await this.store.namespace?.refresh(POINTER_MAX_AGE_MS);
      const stats = await this.store.timed('apply (all steps)', changes.length, () => this.applyAll(changes));
      await this.afterRound?.();
      return stats;
    });
  }

  /** Between rounds: adopt a switched generation even while no change arrives. */
  async refreshGeneration(): Promise<boolean> {
    return this.serial(async () => (await this.store.namespace?.refresh()) ?? false);
  }

  /** Runs `task` between two rounds (none in flight while it runs). */
  async betweenRounds<T>(task: () => Promise<T>): Promise<T> {
    return this.serial(task);
  }

  private turn: Promise<unknown> = Promise.resolve();

  private serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.turn.then(run, run);
    this.turn = next.catch(() => undefined);
    return next;
  }

  private async applyAll(changes: RowChange[]): Promise<ApplyStats> {
    const stats: ApplyStats = { changes: changes.length, written: {}, conflicts: 0, fannedOut: 0, changesByProjection: {} };
    try {
      await this.references.inRound(() => this.applyProjections(changes, stats));
    } finally {
      await this.settlePrefetches();
    }
    return stats;
  }

  private async applyProjections(changes: RowChange[], stats: ApplyStats): Promise<void> {
    await this.references.writeRows(changes);
    const derived: Derived = new Map();
    for (const projection of this.projections) {
      const refChanges = newestPerKey(changes.filter((c) => hasOwnName(projection.references, c.table)), (c) => slotKey(c.table, c.id));
      const own = changes.flatMap((c) => ownValue(projection.sources, c.table)?.(c) ?? []);
      stats.changesByProjection[projection.name] = changes.filter((c) => hasOwnName(projection.sources, c.table) || hasOwnName(projection.references, c.table)).length;
      const incoming = [...own, ...(derived.get(projection.name) ?? [])];
      // The upsert below reads its documents after the rows were written and embeds the newest of
      // them, so the fan-out leaves those documents to it: one write each instead of two.
      if (refChanges.length > 0) await this.fanOut(projection, refChanges, stats, derived, new Set(incoming.map((c) => String(c.docId))));
      if (incoming.length > 0) await this.upsert(projection, incoming, stats, derived, new Set(refChanges.map((c) => slotKey(c.table, c.id))));
    }
  }

  private async fanOut(projection: Projection, changes: RowChange[], stats: ApplyStats, derived: Derived, upserted: ReadonlySet<string>): Promise<void> {
    // In slices, like the upsert: a popular product or customer can be embedded in thousands of documents.
    const listed = await this.references.documentsListing(projection, changes, upserted);
    for (let i = 0; i < listed.length; i += UPSERT_SLICE) await this.fanOutSlice(projection, changes, listed.slice(i, i + UPSERT_SLICE), stats, derived);
  }

  private async fanOutSlice(projection: Projection, changes: RowChange[], ids: DocId[], stats: ApplyStats, derived: Derived): Promise<void> {
    let docs = await this.references.documentsToRefresh(projection, changes, ids);
    for (let attempt = 0; docs.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw new PipelineError('STORE_WRITE_FAILED', `fan-out into ${projection.collection} kept losing to concurrent writers`, { retriable: true });
      for (const doc of docs) assertNotNewer(projection, doc);
      const writes = docs.map((doc) => this.prepare(projection, doc._id, doc._rev, doc._state, doc._refKeys, false, true));
      // What a document derives comes from its own slots, never from embedded copies, so a fan-out
      // write keeps the positions its parts were sent under, and sends only a part that got a new
      // one (its state came from a worker that did not record them). A kept part was sent by the
      // revision that first sent it, and if a crash lost that send, the redelivery of its change
      // sends it again (see keptPartsSent).
      const lost = await this.write(projection, writes, stats, derived);
      stats.fannedOut += writes.length - lost.size;
      // The losers were changed by someone else meanwhile: read them again and re-apply.
      const losers = writes.filter((w) => lost.has(String(w.write.id))).map((w) => w.write.id);
      docs = losers.length === 0 ? [] : await this.references.documentsToRefresh(projection, changes, losers);
    }
  }

  /**
   * Own and derived contributions: read the documents, fold, embed the newest referenced rows,
   * write with compare-and-set, redo the losers, and redo the documents whose embedded rows
   * changed while they were written.
   */
  private async upsert(projection: Projection, contributions: Contribution[], stats: ApplyStats, derived: Derived, refreshKeys: ReadonlySet<string> | 'all', touch: DocId[] = []): Promise<void> {
    const byDoc = new Map<string, { id: DocId; items: Contribution[] }>();
    for (const id of touch) byDoc.set(String(id), { id, items: [] });
    for (const c of contributions) {
      const entry = byDoc.get(String(c.docId)) ?? { id: c.docId, items: [] };
      entry.items.push(c);
      byDoc.set(String(c.docId), entry);
    }
    // In slices of documents, each read, folded and written before the next is read: a round's
    // memory then holds its changes and one slice of documents, not every document it touches.
    // A document's contributions all sit in one slice, and documents are independent here.
    const all = [...byDoc.values()];
    const prefetch = all.length <= UPSERT_SLICE;
    const slices: { id: DocId; items: Contribution[] }[][] = [];
    for (let i = 0; i < all.length; i += UPSERT_SLICE) slices.push(all.slice(i, i + UPSERT_SLICE));
    await eachSettled(slices, SLICES_AT_ONCE, (slice) => this.upsertSlice(projection, slice, stats, derived, refreshKeys, prefetch));
  }

  /**
   * Documents of derived projections read while the documents deriving them are still being
   * written, for the derived projection's upsert to start from: a small round then waits for one
   * store round trip less. A prefetched document is only a compare-and-set's starting point, as a
   * fetched one is: if it changes meanwhile, the write loses and reads it again.
   */
  private readonly prefetched = new Map<string, { ids: Set<string>; docs: Promise<Map<string, StoredDoc>> }>();
  /** Every prefetch of this round, used or not: settled before the round ends. */
  private readonly prefetchesInFlight: Promise<unknown>[] = [];

  private prefetchDerived(sends: readonly DerivedSend[]): void {
    for (const target of this.projections) {
      const ids = new Map<string, DocId>();
      for (const s of sends) if (s.projection === target.name) ids.set(String(s.docId), s.docId);
      if (ids.size === 0) continue;
      const docs = this.store.fetch(target.collection, [...ids.values()]);
      // Its failure surfaces in the derived upsert that uses it; an unused one is only settled.
      this.prefetchesInFlight.push(docs.catch(() => undefined));
      this.prefetched.set(target.name, { ids: new Set(ids.keys()), docs });
    }
  }

  /**
   * No prefetch outlives its round: one the derived upsert did not use must not land after the
   * round, when a rebuild's staging store may have flushed and evicted what it read.
   */
  private async settlePrefetches(): Promise<void> {
    await Promise.all(this.prefetchesInFlight.splice(0));
    this.prefetched.clear();
  }

  /** The prefetched documents, if they cover exactly what this read needs (used once). */
  private takePrefetched(projection: Projection, ids: DocId[]): Promise<Map<string, StoredDoc>> | undefined {
    const held = this.prefetched.get(projection.name);
    this.prefetched.delete(projection.name);
    if (held === undefined || !ids.every((id) => held.ids.has(String(id)))) return undefined;
    return held.docs;
  }

  private async upsertSlice(projection: Projection, slice: { id: DocId; items: Contribution[] }[], stats: ApplyStats, derived: Derived, refreshKeys: ReadonlySet<string> | 'all', prefetch: boolean): Promise<void> {
    let pending = slice;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new PipelineError('STORE_WRITE_FAILED', `${pending.length} documents of ${projection.collection} kept losing to concurrent writers`, { retriable: true });
      }
      const ids = pending.map((p) => p.id);
      const docs = await ((attempt === 0 ? this.takePrefetched(projection, ids) : undefined) ?? this.store.fetch(projection.collection, ids));
      for (const doc of docs.values()) assertNotNewer(projection, doc);
      // A touched document that no longer exists stays absent: there is nothing to rewrite.
      pending = pending.filter((p) => p.items.length > 0 || docs.has(String(p.id)));
      const states = pending.map(({ id, items }) => {
        const doc = docs.get(String(id));
        const state = doc?._state ?? emptyState();
        // Rewrite on touch: a document of an older version is re-rendered at this one even when
        // the change itself is a duplicate.
        const older = doc !== undefined && isOlder(projection, doc);
        let changed = doc === undefined || older;
        let duplicate = false;
        for (const c of items) {
          const applied = applyContribution(state, c);
          changed = applied || changed;
          duplicate = duplicate || !applied;
        }
        // A rewrite (no contribution) has no change behind it to be delivered again: what it sends
        // is not recorded, so the next write of the document sends every part anew.
        return { id, rev: doc?._rev ?? 0, state, changed, previousKeys: doc?._refKeys ?? [], resendKept: keptPartsSent(items.length, duplicate, older), recordSends: items.length > 0 };
      });
      await yieldToEventLoop();
      // A retry reads every row its documents embed: a document redone because a row changed while
      // it was written (or that someone else wrote meanwhile) now lists that row among its
      // previous keys, and no fan-out will bring the newer copy; the fan-out that ran missed it.
      await this.references.embed(projection, states, attempt === 0 ? refreshKeys : 'all');
      const writes: Prepared[] = [];
      const toSend: DerivedSend[] = [];
      for (const [i, s] of states.entries()) {
        if (i % 500 === 499) await yieldToEventLoop();
        if (s.changed) {
          const prepared = this.prepare(projection, s.id, s.rev, s.state, s.previousKeys, s.resendKept, s.recordSends);
          writes.push(prepared);
          toSend.push(...sent(prepared));
        } else {
          // Unchanged (a redelivery): still send what it derives, in case a crash came in between.
          const sends = this.derive(projection, s.id, s.state, s.rev, s.rev);
          this.queueDerived(projection, s.id, sends, derived);
          toSend.push(...sends);
        }
      }
      if (prefetch && attempt === 0) this.prefetchDerived(toSend);
      await this.references.indexNewReferences(projection, writes.map((w) => ({ doc: w.write.doc, previousKeys: w.previousKeys })));
      const lost = await this.write(projection, writes, stats, derived);
      const written = writes.filter((w) => !lost.has(String(w.write.id)));
      const outdated = await this.references.outdatedAfterWrite(written.map((w) => ({ doc: w.write.doc, previousKeys: w.previousKeys })));
      // Contributions already applied are no-ops when these are folded again.
      pending = pending.filter((p) => lost.has(String(p.id)) || outdated.has(String(p.id)));
    }
  }

  /**
   * Re-renders documents from their stored state at this worker's version and writes them with
   * compare-and-set (what `cdc documents upgrade` runs on the documents nobody touches).
   */
  async rewrite(projection: Projection, ids: DocId[]): Promise<ApplyStats> {
    const stats: ApplyStats = { changes: 0, written: {}, conflicts: 0, fannedOut: 0, changesByProjection: {} };
    const derived: Derived = new Map();
    try {
      await this.upsert(projection, [], stats, derived, 'all', ids);
      // What the rewritten documents derive is unchanged by a version bump, but send it anyway: the
      // derived documents are then touched, and rewritten too if they are older.
      for (const target of this.projections) {
        const incoming = derived.get(target.name) ?? [];
        if (incoming.length > 0) await this.upsert(target, incoming, stats, derived, 'all');
      }
    } finally {
      await this.settlePrefetches();
    }
    return stats;
  }

  /** Renders the document for revision `rev + 1` and records what it sends to other projections. */
  private prepare(projection: Projection, id: DocId, rev: number, state: DocState, previousKeys: string[], resendKept: boolean, record: boolean): Prepared {
    const rendered = projection.render(id, state);
    const sends = this.derive(projection, id, state, rev, rev + 1, rendered);
    if (record) recordSends(state, sends, rev + 1);
    else delete state.sent;
    state.rev = rev + 1;
    const doc: StoredDoc = {
      // An invisible document (state only) carries its version too: a rolling upgrade's guard reads it.
      ...(rendered ?? { schemaVersion: projection.schemaVersion }),
      _id: id,
      _rev: rev + 1,
      _visible: rendered !== null,
      _refKeys: projection.referencesOf(state),
      _state: state,
    };
    return { write: { id, expectedRev: rev, doc }, sends, previousKeys, resendKept };
  }

  /**
   * What the document sends at revision `rev` (its state read at `readRev`), adding any new
   * target to the documents it ever fed.
   */
  private derive(projection: Projection, id: DocId, state: DocState, readRev: number, rev: number, rendered = projection.render(id, state)): DerivedSend[] {
    const targets = projection.derive?.(id, rendered) ?? [];
    for (const t of targets) {
      const ever = state.derivedTo[t.projection] ?? [];
      if (!ever.some((d) => String(d) === String(t.docId))) state.derivedTo[t.projection] = [...ever, t.docId];
    }
    return derivedSends(state, targets, readRev, rev);
  }

  /**
   * Compare-and-set writes; derived contributions are queued only for the writes that won (a lost
   * write's revision belongs to its winner). Returns the losers' ids.
   */
  private async write(projection: Projection, writes: Prepared[], stats: ApplyStats, derived: Derived): Promise<Set<string>> {
    const lost = new Set((await this.store.casWrite(projection.collection, writes.map((w) => w.write))).map(String));
    const won = writes.filter((w) => !lost.has(String(w.write.id)));
    for (const w of won) this.queueDerived(projection, w.write.id, sent(w), derived);
    if (this.onWritten !== undefined) await this.onWritten(this.store.physical(projection.collection), won.map((w) => publicView(w.write.doc)));
    stats.written[projection.collection] = (stats.written[projection.collection] ?? 0) + writes.length - lost.size;
    stats.conflicts += lost.size;
    return lost;
  }

  /**
   * A derived contribution is guarded by a revision of the source document (derived-positions.ts).
   * Every document this one ever contributed to and no longer does gets a removal, so moving an
   * order to another customer uncounts it from the first.
   */
  private queueDerived(projection: Projection, id: DocId, sends: readonly DerivedSend[], derived: Derived): void {
    const slot = slotKey(projection.name, id);
    for (const s of sends) {
      const list = derived.get(s.projection) ?? [];
      list.push({ docId: s.docId, slot, row: s.row, position: s.position, unavailable: [] });
      derived.set(s.projection, list);
    }
  }
}
