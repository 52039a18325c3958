import { z } from 'zod';

/**
 * Column codecs matching connectors/shop-postgres-source.json: decimal.handling.mode=string,
 * time.precision.mode=isostring, jsonb as a JSON string.
 */

/** bigint/bigserial keys arrive as JSON numbers; the shop's ids stay below 2^53. */
export const Id = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** timestamptz: an ISO-8601 string in UTC with up to microsecond precision. */
export const Timestamptz = z.iso.datetime({ offset: true });

/** numeric: the exact decimal text, scale kept ("43.00"). */
export const DecimalString = z.string().regex(/^-?\d+(\.\d+)?$/, 'a decimal string such as "43.00"');

/**
 * Source data is data: a JSONB key such as "weight.kg" or "$where" must never become a MongoDB
 * path or operator. Keys are escaped reversibly: "%" → "%25", "." → "%2E", a leading "$" → "%24".
 */
export function escapeKey(key: string): string {
  const escaped = key.replaceAll('%', '%25').replaceAll('.', '%2E');
  return escaped.startsWith('$') ? `%24${escaped.slice(1)}` : escaped;
}

export function unescapeKey(key: string): string {
  return key.replace(/^%24/, '$').replaceAll('%2E', '.').replaceAll('%25', '%');
}

export function escapeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(escapeKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [escapeKey(k), escapeKeys(v)]));
  }
  return value;
}

/** jsonb: Debezium sends the document as a JSON string; parsed here, keys escaped. */
export const Jsonb = z.string().transform((text, ctx) => {
  try {
    return escapeKeys(JSON.parse(text)) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'jsonb column is not valid JSON' });
    return z.NEVER;
  }
});
