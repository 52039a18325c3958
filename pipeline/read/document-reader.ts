import type { VersionHistory } from '../../schemas/versioned.js';
import { PipelineError } from '../errors.js';

export interface ReadDocument<T> {
  doc: T;
  /** The version the document is stored at (older ones are upcast on read). */
  storedVersion: number;
}

/**
 * The typed reader: upcasts one stored document to the reader's version and validates it, internal
 * fields dropped. A document newer than the reader is read through the reader's newest schema:
 * document versions only add fields (README, "Evolving a schema"), so a reader one release behind
 * keeps working during a rolling upgrade. Pure; pipeline/read/read-models.ts does the I/O.
 */
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
