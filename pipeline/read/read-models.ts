import { MongoError, MongoServerError, type Db } from 'mongodb';
import type { Projection } from '../../projections/types.js';
import { PipelineError } from '../errors.js';
import type { StoredDoc } from '../store/documents.js';
import type { Namespace } from '../store/generations.js';
import type { DocumentCache } from './document-cache.js';
import { readDocument, type ReadDocument } from './document-reader.js';

export interface Served<T> {
  found: ReadDocument<T> | null;
  rev: number;
  cache: 'hit' | 'miss';
}

/** Everything internal except `_state.rev`, which tells a torn read from a whole one. */
const INTERNAL = { '_state.slots': 0, '_state.refs': 0, '_state.derivedTo': 0, '_state.sent': 0, _refKeys: 0 } as const;

/** mongo-java-server can hand a reader a document mid-replace, mixing two writes: read it again. */
/**
 * A document read torn five times in a row (a store that tears and a writer that keeps writing it):
 * the API answers 503 rather than serve a mix of two writes.
 */
export class TornReadError extends Error {
  constructor(
    readonly collection: string,
    readonly id: unknown,
  ) {
    super(`${collection} document ${String(id)} kept reading torn`);
  }
}

function torn(raw: { _rev?: unknown; _state?: { rev?: unknown } } | null): boolean {
  return raw?._state?.rev !== undefined && raw._state.rev !== raw._rev;
}

/**
 * The store is down or unreachable (no server selected, network, not connected, timed out): a 503
 * for the client, not a 500. A MongoServerError means the store answered, with an error.
 */
export function isStoreUnavailable(err: unknown): boolean {
  return (
    (err instanceof MongoError && !(err instanceof MongoServerError)) ||
    (err instanceof PipelineError && err.code === 'COMPONENT_NOT_RUNNING')
  );
}

/**
 * Reads documents of one projection through the cache: a hit is served from Redis; a miss (or a
 * fence, or Redis down) reads the store and fills the entry, which Redis refuses if a newer
 * revision got there first. Either way the document goes through the typed reader.
 */
export class ReadModel {
  constructor(
    private readonly db: Db,
    readonly projection: Projection,
    private readonly cache: DocumentCache | undefined,
    /** Which generation to read (absent: the bare collection name). */
    private readonly namespace?: Namespace,
  ) {}

  /**
   * The active generation's collection, re-read at most once a second (a switch reaches readers
   * within that). The store being down is answered by the read that follows, not here.
   */
  async collectionName(fresh = false): Promise<string> {
    await this.namespace?.refresh(fresh ? 0 : 1000).catch(() => undefined);
    return this.namespace?.physical(this.projection.collection) ?? this.projection.collection;
  }

  async get(id: number, fresh = false): Promise<Served<Record<string, unknown>>> {
    const collection = await this.collectionName(fresh);
    const cached = await this.cache?.get(collection, id);
    if (cached?.kind === 'hit') {
      return {
        found: cached.doc === null ? null : this.parse({ _id: id, ...cached.doc }),
        rev: cached.rev,
        cache: 'hit',
      };
    }
    let raw = await this.db.collection<StoredDoc>(collection).findOne({ _id: id }, { projection: INTERNAL });
    for (let attempt = 0; torn(raw) && attempt < 5; attempt++)
      raw = await this.db.collection<StoredDoc>(collection).findOne({ _id: id }, { projection: INTERNAL });
    const rev = raw?._rev ?? 0;
    if (raw === null) {
      await this.cache?.fill(collection, id, 0, null);
      return { found: null, rev, cache: 'miss' };
    }
    if (torn(raw)) throw new TornReadError(collection, id);
    const { _rev, _visible, _state, ...fields } = raw;
    await this.cache?.fill(collection, id, rev, _visible ? fields : null);
    return { found: _visible ? this.parse(raw) : null, rev, cache: 'miss' };
  }

  /** Documents matching a filter, newest first: a query, served from the store only. */
  async page(
    filter: Record<string, unknown>,
    sort: Record<string, 1 | -1>,
    page: number,
    pageSize: number,
  ): Promise<{ total: number; docs: Record<string, unknown>[] }> {
    const collection = this.db.collection<StoredDoc>(await this.collectionName());
    const query = { ...filter, _visible: true };
    const [total, raws] = await Promise.all([
      collection.countDocuments(query),
      collection
        .find(query, { projection: INTERNAL })
        .sort(sort)
        .skip((page - 1) * pageSize)
        .limit(pageSize)
        .toArray(),
    ]);
    const whole = await Promise.all(
      raws.map(async (r) => {
        let raw: StoredDoc | null = r;
        for (let attempt = 0; torn(raw) && attempt < 5; attempt++)
          raw = await collection.findOne({ _id: r._id }, { projection: INTERNAL });
        if (torn(raw)) throw new TornReadError(collection.collectionName, r._id);
        return raw ?? r;
      }),
    );
    return { total, docs: whole.map((r) => this.parse(r).doc) };
  }

  private parse(raw: Record<string, unknown>): ReadDocument<Record<string, unknown>> {
    return readDocument(this.projection.documents, this.projection.name, raw) as ReadDocument<Record<string, unknown>>;
  }
}
