import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { PROJECTIONS } from '../../projections/registry.js';
import type { RowChange } from '../../schemas/change.js';
import type { Projection } from '../../projections/types.js';
import { decodeChange, type RawMessage, type TableSpec } from '../../schemas/decode-change.js';
import { decodeEvent } from '../../schemas/decode-event.js';
import { EVENT_TYPES, eventTopic, isEventTopic, type EventSpec } from '../../schemas/events/registry.js';
import { SHOP_TABLES } from '../../schemas/shop-rows.js';
import { ownValue } from '../../schemas/own-key.js';
import { loadSettings } from '../config.js';
import { runConsumer, type Halt } from '../engine/consumer.js';
import type { PoisonGuardOptions } from '../engine/poison-guard.js';
import { deadLetterTopic, keptForeverTopic, retryTopic } from '../engine/dead-letter.js';
import { Projector } from '../engine/projector.js';
import { fixedRounds, MemoryBudgetRounds } from '../engine/round-sizer.js';
import { cdcTopic, createKafka, defaultPartitioner } from '../kafka/client.js';
import { alignTopicConfigs, ensureTopics, waitForTopics } from '../kafka/topics.js';
import type { Logger } from '../logger.js';
import { DocumentStore, storeCollections } from '../store/documents.js';
import { connectMongo } from '../store/mongo.js';
import { applyValidators } from '../store/validators.js';
import { DocumentCache } from '../read/document-cache.js';
import { startMetricsListener } from '../metrics/http-listener.js';
import { WorkerMetrics } from '../metrics/worker-metrics.js';
import { ProgressRecorder, type ProgressSink } from '../engine/progress.js';
import { componentsOf, Namespace } from '../store/generations.js';
import { StagingStore } from '../store/staging-store.js';
import { CacheUpdates } from './cache-updates.js';

export interface RunningWorker {
  /** Where /metrics, /healthz and /readyz answer (undefined when the listener is off). */
  metricsUrl: string | undefined;
  /** Time spent per store operation since start. */
  storeTimings(): Map<string, { count: number; ms: number; docs: number }>;
  /**
   * Ends exclusive writing: builds the indexes, then waits for the round in flight (it may still
   * write without compare-and-set); every later round uses compare-and-set.
   */
  endExclusive(): Promise<void>;
  /** Finishes the batch in flight, commits what is written, leaves the group, closes clients. */
  stop(): Promise<void>;
}

export interface WorkerTarget {
  topicPrefix: string;
  schema: string;
  groupId: string;
  mongoDatabase: string;
  /** Another store than MONGO_URL's. */
  mongoUrl?: string;
  projections?: readonly Projection[];
  /** Consume only these tables' topics (default: every table the projections read). */
  tables?: string[];
  /** Port of the /metrics, /healthz, /readyz listener on 127.0.0.1 (0: any free port; absent: off). */
  metricsPort?: number;
  /** /readyz turns 503 once rounds have failed this long without one written since (default 30 s). */
  unreadyAfterFailingMs?: number;
  /** Keep the read side's Redis cache coherent (default true; Redis down never stops the worker). */
  cache?: boolean;
  /** Another Redis than REDIS_HOST/REDIS_PORT's. */
  redis?: { host: string; port: number };
  /** Told every round of changes once applied (benchmarks). */
  onApplied?: (changes: RowChange[]) => void;
  /** The event types and versions this worker knows (default: this build's, EVENT_TYPES). */
  events?: Readonly<Record<string, EventSpec>>;
  concurrency?: number;
  chunkSize?: number;
  maxRoundChanges?: number;
  /**
   * Resident memory to stay under: rounds then follow it (MemoryBudgetRounds, up to
   * `maxRoundChanges`) and fetches shrink. Also cap V8's heap to match (`heapCapMiB`; `./cdc run
   * --memory-mib` does), or the heap grows lazily and the rounds shrink for garbage.
   */
  memoryBudgetMiB?: number;
  /** Bytes fetched per partition (and 8x that per fetch): what bounds a worker's memory under a backlog. */
  fetchBytesPerPartition?: number;
  /**
   * Nobody else writes this generation until `endExclusive()` (a rebuild before its switch): writes
   * skip the compare-and-set, and the indexes are built when it ends, on full collections.
   */
  exclusive?: boolean;
  /** Exclusive only: documents held in memory before a flush evicts them (bounds a rebuild's memory). */
  stagingBudget?: number;
  /** Exclusive only: told after every flush, once the flushed documents are durable. */
  onFlushed?: () => Promise<void>;
  /** Write this generation whatever the pointer says (a rebuild); absent: follow the pointer. */
  generation?: number;
  /** Where applied positions go (default: `_progress`, which `cdc status` reads). */
  progress?: ProgressSink;
  /** A rebuild re-reads events the live workers already set aside: count them, do not publish them again. */
  deadLetters?: 'publish' | 'skip';
  /** When failures of one cause stop the worker instead of being parked (default: half of the last 100 records). */
  poisonGuard?: PoisonGuardOptions;
  /**
   * The consumer stopped for good (see `Halt`). The worker is unready from then on, naming the
   * cause; `cdc run` exits non-zero on a crash so its supervisor starts a fresh one.
   */
  onHalt?: (halt: Halt) => void;
}

