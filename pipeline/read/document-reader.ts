import type { Collection, Db } from 'mongodb';
import { customerViews } from '../../projections/customer-views.js';
import { orderViews } from '../../projections/order-views.js';
import type { DocId, Projection } from '../../projections/types.js';
import type { CustomerView } from '../../schemas/documents/customer-view.js';
import type { OrderView } from '../../schemas/documents/order-view.js';
import type { VersionHistory } from '../../schemas/versioned.js';
import { PipelineError } from '../errors.js';
import type { StoredDoc } from '../store/documents.js';

/** Fields that are the engine's, never the reader's. */
const INTERNAL = { _state: 0, _refKeys: 0 } as const;

export interface ReadDocument<T> {
  doc: T;
  /** The version the document is stored at (older ones are upcast on read). */
  storedVersion: number;
}

/**
 * Reads one projection's documents for the read side: only visible ones, internal fields
 * dropped, older versions upcast to the reader's version and everything validated. A document
 * newer than the reader is read through the reader's newest schema: document versions only add
 * fields (README, "Evolving a schema"), so a reader one release behind keeps working during a
 * rolling upgrade.
 */
export class DocumentReader<T> {
  constructor(
    private readonly collection: Collection<StoredDoc>,
    private readonly history: VersionHistory<T>,
    readonly projection: string,
  ) {}

  static of<T>(db: Db, projection: Projection, history: VersionHistory<T>): DocumentReader<T> {
    return new DocumentReader<T>(db.collection<StoredDoc>(projection.collection), history, projection.name);
  }

  async get(id: DocId): Promise<ReadDocument<T> | null> {
    const raw = await this.collection.findOne({ _id: id }, { projection: INTERNAL });
    return raw === null || raw._visible !== true ? null : this.parse(raw);
  }

  async getMany(ids: DocId[]): Promise<ReadDocument<T>[]> {
    const out: ReadDocument<T>[] = [];
    for await (const raw of this.collection.find({ _id: { $in: ids } }, { projection: INTERNAL })) if (raw._visible === true) out.push(this.parse(raw));
    return out;
  }

  parse(raw: Record<string, unknown>): ReadDocument<T> {
    return readDocument(this.history, this.projection, raw);
  }
}

/** Upcasts and validates one stored document (see DocumentReader). Pure. */
export function readDocument<T>(history: VersionHistory<T>, projection: string, raw: Record<string, unknown>): ReadDocument<T> {
  const { _id, _rev, _visible, _state, _refKeys, ...fields } = raw;
  const storedVersion = typeof fields['schemaVersion'] === 'number' ? fields['schemaVersion'] : 0;
  const newer = storedVersion > history.current;
  const result = history.upcast(newer ? history.current : storedVersion, newer ? { ...fields, schemaVersion: history.current } : fields);
  if (!result.ok) {
    throw new PipelineError('DOCUMENT_INVALID', `${projection} document ${String(_id)} (schemaVersion ${storedVersion}) failed validation: ${result.reason}`, {
      hint: `rebuild ${projection}, or fix the worker that wrote it`,
    });
  }
  return { doc: result.value, storedVersion };
}

export function orderViewsReader(db: Db): DocumentReader<OrderView> {
  return DocumentReader.of(db, orderViews, orderViews.documents as VersionHistory<OrderView>);
}

export function customerViewsReader(db: Db): DocumentReader<CustomerView> {
  return DocumentReader.of(db, customerViews, customerViews.documents as VersionHistory<CustomerView>);
}
