/**
 * What a projection asks the store to do, without naming the driver. The writer in pipeline/store/
 * turns these into bulk-write operations; projections stay pure and unit-testable.
 */
export type WriteModel =
  | {
      kind: 'upsert';
      collection: string;
      id: string | number;
      /** Fields this source row owns in the document. */
      set: Record<string, unknown>;
      /** Name of the contribution (source table and row), and the change position guarding it. */
      source: string;
      position: number;
    }
  | { kind: 'delete'; collection: string; id: string | number; source: string; position: number };
