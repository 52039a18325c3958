import type { RowChange } from '../../schemas/change.js';
import type { Decoded, RawMessage } from '../../schemas/decode-change.js';
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from '../kafka/client.js';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import { deadLetter } from './dead-letter.js';
import type { ApplyStats, Projector } from './projector.js';
import type { WorkerMetrics } from '../metrics/worker-metrics.js';
import type { ProgressSink } from './progress.js';
import type { RoundSizer } from './round-sizer.js';
import { GroupCommit } from './group-commit.js';
import { OffsetCommits } from './offset-commits.js';
import { isRetriable, withRetry } from './retry.js';
import { DEFAULT_POISON_GUARD, PoisonGuard, type PoisonGuardOptions } from './poison-guard.js';

export interface ConsumeOptions {
  consumer: Consumer;
  producer: Producer;
  projector: Projector;
  /** Turns a record into a change, or says why not (row topics and event topics decode differently). */
  decode: (message: RawMessage) => Decoded;
  topics: string[];
  log: Logger;
  /** Partitions processed at once by this worker. */
  concurrency: number;
  /** A long batch is cut into chunks of this many records, submitted and committed one by one. */
  chunkSize: number;
  /** How many changes a store round takes (GroupCommit): fixed, or following a memory budget. */
  rounds: RoundSizer;
  fromBeginning?: boolean;
  /** True once the worker is shutting down: a store retry loop then gives up instead of waiting. */
  isStopping: () => boolean;
  metrics: WorkerMetrics;
  progress?: ProgressSink;
  /** 'skip': count and log undecodable records without publishing them (a rebuild re-reading them). */
  deadLetters?: 'publish' | 'skip';
  /** Told every round of changes once applied (benchmarks measure end-to-end delay with it). */
  onApplied?: (changes: RowChange[]) => void;
  /** When failures of one cause are too many to be single poison records (PoisonGuard). */
  poisonGuard?: PoisonGuardOptions;
  /** Told once when the consumer stops for good: see `Halt`. */
  onHalt?: (halt: Halt) => void;
  /** A round in flight this long without failing counts as hung (`round_stuck`); default DEFAULT_STUCK_ROUND_MS. */
  stuckRoundMs?: number;
}

/** Far above a backlog round's time (tens of seconds for 80,000 changes here). */
export const DEFAULT_STUCK_ROUND_MS = 300_000;

/**
 * Why a consumer stopped consuming while its process lives on. `poison_guard`: most records of a
 * window failed the same way (a bad release); nothing past them is committed, so a fixed worker
 * reads them again. `consumer_crashed`: kafkajs gave up and will not rejoin by itself.
 */
export interface Halt {
  kind: 'poison_guard' | 'consumer_crashed' | 'round_stuck';
  cause: string;
}

export interface RunningConsumer {
  /**
   * Shutdown, before the consumer disconnects: takes no more records, waits for the rounds in flight
   * and commits the offsets they cover.
   */
  drain(): Promise<void>;
  /** Set once the consumer stopped consuming for good. */
  halted(): Halt | undefined;
}

/**
 * Runs the projector on a Kafka consumer. Per chunk of a batch (one topic-partition): decode every
 * record, park the undecodable ones in the dead-letter topic, hand the rest to the next store round,
 * and move on without waiting for it, so kafkajs fetches while the store writes. Offsets are
 * committed only once the rounds covering them are durable (OffsetCommits). Store failures are
 * retried with backoff without committing, so a crash or an outage re-delivers instead of losing;
 * the projector makes the re-delivery harmless.
 */
