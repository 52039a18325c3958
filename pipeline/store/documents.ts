import { MongoBulkWriteError, MongoServerError, type Collection, type Db } from 'mongodb';
import type { DocId, DocState, Row } from '../../projections/types.js';
import { PipelineError } from '../errors.js';
import type { Namespace } from './generations.js';
import { compactState, expandState } from './stored-state.js';
import { isTransientStoreFailure } from './store-failures.js';

const DUPLICATE_KEY = 11000;
const LEGACY_CAS_INDEX = 'cas';

/**
 * How a projected document is stored: the public fields readers use, plus the state it is
 * rendered from. `_rev` counts writes and makes every write a compare-and-set; `_refKeys` lists
 * the rows it embeds, so a change to one of them finds every document to update.
 */
export interface StoredDoc {
  _id: DocId;
  _rev: number;
  _visible: boolean;
  _refKeys: string[];
  _state: DocState;
  [field: string]: unknown;
}

/** A document as the read side sees it after a write: its revision and public fields. */
export interface WrittenDoc {
  id: DocId;
  rev: number;
  /** The public document (internal fields dropped), or null when it is not visible. */
  doc: Record<string, unknown> | null;
}

/** A referenced row as kept in `_ref_<table>`: the newest version seen, guarded by position. */
export interface RefDoc {
  _id: DocId;
  _rev: number;
  pos: number;
  row: Row | null;
}

/** `_refidx_<collection>`: for one referenced row, the documents that embed (or embedded) it. */
export interface RefIndexDoc {
  _id: string;
  docs: DocId[];
}

export interface CasWrite {
  id: DocId;
  /** 0 for a document that does not exist yet. */
  expectedRev: number;
  doc: StoredDoc;
}

/**
 * Ids per `{_id: {$in}}` query. mongo-java-server looks each id up in the index, then matches every
 * document found against the whole `$in` list again, so one query of n ids costs n² comparisons:
 * with a round's 20,000 documents in one query that was a third of the store's CPU (JFR profile).
 * Slices keep it linear; a few run at once.
 */
const IDS_PER_QUERY = 256;
const QUERIES_AT_ONCE = 4;
/**
 * Compare-and-set writes per bulk request, and requests at once. mongo-java-server serializes the
 * operations on one collection, but decodes each request on its network threads: several smaller
 * bulks overlap that decoding with the writing.
 */
const WRITES_PER_BULK = 500;
const BULKS_AT_ONCE = 4;

/** Runs `run` over `items` in slices of `size`, at most `atOnce` slices at a time. */
async function inSlices<T>(
  items: readonly T[],
  size: number,
  atOnce: number,
  run: (slice: T[]) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const slice = items.slice(next, next + size);
      next += size;
      await run(slice);
    }
  };
  await Promise.all(Array.from({ length: Math.min(atOnce, Math.ceil(items.length / size)) }, worker));
}

/** Runs `find({_id: {$in}})` over `ids` in slices, handing every document found to `each`. */
function findByIds<T extends { _id: unknown }>(
  collection: Collection<T>,
  ids: readonly unknown[],
  each: (doc: T) => void,
): Promise<void> {
  return inSlices(ids, IDS_PER_QUERY, QUERIES_AT_ONCE, async (slice) => {
    for await (const doc of collection.find({ _id: { $in: slice } } as never)) each(doc as T);
  });
}

/**
 * An outage is retried; a failure about what was written (over the size limit, refused by the
 * store) is not, so the consumer isolates the records behind it and parks them.
 */
