import type { z } from 'zod';
import type { RowChange } from './change.js';
import { EnvelopeSchema, isHeartbeatTopic, UNAVAILABLE_VALUE } from './debezium.js';
import { ownValue } from './own-key.js';
import { KeySchema } from './shop-rows.js';

export interface TableSpec {
  row: z.ZodType<Record<string, unknown>>;
  identity: 'default' | 'full';
}

export type Decoded =
  | { kind: 'change'; change: RowChange }
  /** Heartbeats, Kafka tombstones (the delete before them did the work), truncates. */
  | { kind: 'skip'; why: string }
  | { kind: 'invalid'; reason: string }
  /** Valid as far as this worker can tell, but newer than it knows: kept for a later replay. */
  | { kind: 'park'; reason: string };

export interface RawMessage {
  topic: string;
  key: string | null;
  value: string | null;
  /** Kafka headers as UTF-8 text (the outbox router puts event type and version there). */
  headers?: Record<string, string | undefined>;
  /** The record's timestamp in ms (for routed outbox events, the source commit time). */
  timestamp?: number;
}

export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function withoutPlaceholders(row: Record<string, unknown>): { row: Record<string, unknown>; unavailable: string[] } {
  // Almost no row has a placeholder: find out without building a list of its keys.
  let any = false;
  for (const k in row) if (row[k] === UNAVAILABLE_VALUE) any = true;
  if (!any) return { row, unavailable: [] };
  const unavailable = Object.keys(row).filter((k) => row[k] === UNAVAILABLE_VALUE);
  return { row: Object.fromEntries(Object.entries(row).filter(([k]) => !unavailable.includes(k))), unavailable };
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * Decodes one Kafka record of a Debezium topic. Pure: no I/O, no clock. Never throws for bad
 * input: an unusable record comes back as `invalid` with a reason fit for a dead-letter header.
 */
export function decodeChange(message: RawMessage, tables: Record<string, TableSpec>): Decoded {
  if (isHeartbeatTopic(message.topic)) return { kind: 'skip', why: 'heartbeat' };
  if (message.value === null) return { kind: 'skip', why: 'tombstone' };
  if (message.key === null) return { kind: 'invalid', reason: 'record has no key' };
  const keyJson = parseJson(message.key);
  const key = keyJson.ok ? KeySchema.safeParse(keyJson.value) : undefined;
  if (key === undefined || !key.success) return { kind: 'invalid', reason: `key is not {"id": <integer>}: ${message.key.slice(0, 200)}` };
  const valueJson = parseJson(message.value);
  if (!valueJson.ok) return { kind: 'invalid', reason: 'value is not JSON' };
  const envelope = EnvelopeSchema.safeParse(valueJson.value);
  if (!envelope.success) return { kind: 'invalid', reason: `not a Debezium change event: ${issues(envelope.error)}` };
  const e = envelope.data;
  if (e.op === 't') return { kind: 'skip', why: 'truncate' };
  const spec = ownValue(tables, e.source.table);
  if (spec === undefined) return { kind: 'invalid', reason: `no projection reads table ${e.source.schema}.${e.source.table}` };
  const position = e.source.lsn ?? (e.source.snapshot === 'incremental' ? sequenceLsn(e.source.sequence) : undefined);
  if (position === null || position === undefined) return { kind: 'invalid', reason: 'change event has no source.lsn' };

  const parseRow = (raw: Record<string, unknown> | null | undefined, which: string) => {
    if (raw === null || raw === undefined) return { ok: true as const, row: null, unavailable: [] as string[] };
    const stripped = withoutPlaceholders(raw);
    const parsed = spec.row.safeParse(stripped.row);
    if (!parsed.success) return { ok: false as const, reason: `${which} of ${e.source.table} invalid: ${issues(parsed.error)}` };
    return { ok: true as const, row: parsed.data, unavailable: stripped.unavailable };
  };

  const isDelete = e.op === 'd';
  const after = isDelete ? { ok: true as const, row: null, unavailable: [] } : parseRow(e.after, 'after');
  if (!after.ok) return { kind: 'invalid', reason: after.reason };
  if (!isDelete && after.row === null) return { kind: 'invalid', reason: `op ${e.op} without an after image` };
  // With DEFAULT identity a delete's `before` holds type defaults outside the key: never read it.
  const before = spec.identity === 'full' ? parseRow(e.before, 'before') : { ok: true as const, row: null, unavailable: [] };
  if (!before.ok) return { kind: 'invalid', reason: before.reason };
  const id = String(key.data.id);
  if (after.row !== null && String(after.row['id']) !== id) return { kind: 'invalid', reason: `key id ${id} differs from the row's id` };

  return {
    kind: 'change',
    change: {
      table: e.source.table,
      id,
      op: isDelete ? 'delete' : 'upsert',
      row: isDelete ? before.row : after.row,
      before: before.row,
      unavailable: after.unavailable,
      position,
      txId: e.source.txId ?? null,
      sourceTsMs: e.source.ts_ms,
      snapshot: e.source.snapshot !== undefined && e.source.snapshot !== 'false',
    },
  };
}

/**
 * An incremental snapshot's read has `lsn: null` and the streaming position at which its chunk's
 * window closed as the last entry of `sequence`. Debezium drops from the chunk every row changed
 * while the window was open, so that position orders the read after every change it reflects
 * and before every later one: the right guard position.
 */
export function sequenceLsn(sequence: string | null | undefined): number | undefined {
  if (sequence === null || sequence === undefined) return undefined;
  try {
    const parts: unknown = JSON.parse(sequence);
    const last = Array.isArray(parts) ? parts[parts.length - 1] : undefined;
    const lsn = typeof last === 'string' && /^\d+$/.test(last) ? Number(last) : undefined;
    return lsn !== undefined && Number.isSafeInteger(lsn) ? lsn : undefined;
  } catch {
    return undefined;
  }
}
