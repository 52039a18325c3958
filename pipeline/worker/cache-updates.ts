import type { Counter } from 'prom-client';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DocumentCache } from '../read/document-cache.js';
import type { WrittenDoc } from '../store/documents.js';

/**
 * Keeps the read side's cache coherent with the projector's writes, including when an update
 * fails. A failed update leaves a key pending; pending keys are fenced at their written revision
 * before the round is acknowledged (`settle`), so no reader is served an entry older than a
 * document whose offsets were committed.
 *
 * Redis answering but failing (a timeout under load) fails the round: it is retried with backoff
 * and commits nothing, and the retry fences the keys even when the store writes are already done.
 * Redis unreachable does not stop the projection: readers cannot reach it either and go to the
 * store; a restarted Redis is empty (no persistence), and a Redis that was only cut off from this
 * worker has its pending keys fenced as soon as the connection reopens.
 */
export class CacheUpdates {
  private readonly pending = new Map<string, number>();
  private failures = 0;

  constructor(
    private readonly cache: DocumentCache,
    private readonly log: Logger,
    private readonly failed: Pick<Counter, 'inc'>,
  ) {
    cache.onReady(() => void this.settle().catch((err: unknown) => this.log.warn({ err: String(err), pending: this.pending.size, event: 'cache_fence_failed' }, 'pending cache entries not fenced yet; retried with the next round')));
  }

  /** Keys whose update failed and that are not fenced yet. */
  get pendingKeys(): number {
    return this.pending.size;
  }

  async written(collection: string, docs: WrittenDoc[]): Promise<void> {
    try {
      await this.cache.written(collection, docs);
    } catch (err) {
      this.failed.inc();
      if (this.failures++ % 100 === 0) this.log.warn({ err: String(err), failures: this.failures, event: 'cache_update_failed' }, 'cache update failed: the entries are fenced before the round is acknowledged');
      for (const d of docs) {
        const key = this.cache.key(collection, d.id);
        this.pending.set(key, Math.max(d.rev, this.pending.get(key) ?? 0));
      }
    }
  }

  /** Before a round is acknowledged: fence every pending key, or fail the round while Redis answers but cannot take them. */
  async settle(): Promise<void> {
    if (this.pending.size === 0 || !this.cache.connected()) return;
    const entries = [...this.pending].map(([key, rev]) => ({ key, rev }));
    try {
      await this.cache.fence(entries);
    } catch (err) {
      if (!this.cache.connected()) return;
      throw new PipelineError('CACHE_UPDATE_FAILED', `${entries.length} cache entries could not be updated or fenced`, {
        retriable: true,
        cause: err,
        hint: 'Redis is reachable but not answering in time (check its CPU, memory and slowlog); the round is retried and nothing is committed until the entries are fenced',
      });
    }
    // A key written again while the fence ran keeps its newer revision pending.
    for (const { key, rev } of entries) if (this.pending.get(key) === rev) this.pending.delete(key);
  }
}
