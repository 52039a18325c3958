import { z } from 'zod';

/**
 * Debezium's PostgreSQL change event, as the JSON converter writes it with schemas disabled
 * (connectors/shop-postgres-source.json). Only what the pipeline reads is required; the rest passes.
 */
export const SourceSchema = z.looseObject({
  connector: z.literal('postgresql'),
  name: z.string(),
  ts_ms: z.number().int(),
  snapshot: z.enum(['true', 'first', 'first_in_data_collection', 'last_in_data_collection', 'last', 'false', 'incremental']).optional(),
  db: z.string(),
  schema: z.string(),
  table: z.string(),
  txId: z.number().int().nullable().optional(),
  lsn: z.number().int().nullable().optional(),
});
export type Source = z.infer<typeof SourceSchema>;

export const OpSchema = z.enum(['c', 'r', 'u', 'd', 't']);
export type Op = z.infer<typeof OpSchema>;

/** The envelope around one row change, parameterised by the table's row schema. */
export function changeEnvelope<Row extends z.ZodType>(row: Row) {
  return z.looseObject({
    before: row.nullable().optional(),
    after: row.nullable().optional(),
    source: SourceSchema,
    op: OpSchema,
    ts_ms: z.number().int().optional(),
  });
}

/** Placeholder Debezium writes for a TOASTed column an update left untouched. */
export const UNAVAILABLE_VALUE = '__debezium_unavailable_value';

/** Debezium writes timestamptz as an ISO-8601 string in UTC with up to microsecond precision. */
export const Timestamptz = z.iso.datetime({ offset: true });

/** numeric with decimal.handling.mode=string: the exact decimal text, scale kept ("43.00"). */
export const DecimalString = z.string().regex(/^-?\d+(\.\d+)?$/, 'a decimal string such as "43.00"');

/** bigint/bigserial keys arrive as JSON numbers; the shop's ids stay below 2^53. */
export const Id = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