export async function runConsumer(opts: ConsumeOptions): Promise<RunningConsumer> {
  const m = opts.metrics;
  const applyRound = (changes: RowChange[]): Promise<ApplyStats> => {
    m.rounds.started();
    return withRetry(() => opts.projector.apply(changes), {
      // Giving up leaves the round's offsets uncommitted: the next worker re-reads them.
      shouldStop: opts.isStopping,
      beforeRetry: async (attempt, delayMs, err) => {
        m.rounds.retrying();
        const code = err instanceof PipelineError ? err.code : 'STORE_WRITE_FAILED';
        m.storeErrors.inc({ code });
        opts.log.warn(
          { attempt, delayMs: Math.round(delayMs), code, err: String(err), event: 'store_retry' },
          'round not applied; retrying, offsets not committed',
        );
      },
    }).then(
      (stats) => {
        m.rounds.settled();
        recordRound(m, changes, stats);
        m.roundLimit.set(group.limit);
        opts.onApplied?.(changes);
        return stats;
      },
      (err: unknown) => {
        // Failed for good: roundFailed marks its partitions instead.
        m.rounds.settled();
        throw err;
      },
    );
  };
  const group = new GroupCommit(applyRound, opts.rounds);
  const state: BatchState = {
    draining: false,
    highWatermarks: new Map(),
    failures: new Map(),
    lastTracked: new Map(),
    careful: new Map(),
    parked: new Map(),
    guard: new PoisonGuard(opts.poisonGuard ?? DEFAULT_POISON_GUARD),
    halted: undefined,
  };
  // A consumer that crashed has no group to pause any more (kafkajs throws): nothing to stop then.
  const pauseAll = (): void => {
    try {
      opts.consumer.pause(opts.topics.map((topic) => ({ topic })));
    } catch (err) {
      opts.log.debug({ err: String(err) }, 'consumer not running; nothing to pause');
    }
  };
  const halt = (h: Halt): void => {
    if (state.halted !== undefined) return;
    state.halted = h;
    pauseAll();
    m.halted.set(1);
    opts.log.error(
      { event: 'consumer_halted', ...h },
      h.kind === 'poison_guard'
        ? 'most records of a window fail the same way: stopped consuming (a bad release?); fix and restart the worker, nothing past them is committed'
        : 'the consumer cannot go on; a fresh worker must take over',
    );
    opts.onHalt?.(h);
  };
  const commits = new OffsetCommits((offsets) => opts.consumer.commitOffsets(offsets), {
    committed: (p) => {
      const key = `${p.topic}/${p.partition}`;
      state.failures.delete(key);
      m.rounds.partitionRecovered(key);
      const parked = state.parked.get(key);
      if (parked !== undefined) for (const offset of parked) if (Number(offset) <= p.lastOffset) parked.delete(offset);
      const highWatermark = state.highWatermarks.get(key);
      if (highWatermark !== undefined)
        m.lag.set({ topic: p.topic, partition: String(p.partition) }, Math.max(0, highWatermark - p.lastOffset - 1));
      opts.progress?.note(p.topic, p.partition, p.lastOffset, p.sourceMs);
    },
    commitFailed: (err, offsets) =>
      // Not a loss: the partition's next owner re-reads from the last commit and re-applies harmlessly.
      opts.log.warn(
        { err: String(err), offsets, event: 'commit_failed' },
        'offsets not committed; their records will be read again',
      ),
    roundFailed: (topic, partition, fromOffset, err) => {
      if (state.draining || opts.isStopping()) return;
      const key = `${topic}/${partition}`;
      const failures = (state.failures.get(key) ?? 0) + 1;
      state.failures.set(key, failures);
      m.rounds.partitionFailed(key);
      // Not an outage (those are retried in place): something in the records read so far cannot be
      // projected. They are read again carefully, isolating the culprits for the dead-letter topic.
      const poison = !isRetriable(err);
      const upTo = state.lastTracked.get(key);
      if (poison && upTo !== undefined) state.careful.set(key, BigInt(upTo));
      const delayMs = poison ? 0 : Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5));
      opts.log.error(
        { topic, partition, fromOffset, failures, delayMs, err: String(err), event: 'round_failed' },
        poison
          ? 'round failed on its data; reading the partition again one part at a time to park what cannot be projected'
          : 'round failed; reading the partition again from its last commit after a pause',
      );
      opts.consumer.pause([{ topic, partitions: [partition] }]);
      setTimeout(() => {
        if (state.draining || state.halted !== undefined) return;
        // Synchronously with the seek: a handler tracking a chunk of the old position after this
        // would see its batch stale first (handleBatch checks right before tracking).
        commits.retry(topic, partition);
        opts.consumer.seek({ topic, partition, offset: fromOffset });
        opts.consumer.resume([{ topic, partitions: [partition] }]);
      }, delayMs).unref();
    },
  });
  opts.consumer.on(opts.consumer.events.GROUP_JOIN, (e) => {
    // kafkajs reads every assigned partition from its committed offset again.
    commits.reset();
    m.rounds.partitionsReassigned();
    m.rebalances.inc();
    m.lag.reset();
    m.assigned.set(Object.values(e.payload.memberAssignment).reduce((n, partitions) => n + partitions.length, 0));
    opts.log.info({ event: 'group_joined', assignment: e.payload.memberAssignment }, 'joined the group');
  });
  // A round that neither ends nor fails for this long awaits an answer that will never come (a
  // client library's promise lost in a reconnect): nothing of this worker moves any more.
  const watchdog = setInterval(() => {
    const stuckMs = m.rounds.stuckForMs();
    if (stuckMs > (opts.stuckRoundMs ?? DEFAULT_STUCK_ROUND_MS))
      halt({
        kind: 'round_stuck',
        cause: `a store round has been in flight for ${Math.round(stuckMs / 1000)} s without ending or failing`,
      });
  }, 5000);
  watchdog.unref();
  opts.consumer.on(opts.consumer.events.STOP, () => m.assigned.set(0));
  opts.consumer.on(opts.consumer.events.CRASH, (e) => {
    m.assigned.set(0);
    // kafkajs rejoins by itself after a retriable crash; after any other it consumes nothing more.
    if (!e.payload.restart) halt({ kind: 'consumer_crashed', cause: String(e.payload.error) });
  });
  const tools: BatchTools = { group, commits, state, applyRound, halt };
  for (const topic of opts.topics) await opts.consumer.subscribe({ topic, fromBeginning: opts.fromBeginning ?? true });
  await opts.consumer.run({
    // Offsets are resolved as soon as their records are handed to a round (so fetching goes on) and
    // committed by OffsetCommits only once the store acknowledged the writes they cover.
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.concurrency,
    eachBatch: (payload) => handleBatch(opts, tools, payload),
  });
  return {
    async drain() {
      clearInterval(watchdog);
      state.draining = true;
      pauseAll();
      await commits.settled();
    },
    halted: () => state.halted,
  };
}

