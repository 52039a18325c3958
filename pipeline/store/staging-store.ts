import type { Db } from 'mongodb';
import type { DocId } from '../../projections/types.js';
import { PipelineError } from '../errors.js';
import { DocumentStore, type RefDoc, type StoredDoc } from './documents.js';
import type { Namespace } from './generations.js';
import { compactState } from './stored-state.js';

interface Held {
  doc: { _id: unknown } & Record<string, unknown>;
  /** In the store already (replace it), or only here (insert it). */
  stored: boolean;
  dirty: boolean;
}

/**
 * A rebuild's store before its switch, when nobody else writes the generation: documents live in
 * memory and reach the store at `flush()`, each written once however many changes it took, as
 * plain inserts into empty collections. `flush()` runs when the memory budget is reached and
 * before the switch; what was written is then recorded as a checkpoint (the rebuild resumes from
 * it), since the consumer's own commits run ahead of it.
 */
export class StagingStore extends DocumentStore {
  private readonly held = new Map<string, Map<string, Held>>();
  /** Collections that may hold documents not in memory (not empty at start, or flushed and evicted). */
  private readonly spilled = new Set<string>();
  /** True until the rebuild's switch; then every call goes to the store, with compare-and-set. */
  exclusive = true;

  constructor(
    db: Db,
    namespace: Namespace,
    /** Documents kept in memory before a flush evicts them. */
    readonly budget: number,
  ) {
    super(db, namespace);
  }

  /** Collections with documents from an earlier run are read through on a miss. */
  async open(collections: string[]): Promise<void> {
    for (const c of collections) if ((await this.db.collection(this.physical(c)).estimatedDocumentCount()) > 0) this.spilled.add(c);
  }

  get size(): number {
    let n = 0;
    for (const m of this.held.values()) n += m.size;
    return n;
  }

  private mem(collection: string): Map<string, Held> {
    let m = this.held.get(collection);
    if (m === undefined) this.held.set(collection, (m = new Map()));
    return m;
  }

  /** Memory first; a miss reads the store only where it may hold the document. */
  private async lookup<T>(collection: string, ids: string[], read: (missing: string[]) => Promise<Map<string, T>>): Promise<Map<string, T>> {
    const m = this.mem(collection);
    const out = new Map<string, T>();
    const missing: string[] = [];
    for (const id of ids) {
      const h = m.get(id);
      // A copy: the engine folds into what it reads, and may then decide not to write it.
      if (h !== undefined) out.set(id, structuredClone(h.doc) as T);
      else missing.push(id);
    }
    if (missing.length > 0 && this.spilled.has(collection)) {
      for (const [id, doc] of await read(missing)) {
        // Written here while the store was read (reads of one collection can overlap): the held
        // document is newer than the stored one, and replacing it would lose that write. It is
        // in the store, though, so its flush must replace rather than insert.
        const meanwhile = m.get(id);
        if (meanwhile !== undefined) {
          meanwhile.stored = true;
          out.set(id, structuredClone(meanwhile.doc) as T);
          continue;
        }
        m.set(id, { doc: doc as Held['doc'], stored: true, dirty: false });
        out.set(id, structuredClone(doc));
      }
    }
    return out;
  }

  override async fetch(collection: string, ids: DocId[]): Promise<Map<string, StoredDoc>> {
    if (!this.exclusive) return super.fetch(collection, ids);
    return this.lookup(collection, ids.map(String), (missing) => super.fetch(collection, missing.map(Number)));
  }

  override async fetchRefs(table: string, ids: DocId[]): Promise<Map<string, RefDoc>> {
    if (!this.exclusive) return super.fetchRefs(table, ids);
    return this.lookup(`_ref_${table}`, ids.map(String), (missing) => super.fetchRefs(table, missing.map(Number)));
  }

  override async referencingDocs(collection: string, refKeys: string[]): Promise<Map<string, DocId[]>> {
    if (!this.exclusive) return super.referencingDocs(collection, refKeys);
    const found = await this.refIndexEntries(collection, refKeys);
    return new Map([...found].map(([key, entry]) => [key, entry.docs]));
  }

  /** `_refidx_<collection>` entries, from memory or (read through) the store. */
  private refIndexEntries(collection: string, refKeys: string[]): Promise<Map<string, { _id: string; docs: DocId[] }>> {
    return this.lookup(`_refidx_${collection}`, refKeys, async (missing) => {
      const docs = await super.referencingDocs(collection, missing);
      return new Map([...docs].map(([key, ids]) => [key, { _id: key, docs: ids }]));
    });
  }

  override async addReferences(collection: string, added: Map<string, DocId[]>): Promise<void> {
    if (!this.exclusive) return super.addReferences(collection, added);
    const current = await this.refIndexEntries(collection, [...added.keys()]);
    const m = this.mem(`_refidx_${collection}`);
    for (const [key, ids] of added) {
      const held = m.get(key);
      const docs = current.get(key)?.docs ?? [];
      const merged = [...docs, ...ids.filter((id) => !docs.some((d) => String(d) === String(id)))];
      m.set(key, { doc: { _id: key, docs: merged }, stored: held?.stored ?? false, dirty: true });
    }
  }

  /** Never loses: nobody else writes these collections. */
  override async casWrite<D extends { _id: DocId; _rev: number }>(collection: string, writes: { id: DocId; expectedRev: number; doc: D }[]): Promise<DocId[]> {
    if (!this.exclusive) return super.casWrite(collection, writes);
    const m = this.mem(collection);
    for (const w of writes) {
      const held = m.get(String(w.id));
      m.set(String(w.id), { doc: w.doc as unknown as Held['doc'], stored: held?.stored ?? false, dirty: true });
    }
    return [];
  }

  /** Writes every changed document (inserts, or replaces by `_id`), then evicts if over budget. */
  async flush(): Promise<number> {
    let written = 0;
    // Rows and the reference index before the documents, as the engine's protocol has it: a flush
    // cut short must never leave a document in the store that `_refidx` does not list (a later
    // change of a row it embeds would not reach it), and resuming redoes the documents.
    const order = [...this.held].sort(([a], [b]) => Number(!a.startsWith('_ref')) - Number(!b.startsWith('_ref')));
    for (const [collection, m] of order) {
      const dirty = [...m.values()].filter((h) => h.dirty);
      for (let i = 0; i < dirty.length; i += 1000) {
        const slice = dirty.slice(i, i + 1000);
        const ops = slice.map((h) => {
          const doc = compactState(h.doc);
          return h.stored ? { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } } : { insertOne: { document: doc } };
        });
        try {
          await this.timed(`flush ${collection}`, ops.length, () => this.db.collection(this.physical(collection)).bulkWrite(ops as never, { ordered: false }));
        } catch (cause) {
          // Some of the slice may have landed: the retry replaces by _id rather than inserting twice.
          for (const h of slice) h.stored = true;
          throw new PipelineError('STORE_WRITE_FAILED', `flushing ${collection} of the rebuild failed`, { cause, retriable: true, hint: 'the rebuild retries; it resumes from its last checkpoint if stopped' });
        }
        for (const h of slice) {
          h.stored = true;
          h.dirty = false;
        }
        written += slice.length;
      }
    }
    if (this.size > this.budget || !this.exclusive) {
      for (const collection of this.held.keys()) this.spilled.add(collection);
      this.held.clear();
    }
    return written;
  }
}
