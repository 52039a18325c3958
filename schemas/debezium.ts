import { z } from 'zod';

/**
 * Debezium's PostgreSQL change event, as the JSON converter writes it with schemas disabled
 * (connectors/shop-postgres-source.json). Only what the pipeline reads is checked and kept; other
 * fields are allowed and dropped (a loose object copied them all, for nobody).
 */
export const SourceSchema = z.object({
  connector: z.literal('postgresql'),
  name: z.string(),
  ts_ms: z.number().int(),
  snapshot: z.enum(['true', 'first', 'first_in_data_collection', 'last_in_data_collection', 'last', 'false', 'incremental']).optional(),
  db: z.string(),
  schema: z.string(),
  table: z.string(),
  txId: z.number().int().nullable().optional(),
  lsn: z.number().int().nullable().optional(),
  /** `["<last commit lsn>", "<lsn>"]`, as strings; an incremental snapshot's reads carry only this. */
  sequence: z.string().nullable().optional(),
});
export type Source = z.infer<typeof SourceSchema>;

export const OpSchema = z.enum(['c', 'r', 'u', 'd', 't']);
export type Op = z.infer<typeof OpSchema>;

/**
 * A row image, left as it came: rows are validated per table after the TOAST placeholders are
 * taken out (schemas/decode-change.ts). Checked for being an object, not copied: on a one-table
 * worker, zod's copies of the envelope were a quarter of all it allocated.
 */
const RawRow = z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected a row object');

/** The envelope with rows as raw objects (see RawRow). */
export const EnvelopeSchema = z.object({
  before: RawRow.nullable().optional(),
  after: RawRow.nullable().optional(),
  source: SourceSchema,
  op: OpSchema,
  ts_ms: z.number().int().optional(),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

/** Placeholder Debezium writes for a TOASTed column an update left untouched. */
export const UNAVAILABLE_VALUE = '__debezium_unavailable_value';

/** Debezium's heartbeat topics: `__debezium-heartbeat.<topic.prefix>`. */
export function isHeartbeatTopic(topic: string): boolean {
  return topic.startsWith('__debezium-heartbeat.');
}