interface BatchState {
  draining: boolean;
  /** Per topic/partition, from the last batch: the lag reported once its offsets are committed. */
  highWatermarks: Map<string, number>;
  /** Per topic/partition, rounds failed in a row (backoff before reading them again). */
  failures: Map<string, number>;
  /** Per topic/partition, the last offset handed to a round. */
  lastTracked: Map<string, string>;
  /** Per topic/partition, read carefully up to this offset: a round holding its records failed on their data. */
  careful: Map<string, bigint>;
  /**
   * Per topic/partition, the offsets set aside and not yet committed past: records read again
   * (after a failed round, or carefully) are not parked or applied twice. A restart may still park
   * one again; a replay of both is harmless.
   */
  parked: Map<string, Set<string>>;
  guard: PoisonGuard;
  halted: Halt | undefined;
}

interface BatchTools {
  group: GroupCommit;
  commits: OffsetCommits;
  state: BatchState;
  applyRound: (changes: RowChange[]) => Promise<ApplyStats>;
  halt: (h: Halt) => void;
}

/** Once per store round (not per batch: a round's stats are shared by all its batches). */
function recordRound(m: WorkerMetrics, changes: RowChange[], stats: ApplyStats): void {
  const now = Date.now();
  m.roundChanges.observe(changes.length);
  for (const [projection, n] of Object.entries(stats.changesByProjection))
    if (n > 0) m.changesApplied.inc({ projection }, n);
  for (const [collection, n] of Object.entries(stats.written)) if (n > 0) m.documentsWritten.inc({ collection }, n);
  for (const c of changes) {
    if (c.sourceTsMs <= 0) continue;
    m.endToEnd.observe(Math.max(0, now - c.sourceTsMs) / 1000);
    if (c.sourceTsMs > m.lastAppliedSourceMs) m.lastAppliedSourceMs = c.sourceTsMs;
  }
}

function textHeaders(headers: KafkaMessage['headers']): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    out[name] = first === undefined ? undefined : first.toString();
  }
  return out;
}

