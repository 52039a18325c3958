import { setTimeout as sleep } from 'node:timers/promises';
import { isPipelineError } from '../errors.js';
import { isTransientStoreFailure } from '../store/store-failures.js';

/**
 * Store outages are not poison: they are retried, never dead-lettered. Anything else (a projection
 * that throws, a write the store refuses) is about the records, which the consumer isolates.
 */
export function isRetriable(err: unknown): boolean {
  if (isPipelineError(err)) return err.retriable;
  return isTransientStoreFailure(err);
}

export interface RetryOptions {
  /** Called between attempts, e.g. to keep the consumer's group membership alive. */
  beforeRetry?: (attempt: number, delayMs: number, err: unknown) => Promise<void>;
  /** Stop retrying (and rethrow) when this turns true, e.g. on shutdown. */
  shouldStop?: () => boolean;
  initialMs?: number;
  maxMs?: number;
}

/** Retries retriable failures with capped exponential backoff and jitter, without limit. */
export async function withRetry<T>(operation: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const initial = opts.initialMs ?? 200;
  const max = opts.maxMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (err) {
      if (!isRetriable(err) || opts.shouldStop?.() === true) throw err;
      const delay = Math.min(max, initial * 2 ** Math.min(attempt - 1, 16)) * (0.5 + Math.random() / 2);
      await opts.beforeRetry?.(attempt, delay, err);
      await sleep(delay);
    }
  }
}
