import { BSON } from 'mongodb';
import { Redis } from 'ioredis';
import type { DocId } from '../../projections/types.js';
import type { Logger } from '../logger.js';
import type { WrittenDoc } from '../store/documents.js';

const { EJSON } = BSON;

/**
 * Sets an entry only if it is newer than what Redis holds (or fills a fence at its own revision):
 * a slow fill racing an update can never put an older document back. KEYS[1] entry; ARGV rev, body (EJSON, "null" for a document that is
 * absent or not visible), ttl ms. A hash {rev, body}; a hash with rev and no body is a fence.
 */
const FILL = `
local cur = redis.call('HGET', KEYS[1], 'rev')
if cur then
  local held = tonumber(cur)
  local offered = tonumber(ARGV[1])
  if held > offered then return 0 end
  if held == offered and redis.call('HEXISTS', KEYS[1], 'body') == 1 then return 0 end
end
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'body', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/**
 * What the projector runs after a write: an entry readers hold is replaced by the new document; an
 * entry nobody holds becomes a fence at the new revision, so a fill that read the store before the
 * write (and lands after it) is refused. Never lowers a revision.
 */
const WRITTEN = `
local cur = redis.call('HGET', KEYS[1], 'rev')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
if cur and redis.call('HEXISTS', KEYS[1], 'body') == 1 then
  redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'body', ARGV[2])
