import type { Projection } from '../../projections/types.js';
import type { Projector } from '../engine/projector.js';
import type { DocumentStore } from './documents.js';

export interface UpgradeReport {
  collection: string;
  /** Documents found below the current version. */
  older: number;
  rewritten: number;
}

/**
 * Rewrites every document of a projection stored below the worker's version, from its stored
 * state: workers rewrite what they touch, this does the rest, so the store converges to the new
 * version without a rebuild. Safe beside running workers (compare-and-set, like every write).
 * The filter is a scan on a store without secondary indexes: an operator command, not a hot path.
 */
export async function upgradeDocuments(store: DocumentStore, projector: Projector, projection: Projection, batch = 500): Promise<UpgradeReport> {
  const ids = await store
    .collection(projection.collection)
    .find({ schemaVersion: { $lt: projection.schemaVersion } }, { projection: { _id: 1 } })
    .map((d) => d._id)
    .toArray();
  let rewritten = 0;
  for (let i = 0; i < ids.length; i += batch) {
    const stats = await projector.rewrite(projection, ids.slice(i, i + batch));
    rewritten += stats.written[projection.collection] ?? 0;
  }
  return { collection: projection.collection, older: ids.length, rewritten };
}
