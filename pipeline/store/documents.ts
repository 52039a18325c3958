import { MongoBulkWriteError, MongoServerError, type Collection, type Db } from 'mongodb';
import type { DocId, DocState, Row, Slot } from '../../projections/types.js';
import { PipelineError } from '../errors.js';

const DUPLICATE_KEY = 11000;

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

/** A referenced row as kept in `_ref_<table>`: the newest version seen, guarded by position. */
export interface RefDoc {
  _id: DocId;
  pos: number;
  row: Row | null;
}

export interface CasWrite {
  id: DocId;
  /** 0 for a document that does not exist yet. */
  expectedRev: number;
  doc: StoredDoc;
}

function storeError(what: string, cause: unknown): PipelineError {
  return new PipelineError('STORE_WRITE_FAILED', what, { cause, retriable: true, hint: 'the worker retries with backoff; check the store (cdc stack status)' });
}

/** The only module that talks to the document store for projections. */
export class DocumentStore {
  constructor(readonly db: Db) {}

  collection(name: string): Collection<StoredDoc> {
    return this.db.collection<StoredDoc>(name);
  }

  refCollection(table: string): Collection<RefDoc> {
    return this.db.collection<RefDoc>(`_ref_${table}`);
  }

  async fetch(collection: string, ids: DocId[]): Promise<Map<string, StoredDoc>> {
    const found = new Map<string, StoredDoc>();
    if (ids.length === 0) return found;
    try {
      for await (const doc of this.collection(collection).find({ _id: { $in: ids } })) found.set(String(doc._id), doc);
    } catch (cause) {
      throw storeError(`reading ${collection} failed`, cause);
    }
    return found;
  }

  /** Documents that embed one of the rows at an older position than given, or not at all yet. */
  async findStale(collection: string, refs: { key: string; pos: number }[]): Promise<StoredDoc[]> {
    if (refs.length === 0) return [];
    const stale = refs.map(({ key, pos }) => {
      const path = `_state.refs.${key}.pos`;
      return { _refKeys: key, $or: [{ [path]: { $lt: pos } }, { [path]: { $exists: false } }] };
    });
    try {
      return await this.collection(collection).find(stale.length === 1 ? (stale[0] as object) : { $or: stale }).toArray();
    } catch (cause) {
      throw storeError(`reading ${collection} by reference failed`, cause);
    }
  }

  /**
   * Writes documents as unordered compare-and-sets on `_rev`. A document changed by someone else
   * since it was read makes the filter miss; the upsert then collides with the existing `_id`
   * (E11000), which reports exactly which writes lost. Those ids are returned for a re-read.
   */
  async casWrite(collection: string, writes: CasWrite[]): Promise<DocId[]> {
    if (writes.length === 0) return [];
    const ops = writes.map((w) => ({ replaceOne: { filter: { _id: w.id, _rev: w.expectedRev }, replacement: w.doc, upsert: true } }));
    try {
      await this.collection(collection).bulkWrite(ops, { ordered: false });
      return [];
    } catch (err) {
      return writes.filter((_, i) => duplicateIndexes(err, collection).has(i)).map((w) => w.id);
    }
  }

  /** Newest-wins upserts of referenced rows; an older or repeated change is a no-op (E11000). */
  async writeRefs(table: string, refs: { id: DocId; pos: number; row: Row | null; unavailable: string[] }[]): Promise<void> {
    if (refs.length === 0) return;
    const ops = refs.map((r) => ({
      updateOne: {
        filter: { _id: r.id, $or: [{ pos: { $lt: r.pos } }, { pos: { $exists: false } }] },
        // With a TOASTed column left out, only the columns present are set, so it keeps its value.
        update: { $set: r.row === null || r.unavailable.length === 0 ? { pos: r.pos, row: r.row } : { pos: r.pos, ...prefixed('row', r.row) } },
        upsert: true,
      },
    }));
    try {
      await this.refCollection(table).bulkWrite(ops, { ordered: false });
    } catch (err) {
      duplicateIndexes(err, `_ref_${table}`);
    }
  }

  async fetchRefs(table: string, ids: DocId[]): Promise<Map<string, Slot>> {
    const found = new Map<string, Slot>();
    if (ids.length === 0) return found;
    try {
      for await (const ref of this.refCollection(table).find({ _id: { $in: ids } })) found.set(String(ref._id), { pos: ref.pos, row: ref.row });
    } catch (cause) {
      throw storeError(`reading _ref_${table} failed`, cause);
    }
    return found;
  }

  async ensureIndexes(collections: string[]): Promise<void> {
    for (const name of collections) {
      await this.collection(name).createIndex({ _refKeys: 1 });
      await this.collection(name).createIndex({ _visible: 1 });
    }
  }
}

function prefixed(prefix: string, row: Row): Row {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [`${prefix}.${k}`, v]));
}

/** Indexes of the operations that failed with E11000; any other failure is thrown. */
function duplicateIndexes(err: unknown, collection: string): Set<number> {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    const other = errors.find((e) => e.code !== DUPLICATE_KEY);
    if (other === undefined && errors.length > 0) return new Set(errors.map((e) => e.index));
    throw storeError(`bulk write to ${collection} failed`, other?.errmsg ?? err);
  }
  if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return new Set([0]);
  throw storeError(`bulk write to ${collection} failed`, err);
}