/**
 * A store round's size limit. Under a backlog, larger rounds coalesce more changes into one write
 * per document and one fan-out per referenced row (on a 240,000-change backlog: 10,000 gave about
 * 1,050 records/s at 770 MiB peak RSS, 80,000 about 2,600-3,200 at 1.3-1.6 GiB). Caught up, a round
 * only holds what arrived during the previous one, so the limit costs no latency.
 */
export const DEFAULT_ROUND_CHANGES = 80_000;

/** Long enough that a store failover or a short outage's retries do not flap readiness. */
export const DEFAULT_UNREADY_AFTER_FAILING_MS = 30_000;

/**
 * The tables (with their row schemas) and topics a worker reads for the given source names. An
 * event type this build does not know still has its aggregate's topic read (EVENT_TYPES): its
 * events are parked for a newer worker rather than left unread.
 */
export function projectorInputs(sources: string[], target: { topicPrefix: string; schema: string; tables?: string[] }): { tables: Record<string, TableSpec>; topics: string[]; retryTopics: string[] } {
  const inputs = sources.filter((t) => target.tables === undefined || target.tables.includes(t));
  const tables: Record<string, TableSpec> = {};
  for (const t of inputs) {
    const spec = ownValue<TableSpec>(SHOP_TABLES, t);
    if (spec !== undefined) tables[t] = spec;
  }
  const aggregates = new Set(inputs.flatMap((t) => ownValue(EVENT_TYPES, t)?.aggregateType ?? []));
  const rowTopics = Object.keys(tables).map((t) => cdcTopic(target.topicPrefix, target.schema, t));
  // Row topics are compacted: their replayed dead letters come back through a retry topic (retryTopic).
  const retryTopics = rowTopics.map(retryTopic);
  const topics = [...rowTopics, ...retryTopics, ...[...aggregates].map((a) => eventTopic(target.topicPrefix, a))];
  return { tables, topics, retryTopics };
}

