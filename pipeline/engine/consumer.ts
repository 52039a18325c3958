import type { RowChange } from '../../schemas/change.js';
import type { Decoded, RawMessage } from '../../schemas/decode-change.js';
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from '../kafka/client.js';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import { deadLetter } from './dead-letter.js';
import type { ApplyStats, Projector } from './projector.js';
import type { WorkerMetrics } from '../metrics/worker-metrics.js';
import type { ProgressSink } from './progress.js';
import { GroupCommit } from './group-commit.js';
import { withRetry } from './retry.js';

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
  /** A store round stops growing at this many changes (GroupCommit). */
  maxRoundChanges: number;
  fromBeginning?: boolean;
  /** True once the worker is shutting down: a store retry loop then gives up instead of waiting. */
  isStopping: () => boolean;
  metrics: WorkerMetrics;
  progress?: ProgressSink;
  /** 'skip': count and log undecodable records without publishing them (a rebuild re-reading them). */
  deadLetters?: 'publish' | 'skip';
  /** Told every round of changes once applied (benchmarks measure end-to-end delay with it). */
  onApplied?: (changes: RowChange[]) => void;
}

/**
 * Runs the projector on a Kafka consumer. Per batch (one topic-partition): decode every record,
 * park the undecodable ones in the dead-letter topic, apply the rest, and only then commit the
 * offsets they cover. Store failures are retried with backoff without committing, so a crash or
 * an outage re-delivers instead of losing; the projector makes the re-delivery harmless.
 */
export async function runConsumer(opts: ConsumeOptions): Promise<void> {
  const m = opts.metrics;
  const group = new GroupCommit(
    (changes) =>
      withRetry(() => opts.projector.apply(changes), {
        // Giving up leaves the round's offsets uncommitted: the next worker re-reads them.
        shouldStop: opts.isStopping,
        beforeRetry: async (attempt, delayMs, err) => {
          const code = err instanceof PipelineError ? err.code : 'STORE_WRITE_FAILED';
          m.storeErrors.inc({ code });
          opts.log.warn({ attempt, delayMs: Math.round(delayMs), code, err: String(err), event: 'store_retry' }, 'round not applied; retrying, offsets not committed');
        },
      }).then((stats) => {
        recordRound(m, changes, stats);
        opts.onApplied?.(changes);
        return stats;
      }),
    opts.maxRoundChanges,
  );
  opts.consumer.on(opts.consumer.events.GROUP_JOIN, (e) => {
    m.rebalances.inc();
    m.lag.reset();
    m.assigned.set(Object.values(e.payload.memberAssignment).reduce((n, partitions) => n + partitions.length, 0));
    opts.log.info({ event: 'group_joined', assignment: e.payload.memberAssignment }, 'joined the group');
  });
  opts.consumer.on(opts.consumer.events.STOP, () => m.assigned.set(0));
  opts.consumer.on(opts.consumer.events.CRASH, () => m.assigned.set(0));
  for (const topic of opts.topics) await opts.consumer.subscribe({ topic, fromBeginning: opts.fromBeginning ?? true });
  await opts.consumer.run({
    // Offsets are resolved by hand, only after the store acknowledged the writes they cover;
    // kafkajs then commits exactly those (threshold 1: at every commitOffsetsIfNecessary).
    autoCommit: true,
    autoCommitThreshold: 1,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.concurrency,
    eachBatch: (payload) => handleBatch(opts, group, payload),
  });
}

/** Once per store round (not per batch: a round's stats are shared by all its batches). */
function recordRound(m: WorkerMetrics, changes: RowChange[], stats: ApplyStats): void {
  const now = Date.now();
  m.roundChanges.observe(changes.length);
  for (const [projection, n] of Object.entries(stats.changesByProjection)) if (n > 0) m.changesApplied.inc({ projection }, n);
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

async function handleBatch(opts: ConsumeOptions, group: GroupCommit, payload: EachBatchPayload): Promise<void> {
  const { batch } = payload;
  const log = opts.log.child({ topic: batch.topic, partition: batch.partition });
  const messages = batch.messages;
  for (let start = 0; start < messages.length; start += opts.chunkSize) {
    if (!payload.isRunning() || payload.isStale()) return;
    const chunk = messages.slice(start, start + opts.chunkSize);
    const changes: RowChange[] = [];
    for (const message of chunk) {
      const decoded = opts.decode({
        topic: batch.topic,
        key: message.key?.toString('utf8') ?? null,
        value: message.value?.toString('utf8') ?? null,
        headers: textHeaders(message.headers),
        timestamp: Number(message.timestamp),
      });
      if (decoded.kind === 'change') changes.push(decoded.change);
      else if (decoded.kind === 'invalid' || decoded.kind === 'park') {
        // Poison (invalid) and not-yet-understood (park) both leave the partition moving; the
        // dead-letter topic keeps them, byte for byte, for `cdc dlq replay`.
        const kind = decoded.kind === 'park' ? 'parked' : 'invalid';
        if (opts.deadLetters !== 'skip') await deadLetter(opts.producer, { topic: batch.topic, partition: batch.partition, message, reason: decoded.reason, kind });
        opts.metrics.deadLetters.inc({ topic: batch.topic, kind });
        log.warn({ offset: message.offset, reason: decoded.reason, event: decoded.kind === 'park' ? 'parked' : 'dead_lettered' }, 'event set aside in the dead-letter topic');
      }
    }
    opts.metrics.batchRecords.observe(chunk.length);
    const lag = (offset: string) => opts.metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - Number(offset) - 1));
    if (changes.length === 0) {
      const last = chunk[chunk.length - 1];
      if (last !== undefined) {
        payload.resolveOffset(last.offset);
        await payload.commitOffsetsIfNecessary();
        lag(last.offset);
        opts.progress?.note(batch.topic, batch.partition, Number(last.offset), 0);
      }
      continue;
    }
    const started = Date.now();
    // Keep the group membership alive while the changes wait for, or sit in, a store round.
    const heartbeat = setInterval(() => void payload.heartbeat().catch(() => undefined), 2000);
    const stats = await group.submit(changes).finally(() => clearInterval(heartbeat));
    const last = chunk[chunk.length - 1];
    if (last !== undefined) payload.resolveOffset(last.offset);
    await payload.commitOffsetsIfNecessary();
    await payload.heartbeat();
    if (last !== undefined) {
      lag(last.offset);
      opts.progress?.note(batch.topic, batch.partition, Number(last.offset), changes.reduce((max, c) => Math.max(max, c.sourceTsMs), 0));
    }
    log.debug(
      { event: 'batch_applied', records: chunk.length, ms: Date.now() - started, lagRecords: last === undefined ? undefined : Number(batch.highWatermark) - Number(last.offset) - 1, freshnessSeconds: opts.metrics.freshnessSeconds(), ...stats },
      'batch applied',
    );
  }
}
