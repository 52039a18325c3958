/**
 * A row change after decoding: the one shape projections see, whatever the source topic.
 * `row` holds only the columns that were available: a TOASTed column an update left untouched
 * is absent (and named in `unavailable`), so the projection keeps the value it already has.
 */
export interface RowChange {
  /** The source table; for an outbox event, its type (e.g. `payment.captured`). */
  table: string;
  /** The primary key, as a string: the identity of the source row (an event's id). */
  id: string;
  op: 'upsert' | 'delete';
  /** The new row for an upsert; for a delete, the old row only when the table has FULL identity. */
  row: Record<string, unknown> | null;
  /** The old row, only for tables with FULL replica identity (else null: it cannot be trusted). */
  before: Record<string, unknown> | null;
  unavailable: string[];
  /** Where the change sits in the source's history: Debezium's source.lsn. Grows per row. */
  position: number;
  txId: number | null;
  /** Commit time in the source (source.ts_ms). */
  sourceTsMs: number;
  snapshot: boolean;
}