else
  redis.call('HDEL', KEYS[1], 'body')
  redis.call('HSET', KEYS[1], 'rev', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/**
 * What the worker runs for documents whose update failed: the entry becomes a fence at the written
 * revision (its body, now older than the store, is dropped), so the next read goes to the store and
 * only a fill at that revision or newer is accepted. Never lowers a revision.
 */
const FENCE = `
local cur = redis.call('HGET', KEYS[1], 'rev')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HDEL', KEYS[1], 'body')
redis.call('HSET', KEYS[1], 'rev', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

export type CacheLookup =
  | { kind: 'hit'; rev: number; doc: Record<string, unknown> | null }
  /** Not cached, a fence, or Redis unavailable: read the store. */
  | { kind: 'miss'; reason: 'absent' | 'fence' | 'unavailable' };

export interface CacheOptions {
  host: string;
  port: number;
  /** Entries (and fences) expire after this long: the bound on staleness if an update is lost. */
  ttlMs?: number;
  /** A command slower than this counts as Redis being unavailable: reads go to the store. */
  commandTimeoutMs?: number;
  /** Separates databases (tests, tenants) sharing one Redis. */
  namespace: string;
}

/**
 * Redis in front of hot documents, as a cache only: every entry carries the document's `_rev`,
 * and both fills and the projector's updates are compare-by-revision Lua scripts. Redis down or
 * slow never fails a read or a write: commands fail fast (no offline queue) and callers fall back.
 */
export class DocumentCache {
  readonly redis: Redis;
  private readonly ttlMs: number;

  constructor(
    private readonly opts: CacheOptions,
    private readonly log: Logger,
  ) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.redis = new Redis({
      host: opts.host,
      port: opts.port,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 100,
      // Keep trying in the background; reads meanwhile go to the store.
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    this.redis.defineCommand('cdcFill', { numberOfKeys: 1, lua: FILL });
    this.redis.defineCommand('cdcWritten', { numberOfKeys: 1, lua: WRITTEN });
    this.redis.defineCommand('cdcFence', { numberOfKeys: 1, lua: FENCE });
    this.redis.on('error', (err: Error) =>
      this.log.debug({ err: err.message, event: 'redis_error' }, 'redis unavailable'),
    );
  }

  async connect(): Promise<void> {
    await this.redis
      .connect()
      .catch((err: unknown) =>
        this.log.warn(
          { err: String(err), event: 'redis_unavailable' },
          'redis not reachable at start; reads go to the store until it is',
        ),
      );
  }

  key(collection: string, id: DocId): string {
    return `cdc:${this.opts.namespace}:${collection}:${String(id)}`;
  }

  async get(collection: string, id: DocId): Promise<CacheLookup> {
    try {
      const entry = await this.redis.hgetall(this.key(collection, id));
      if (entry['rev'] === undefined) return { kind: 'miss', reason: 'absent' };
      if (entry['body'] === undefined) return { kind: 'miss', reason: 'fence' };
      return {
        kind: 'hit',
        rev: Number(entry['rev']),
        doc: EJSON.parse(entry['body'], { relaxed: true }) as Record<string, unknown> | null,
      };
    } catch {
      return { kind: 'miss', reason: 'unavailable' };
    }
  }

  /** Read-through fill after a store read. Returns whether the entry was set (false: a newer one exists, or Redis is down). */
  async fill(collection: string, id: DocId, rev: number, doc: Record<string, unknown> | null): Promise<boolean> {
    try {
      const set = await this.answered(
        (this.redis as unknown as CacheCommands).cdcFill(this.key(collection, id), rev, serialize(doc), this.ttlMs),
      );
      return set === 1;
    } catch {
      return false;
    }
  }

  /**
   * Called by the projector once documents are written, before their offsets are committed.
   * Throws when Redis does not answer; `CacheUpdates` then fences the entries before the round is
   * acknowledged.
   */
  async written(collection: string, docs: WrittenDoc[]): Promise<void> {
    // In slices: every command of a pipeline is sent at once and its timeout runs from then, so
    // a round's tens of thousands of documents in one pipeline timed out while Redis was up.
    for (let i = 0; i < docs.length; i += WRITTEN_PER_PIPELINE) {
      const pipeline = this.redis.pipeline();
      for (const d of docs.slice(i, i + WRITTEN_PER_PIPELINE))
        (pipeline as unknown as CacheCommands).cdcWritten(
          this.key(collection, d.id),
          d.rev,
          serialize(d.doc),
          this.ttlMs,
        );
      const results = await this.answered(pipeline.exec());
      const failed = results?.find(([err]) => err !== null);
      if (failed !== undefined) throw failed[0];
    }
  }

  /**
   * A pipeline of scripted commands caught by a reconnect (Redis restarted, its scripts gone) was
   * seen never to settle, holding a worker's round for good. No cache call may wait longer than
   * this: past it, it counts as failed, and the projector fences the entries.
   */
  private answered<T>(pending: Promise<T>): Promise<T> {
    const limitMs = Math.max(5_000, 4 * (this.opts.commandTimeoutMs ?? 100));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis did not answer within ${limitMs} ms`)), limitMs);
    });
    return Promise.race([pending, late]).finally(() => clearTimeout(timer));
  }

  /** Fences entries at the given revisions (see FENCE); throws when Redis does not answer. */
  async fence(entries: Array<{ key: string; rev: number }>): Promise<void> {
    for (let i = 0; i < entries.length; i += WRITTEN_PER_PIPELINE) {
      const pipeline = this.redis.pipeline();
      for (const e of entries.slice(i, i + WRITTEN_PER_PIPELINE))
        (pipeline as unknown as CacheCommands).cdcFence(e.key, e.rev, this.ttlMs);
      const results = await this.answered(pipeline.exec());
      const failed = results?.find(([err]) => err !== null);
      if (failed !== undefined) throw failed[0];
    }
  }

  /** Whether the connection is up: when it is not, readers cannot reach Redis either (and fall back to the store). */
  connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Runs `listener` each time the connection (re)opens. */
  onReady(listener: () => void): void {
    this.redis.on('ready', listener);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

const WRITTEN_PER_PIPELINE = 500;

interface CacheCommands {
  cdcFill(key: string, rev: number, body: string, ttlMs: number): Promise<number>;
  cdcWritten(key: string, rev: number, body: string, ttlMs: number): Promise<number>;
  cdcFence(key: string, rev: number, ttlMs: number): Promise<number>;
}

function serialize(doc: Record<string, unknown> | null): string {
  return doc === null ? 'null' : EJSON.stringify(doc, { relaxed: true });
}