/**
 * The debug line once a chunk is durable. Built out here so that it captures numbers only: a
 * closure made inside handleBatch would keep the kafkajs batch alive until the round is durable,
 * and with it the whole fetch response its messages are slices of (16 MiB each; a backlog drain
 * held about a dozen of them, 200 MiB, while its rounds were queued).
 */
function logApplied(
  log: Logger,
  metrics: WorkerMetrics,
  records: number,
  lagRecords: number,
): (stats: ApplyStats) => void {
  const started = Date.now();
  return (stats) =>
    log.debug(
      {
        event: 'batch_applied',
        records,
        ms: Date.now() - started,
        lagRecords,
        freshnessSeconds: metrics.freshnessSeconds(),
        ...stats,
      },
      'batch applied',
    );
}

/** A decoder that throws is a bug or a case it missed, never a reason to stop the partition. */
function safeDecode(decode: ConsumeOptions['decode'], message: RawMessage): Decoded {
  try {
    return decode(message);
  } catch (err) {
    return { kind: 'invalid', reason: `decoding failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

interface Held {
  message: KafkaMessage;
  change: RowChange;
}

async function handleBatch(opts: ConsumeOptions, tools: BatchTools, payload: EachBatchPayload): Promise<void> {
  const { group, commits, state } = tools;
  const { batch } = payload;
  const key = `${batch.topic}/${batch.partition}`;
  const log = opts.log.child({ topic: batch.topic, partition: batch.partition });
  state.highWatermarks.set(key, Number(batch.highWatermark));
  const messages = batch.messages;
  const moving = () => payload.isRunning() && !payload.isStale() && !state.draining && state.halted === undefined;
  for (let start = 0; start < messages.length; start += opts.chunkSize) {
    if (!moving()) return;
    if (group.queued >= group.limit) {
      // Backpressure: one round written, about one queued. Keep the group membership alive
      // meanwhile, and give up waiting on a rebalance or a stop, which wait for this handler.
      let stopWaiting: () => void = () => undefined;
      const stopped = new Promise<void>((resolve) => (stopWaiting = resolve));
      const tick = setInterval(() => {
        if (!moving()) stopWaiting();
        else void payload.heartbeat().catch(() => undefined);
      }, 1000);
      await Promise.race([group.room(), stopped]).finally(() => clearInterval(tick));
      if (!moving()) return;
    }
    const chunk = messages.slice(start, start + opts.chunkSize);
    const first = chunk[0];
    const last = chunk[chunk.length - 1];
    if (first === undefined || last === undefined) continue;
    const suspectUpTo = state.careful.get(key);
    const careful = suspectUpTo !== undefined && BigInt(first.offset) <= suspectUpTo;
    const changes: RowChange[] = [];
    const held: Held[] = [];
    const parkedHere = state.parked.get(key);
    for (const message of chunk) {
      // Set aside already by this worker: read again after a failed round, not parked twice.
      if (parkedHere?.has(message.offset) === true) continue;
      const decoded = safeDecode(opts.decode, {
        topic: batch.topic,
        key: message.key?.toString('utf8') ?? null,
        value: message.value?.toString('utf8') ?? null,
        // Only outbox events read them; Debezium puts four on every row change, and decoding them
        // all to text was 2% of a one-table worker's CPU profile.
        get headers() {
          return textHeaders(message.headers);
        },
        timestamp: Number(message.timestamp),
      });
      if (decoded.kind === 'change') {
        if (careful) held.push({ message, change: decoded.change });
        else changes.push(decoded.change);
      } else if (decoded.kind === 'invalid' || decoded.kind === 'park') {
        // Poison (invalid) and not-yet-understood (park) both leave the partition moving; the
        // dead-letter topic keeps them, byte for byte, for `cdc dlq replay`.
        if (decoded.kind === 'invalid' && !countPoison(tools, decoded.reason)) return;
        await setAside(
          opts,
          state,
          batch.topic,
          batch.partition,
          message,
          decoded.reason,
          decoded.kind === 'park' ? 'parked' : 'invalid',
          log,
        );
      }
    }
    if (!careful) state.guard.passed(changes.length);
    opts.metrics.batchRecords.observe(chunk.length);
    if (careful && !(await applyCarefully(opts, tools, batch.topic, batch.partition, held, log))) return;
    if (careful && suspectUpTo !== undefined && BigInt(last.offset) >= suspectUpTo) {
      state.careful.delete(key);
      log.info(
        { offset: last.offset, event: 'careful_read_done' },
        'records of the failed round read again; back to normal rounds',
      );
    }
    // Dead-lettering awaited: a seek or rebalance may have made this batch stale meanwhile. From
    // this check to resolveOffset nothing yields, so no chunk of a stale batch is ever tracked.
    if (!moving()) return;
    const durable =
      changes.length === 0
        ? Promise.resolve()
        : group
            .submit(changes)
            .then(logApplied(log, opts.metrics, chunk.length, Number(batch.highWatermark) - Number(last.offset) - 1));
    commits.track(
      batch.topic,
      batch.partition,
      first.offset,
      last.offset,
      changes.reduce((max, c) => Math.max(max, c.sourceTsMs), 0),
      durable,
    );
    state.lastTracked.set(key, last.offset);
    payload.resolveOffset(last.offset);
  }
  await payload.heartbeat();
}

/** Counts one poison record against the guard; false when it trips (the record is then left unparked). */
function countPoison(tools: BatchTools, reason: string): boolean {
  // Tripped by another partition meanwhile: park nothing more.
  if (tools.state.halted !== undefined) return false;
  const tripped = tools.state.guard.wouldTrip(reason);
  if (tripped === undefined) return true;
  tools.halt({
    kind: 'poison_guard',
    cause: `${tripped.failed} of the last ${tripped.window} records failed alike: ${tripped.cause}`,
  });
  return false;
}

function isParked(state: BatchState, key: string, offset: string): boolean {
  return state.parked.get(key)?.has(offset) === true;
}

async function setAside(
  opts: ConsumeOptions,
  state: BatchState,
  topic: string,
  partition: number,
  message: KafkaMessage,
  reason: string,
  kind: 'invalid' | 'parked',
  log: Logger,
): Promise<void> {
  const key = `${topic}/${partition}`;
  if (isParked(state, key, message.offset)) return;
  if (opts.deadLetters !== 'skip') await deadLetter(opts.producer, { topic, partition, message, reason, kind });
  const parked = state.parked.get(key) ?? new Set<string>();
  parked.add(message.offset);
  state.parked.set(key, parked);
  opts.metrics.deadLetters.inc({ topic, kind });
  log.warn(
    { offset: message.offset, reason, event: kind === 'parked' ? 'parked' : 'dead_lettered' },
    'event set aside in the dead-letter topic',
  );
}

/**
 * Applies the decoded records of a chunk that a failed round held, now awaited and outside the
 * group commit: on a failure from the data, halves are applied apart until the records that fail
 * alone are known; they go to the dead-letter topic and the rest is applied. Re-applying what an
 * earlier attempt wrote is harmless (position guards). False when it stopped: a stop, a rebalance
 * or the poison guard; nothing of the chunk is then committed.
 */
async function applyCarefully(
  opts: ConsumeOptions,
  tools: BatchTools,
  topic: string,
  partition: number,
  held: Held[],
  log: Logger,
): Promise<boolean> {
  const isolate = async (items: Held[]): Promise<boolean> => {
    if (items.length === 0) return true;
    if (tools.state.halted !== undefined) return false;
    try {
      await tools.applyRound(items.map((i) => i.change));
      tools.state.guard.passed(items.length);
      return true;
    } catch (err) {
      // An outage retried until a stop: leave the chunk to whoever reads it next.
      if (isRetriable(err)) return false;
      const [only] = items;
      if (items.length > 1 || only === undefined) {
        const mid = items.length >> 1;
        return (await isolate(items.slice(0, mid))) && (await isolate(items.slice(mid)));
      }
      const reason = `projection failed on ${only.change.table} ${only.change.id}: ${err instanceof Error ? err.message : String(err)}`;
      if (!countPoison(tools, reason)) return false;
      await setAside(opts, tools.state, topic, partition, only.message, reason, 'invalid', log);
      return true;
    }
  };
  return isolate(held);
}