function storeError(what: string, cause: unknown, retriable = isTransientStoreFailure(cause)): PipelineError {
  return retriable
    ? new PipelineError('STORE_WRITE_FAILED', what, {
        cause,
        retriable,
        hint: 'the worker retries with backoff; check the store (cdc stack status)',
      })
    : new PipelineError('STORE_WRITE_FAILED', `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, {
        cause,
        retriable,
        hint: 'the store refused what was written: the records behind it are parked in their dead-letter topic',
      });
}

/**
 * The only module that talks to the document store for projections. Every filter is either
 * exactly `{_id}`, `{_id: {$in}}` or `{_id, _rev}`, all served by the `_id` index in MongoDB.
 * mongo-java-server ignores non-unique indexes and scans for any other filter; the stack's store
 * launcher teaches it the `{_id, ...}` shape.
 */
export class DocumentStore {
  /** Time spent per store operation (count, milliseconds, documents): where a batch's time goes. */
  readonly timings = new Map<string, { count: number; ms: number; docs: number }>();
  /** Told the duration of every operation (the worker's metrics). */
  onTiming: ((operation: string, ms: number) => void) | undefined;

  constructor(
    readonly db: Db,
    /** Resolves logical collection names to the active generation's (absent: names as given). */
    readonly namespace?: Namespace,
  ) {}

  /** The physical collection a logical name stands for now. */
  physical(logical: string): string {
    return this.namespace?.physical(logical) ?? logical;
  }

  async timed<T>(op: string, docs: number, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } finally {
      const t = this.timings.get(op) ?? { count: 0, ms: 0, docs: 0 };
      const ms = performance.now() - started;
      t.count += 1;
      t.ms += ms;
      this.onTiming?.(op, ms);
      t.docs += docs;
      this.timings.set(op, t);
    }
  }

  collection(name: string): Collection<StoredDoc> {
    return this.db.collection<StoredDoc>(this.physical(name));
  }

  refCollection(table: string): Collection<RefDoc> {
    return this.db.collection<RefDoc>(this.physical(`_ref_${table}`));
  }

  async fetch(collection: string, ids: DocId[]): Promise<Map<string, StoredDoc>> {
    const found = new Map<string, StoredDoc>();
    let pending = ids;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= 5)
        throw storeError(`reading ${collection} kept returning torn documents`, pending.slice(0, 5).join(', '), true);
      const torn: DocId[] = [];
      try {
        await this.timed(`fetch ${collection}`, pending.length, async () => {
          await findByIds(this.collection(collection), pending, (doc) => {
            // A document read while it was being replaced can mix two writes on a store that updates in place
            // (stock mongo-java-server; the stack's launcher copies): read it again.
            if (doc._state?.rev !== undefined && doc._state.rev !== doc._rev) torn.push(doc._id);
            else found.set(String(doc._id), expandState(doc));
          });
        });
      } catch (cause) {
        throw storeError(`reading ${collection} failed`, cause);
      }
      pending = torn;
    }
    return found;
  }

  refIndex(collection: string): Collection<RefIndexDoc> {
    return this.db.collection<RefIndexDoc>(this.physical(`_refidx_${collection}`));
  }

  /** Ids of the documents that embed any of the given rows (reference keys). */
  async referencingDocs(collection: string, refKeys: string[]): Promise<Map<string, DocId[]>> {
    const found = new Map<string, DocId[]>();
    if (refKeys.length === 0) return found;
    try {
      await this.timed(`fetch _refidx_${collection}`, refKeys.length, async () => {
        await findByIds(this.refIndex(collection), refKeys, (entry) => found.set(entry._id, entry.docs));
      });
    } catch (cause) {
      throw storeError(`reading _refidx_${collection} failed`, cause);
    }
    return found;
  }

  /** Records that documents embed rows; must complete before the writer re-reads the rows. */
  async addReferences(collection: string, added: Map<string, DocId[]>): Promise<void> {
    if (added.size === 0) return;
    const ops = [...added].map(([key, ids]) => ({
      updateOne: { filter: { _id: key }, update: { $addToSet: { docs: { $each: ids } } }, upsert: true },
    }));
    try {
      await this.timed(`write _refidx_${collection}`, ops.length, () =>
        this.refIndex(collection).bulkWrite(ops, { ordered: false }),
      );
    } catch (cause) {
      throw storeError(`writing _refidx_${collection} failed`, cause);
    }
  }

  /**
   * Writes documents as unordered compare-and-sets on `_rev`. A document changed by someone else
   * since it was read makes the filter miss; the upsert then collides with the existing `_id`
   * (E11000), which reports exactly which writes lost. Those ids are returned for a re-read.
   */
  async casWrite<D extends { _id: DocId; _rev: number }>(
    collection: string,
    writes: { id: DocId; expectedRev: number; doc: D }[],
  ): Promise<DocId[]> {
    if (writes.length === 0) return [];
    const lost: DocId[] = [];
    // Unordered within a slice and across them: each write is its own compare-and-set.
    await this.timed(`cas ${collection}`, writes.length, () =>
      inSlices(
        writes,
        WRITES_PER_BULK,
        BULKS_AT_ONCE,
        async (slice) => void lost.push(...(await this.casSlice(collection, slice))),
      ),
    );
    return lost;
  }

  private async casSlice<D extends { _id: DocId; _rev: number }>(
    collection: string,
    writes: { id: DocId; expectedRev: number; doc: D }[],
  ): Promise<DocId[]> {
    // A new document is a plain insert (cheaper than an upsert); it loses with E11000 when another
    // writer created the document first.
    const ops = writes.map((w) =>
      w.expectedRev === 0
        ? { insertOne: { document: compactState(w.doc) } }
        : {
            replaceOne: { filter: { _id: w.id, _rev: w.expectedRev }, replacement: compactState(w.doc), upsert: true },
          },
    );
    try {
      await this.db.collection<D>(this.physical(collection)).bulkWrite(ops as never, { ordered: false });
      return [];
    } catch (err) {
      const failed = duplicateIndexes(err, collection);
      return writes.filter((_, i) => failed.has(i)).map((w) => w.id);
    }
  }

  async fetchRefs(table: string, ids: DocId[]): Promise<Map<string, RefDoc>> {
    const found = new Map<string, RefDoc>();
    if (ids.length === 0) return found;
    try {
      await this.timed(`fetch _ref_${table}`, ids.length, async () => {
        await findByIds(this.refCollection(table), ids, (ref) => found.set(String(ref._id), ref));
      });
    } catch (cause) {
      throw storeError(`reading _ref_${table} failed`, cause);
    }
    return found;
  }

  /** The indexes the read side's queries use (projection.readIndexes); mongo-java-server ignores them and scans. */
  async ensureReadIndexes(
    projections: readonly {
      collection: string;
      readIndexes?: readonly { name: string; key: Readonly<Record<string, 1 | -1>> }[];
    }[],
  ): Promise<void> {
    for (const p of projections)
      for (const index of p.readIndexes ?? [])
        await this.collection(p.collection).createIndex({ ...index.key }, { name: index.name });
  }

  /**
   * The compare-and-set filter `{_id, _rev}` is served by the `_id` index (MongoDB does that, and
   * so does the stack's store launcher). Earlier versions built a unique `{_id, _rev}` index named
   * `cas` for a store that could not; every write paid for keeping it, so it is dropped.
   */
  async dropLegacyIndexes(collections: string[]): Promise<void> {
    for (const name of collections) {
      const collection = this.db.collection(this.physical(name));
      if (await collection.indexExists(LEGACY_CAS_INDEX).catch(() => false))
        await collection.dropIndex(LEGACY_CAS_INDEX);
    }
  }
}

/** Indexes of the operations that failed with E11000; any other failure is thrown. */
function duplicateIndexes(err: unknown, collection: string): Set<number> {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    const other = errors.find((e) => e.code !== DUPLICATE_KEY);
    if (other === undefined && errors.length > 0) return new Set(errors.map((e) => e.index));
    throw storeError(
      `bulk write to ${collection} failed${other?.errmsg === undefined ? '' : `: ${other.errmsg}`}`,
      err,
    );
  }
  if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return new Set([0]);
  throw storeError(`bulk write to ${collection} failed`, err);
}

/** Every collection the projections write with compare-and-set: their own and `_ref_<table>`. */
export function storeCollections(
  projections: readonly { collection: string; references: Readonly<Record<string, unknown>> }[],
): string[] {
  return [...new Set(projections.flatMap((p) => [p.collection, ...Object.keys(p.references).map((t) => `_ref_${t}`)]))];
}
