import { z } from 'zod';
import type { RowChange } from './change.js';
import { parseJson, type Decoded, type RawMessage } from './decode-change.js';
import type { EventSpec } from './events/registry.js';
import { ownValue } from './own-key.js';

/**
 * What Debezium's outbox event router writes (connectors/shop-postgres-source.json): the
 * aggregate id as the key, the outbox row's `payload` (jsonb, so a JSON string) as the value, and
 * the row's `id`, `type` and `schema_version` as the headers `id`, `eventType`, `schemaVersion`.
 */
export const EventHeadersSchema = z.object({
  id: z.string({ error: 'missing (the outbox row id)' }).min(1),
  eventType: z.string({ error: 'missing' }).min(1),
  schemaVersion: z.string({ error: 'missing' }).regex(/^\d+$/, 'must be a positive integer'),
});

/** Events are facts: each is its own slot, so any one position makes a duplicate a no-op. */
export const EVENT_POSITION = 1;

/**
 * Decodes one routed outbox event and upcasts it to the current version of its type. Pure. An
 * event of a type or version this worker does not know is parked, not rejected: a newer worker
 * will project it after a replay.
 */
export function decodeEvent(message: RawMessage, events: Readonly<Record<string, EventSpec>>): Decoded {
  if (message.value === null) return { kind: 'skip', why: 'tombstone' };
  const headers = EventHeadersSchema.safeParse(message.headers ?? {});
  if (!headers.success) return { kind: 'invalid', reason: `outbox event header ${headers.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
  const { id, eventType, schemaVersion } = headers.data;
  const spec = ownValue(events, eventType);
  if (spec === undefined) return { kind: 'park', reason: `event type ${eventType} is unknown to this worker: upgrade the worker, then replay the parked events` };
  const outer = parseJson(message.value);
  if (!outer.ok) return { kind: 'invalid', reason: `${eventType} value is not JSON` };
  // jsonb arrives as a JSON string holding the document; an expanded payload arrives as an object.
  const payload = typeof outer.value === 'string' ? parseJson(outer.value) : outer;
  if (!payload.ok) return { kind: 'invalid', reason: `${eventType} payload is not JSON` };
  const upcast = spec.history.upcast(Number(schemaVersion), payload.value);
  if (!upcast.ok) return upcast.kind === 'future' ? { kind: 'park', reason: upcast.reason } : { kind: 'invalid', reason: upcast.reason };
  const change: RowChange = {
    table: eventType,
    id,
    op: 'upsert',
    row: upcast.value as Record<string, unknown>,
    before: null,
    unavailable: [],
    position: EVENT_POSITION,
    txId: null,
    sourceTsMs: message.timestamp ?? 0,
    snapshot: false,
  };
  return { kind: 'change', change };
}
