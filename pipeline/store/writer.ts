import { MongoBulkWriteError, type AnyBulkWriteOperation, type Db } from 'mongodb';
import type { WriteModel } from '../../projections/write-model.js';
import { PipelineError } from '../errors.js';

const DUPLICATE_KEY = 11000;

/** A projected document: keyed by the source's id, otherwise open. */
export interface ViewDocument {
  _id: string | number;
  [field: string]: unknown;
}

/**
 * Guarded upsert: matches only when the stored contribution is older than this change. When the
 * document holds a newer one the filter misses, the upsert tries to insert the same _id and fails
 * with E11000: that failure *is* the guard, and is expected.
 */
export function toBulkOperation(model: WriteModel): AnyBulkWriteOperation<ViewDocument> {
  const versionPath = `_positions.${model.source}`;
  const olderOrMissing = { $or: [{ [versionPath]: { $lt: model.position } }, { [versionPath]: { $exists: false } }] };
  if (model.kind === 'delete') {
    return { deleteOne: { filter: { _id: model.id, $or: olderOrMissing.$or } } };
  }
  return {
    updateOne: {
      filter: { _id: model.id, ...olderOrMissing },
      update: { $set: { ...model.set, [versionPath]: model.position } },
      upsert: true,
    },
  };
}

export interface WriteResult {
  applied: number;
  stale: number;
}

/** Executes write models as unordered bulk writes, one per collection. */
export async function writeModels(db: Db, models: WriteModel[]): Promise<WriteResult> {
  const byCollection = new Map<string, AnyBulkWriteOperation<ViewDocument>[]>();
  for (const m of models) {
    const ops = byCollection.get(m.collection) ?? [];
    ops.push(toBulkOperation(m));
    byCollection.set(m.collection, ops);
  }
  const result: WriteResult = { applied: 0, stale: 0 };
  for (const [collection, ops] of byCollection) {
    try {
      const r = await db.collection<ViewDocument>(collection).bulkWrite(ops, { ordered: false });
      result.applied += r.upsertedCount + r.modifiedCount + r.deletedCount;
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) {
        throw new PipelineError('STORE_WRITE_FAILED', `bulk write to ${collection} failed`, { cause: err, retriable: true });
      }
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      const real = errors.filter((e) => e.code !== DUPLICATE_KEY);
      if (real.length > 0) {
        throw new PipelineError('STORE_WRITE_FAILED', `bulk write to ${collection}: ${real.length} operations failed`, {
          cause: real[0]?.errmsg,
          retriable: true,
        });
      }
      result.stale += errors.length;
      result.applied += err.result.upsertedCount + err.result.modifiedCount + err.result.deletedCount;
    }
  }
  return result;
}