/** Wires Kafka, the store and the projector together for the shop's projections. */
export async function runWorker(target: WorkerTarget, log: Logger): Promise<RunningWorker> {
  const settings = loadSettings();
  const projections = target.projections ?? PROJECTIONS;
  // A client id per process, so `cdc status` can tell the workers of a group apart.
  const clientId = `cdc-worker-${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const kafka = createKafka(settings.kafkaBrokers, clientId, log);
  const mongo = await connectMongo(target.mongoUrl ?? settings.mongoUrl);
  const db = mongo.db(target.mongoDatabase);
  const namespace = new Namespace(db, componentsOf(projections), { workerId: clientId, group: target.groupId, log }, target.generation);
  await namespace.refresh();
  const staging = target.exclusive === true ? new StagingStore(db, namespace, target.stagingBudget ?? 100_000) : undefined;
  const store = staging ?? new DocumentStore(db, namespace);
  await staging?.open(namespace.components.flatMap((c) => c.collections));
  const flush = async () => {
    if (staging === undefined || staging.size === 0) return;
    await staging.flush();
    await target.onFlushed?.();
  };
  const metrics = new WorkerMetrics();
  store.onTiming = (op, ms) => metrics.observeStore(op, ms);
  if (staging === undefined) {
    await store.dropLegacyIndexes(storeCollections(projections));
    await store.ensureReadIndexes(projections);
  }
  await applyValidators(store.db, projections, log, (c) => store.physical(c));
  let stopping = false;
  let halted: Halt | undefined;
  // Bound before joining the group: a port clash fails the start instead of a worker that already took partitions.
  const listener =
    target.metricsPort === undefined
      ? undefined
      : await startMetricsListener(target.metricsPort, metrics.registry, async () => {
          const storeUp = await store.db.command({ ping: 1 }).then(() => true, () => false);
          const assigned = (await metrics.assigned.get()).values[0]?.value ?? 0;
          // Connected and assigned is not enough: a worker whose every round fails (a projection
          // that throws on real data, writes the store refuses) must not pass a rolling upgrade.
          const failingMs = metrics.rounds.failingForMs();
          const roundsWritten = failingMs < (target.unreadyAfterFailingMs ?? DEFAULT_UNREADY_AFTER_FAILING_MS);
          return {
            ready: storeUp && assigned > 0 && !stopping && roundsWritten && halted === undefined,
            checks: {
              store: storeUp,
              kafkaAssignedPartitions: assigned,
              stopping,
              roundsFailingForSeconds: Math.round(failingMs / 100) / 10,
              failingPartitions: metrics.rounds.failingPartitions().join(','),
              consumer: halted === undefined ? 'consuming' : `${halted.kind}: ${halted.cause}`,
            },
          };
        });
  // Longer than a reader's 100 ms: a reader falls back to the store, but an update that times out
  // holds its round until the entry is fenced (seen in CI with both cores busy). Redis down still fails at once.
  const cache = target.cache === false ? undefined : new DocumentCache({ ...(target.redis ?? settings.redis), namespace: target.mongoDatabase, commandTimeoutMs: 2000 }, log);
  await cache?.connect();
  const cacheUpdates = cache === undefined ? undefined : new CacheUpdates(cache, log, metrics.cacheFailures);
  const afterRound = async () => {
    await cacheUpdates?.settle();
    if (staging !== undefined && staging.size > staging.budget) await flush();
  };
  const projector = new Projector(store, projections, cacheUpdates === undefined ? undefined : (collection, docs) => cacheUpdates.written(collection, docs), afterRound);
  const events = target.events ?? EVENT_TYPES;
  const { tables, topics, retryTopics } = projectorInputs(projector.tables(), target);
  const decode = (message: RawMessage) => (isEventTopic(message.topic, target.topicPrefix) ? decodeEvent(message, events) : decodeChange(message, tables));

  const admin = kafka.admin();
  await admin.connect();
  try {
    const sourceTopics = topics.filter((t) => !retryTopics.includes(t));
    await waitForTopics(admin, sourceTopics, 60_000, log);
    // Before first use, kept forever: a dead letter must outlive any fix, and a command reading a
    // topic that a first produce auto-created meets partitions without leaders.
    const owned = [...new Set([...sourceTopics.map(deadLetterTopic), ...retryTopics])].map(keptForeverTopic);
    await ensureTopics(admin, owned);
    await alignTopicConfigs(admin, owned, log);
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: defaultPartitioner });
  await producer.connect();
  // Under a memory budget, fetched batches wait for room in the round queue: keep them small.
  const fetchBytes = target.fetchBytesPerPartition ?? (target.memoryBudgetMiB === undefined ? 2 * 1024 * 1024 : 256 * 1024);
  const consumer = kafka.consumer({
    groupId: target.groupId,
    // Generous: a large round of a backlog drain keeps the worker busy for seconds.
    sessionTimeout: 30_000,
    rebalanceTimeout: 60_000,
    heartbeatInterval: 3_000,
    // Bounded memory under any backlog: at most this much fetched and not yet applied.
    maxBytesPerPartition: fetchBytes,
    maxBytes: 8 * fetchBytes,
  });
  await consumer.connect();
  const progress = target.progress ?? new ProgressRecorder(store.db, target.groupId, log);
  // An idle worker still moves to a switched generation (and says so), so a rebuild's hand-over never waits on it.
  const followPointer = setInterval(() => void projector.refreshGeneration().catch((err: unknown) => log.debug({ err: String(err) }, 'generation pointer not read')), 1000);
  const consuming = await runConsumer({
    isStopping: () => stopping,
    consumer,
    producer,
    projector,
    decode,
    topics,
    log,
    concurrency: target.concurrency ?? 24,
    chunkSize: target.chunkSize ?? 2000,
    rounds:
      target.memoryBudgetMiB === undefined
        ? fixedRounds(target.maxRoundChanges ?? DEFAULT_ROUND_CHANGES)
        : new MemoryBudgetRounds({ budgetBytes: target.memoryBudgetMiB * 1024 * 1024, maxRoundChanges: target.maxRoundChanges ?? DEFAULT_ROUND_CHANGES }),
    metrics,
    progress,
    deadLetters: target.deadLetters ?? 'publish',
    ...(target.poisonGuard === undefined ? {} : { poisonGuard: target.poisonGuard }),
    onHalt: (h) => {
      halted = h;
      target.onHalt?.(h);
    },
    ...(target.onApplied === undefined ? {} : { onApplied: target.onApplied }),
  });
  log.info({ topics, projections: projections.map((p) => p.name), metrics: listener?.url, event: 'worker_started' }, 'projector running');
  return {
    metricsUrl: listener?.url,
    storeTimings: () => store.timings,
    async endExclusive() {
      if (staging?.exclusive !== true) return;
      await projector.betweenRounds(async () => {
        await flush();
        // A generation a rebuild created never had the legacy `cas` index: only the read indexes.
        await store.ensureReadIndexes(projections);
        staging.exclusive = false;
        await staging.flush();
      });
    },
    async stop() {
      stopping = true;
      clearInterval(followPointer);
      await listener?.close();
      await consuming.drain();
      await consumer.disconnect();
      await producer.disconnect();
      await progress.close();
      await mongo.close();
      await cache?.close();
      log.info({ event: 'worker_stopped' }, 'projector stopped');
    },
  };
}
