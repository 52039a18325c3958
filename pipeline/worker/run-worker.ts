import { PROJECTIONS } from '../../projections/registry.js';
import type { Projection } from '../../projections/types.js';
import { decodeChange, type RawMessage } from '../../schemas/decode-change.js';
import { decodeEvent } from '../../schemas/decode-event.js';
import { EVENT_TYPES, eventTopic, isEventTopic, type EventSpec } from '../../schemas/events/registry.js';
import { SHOP_TABLES } from '../../schemas/shop-rows.js';
import { loadSettings } from '../config.js';
import { runConsumer } from '../engine/consumer.js';
import { deadLetterTopic } from '../engine/dead-letter.js';
import { Projector } from '../engine/projector.js';
import { cdcTopic, createKafka, defaultPartitioner } from '../kafka/client.js';
import { ensureTopics, waitForTopics } from '../kafka/topics.js';
import type { Logger } from '../logger.js';
import { DocumentStore, storeCollections } from '../store/documents.js';
import { connectMongo } from '../store/mongo.js';
import { applyValidators } from '../store/validators.js';

export interface RunningWorker {
  /** Time spent per store operation since start. */
  storeTimings(): Map<string, { count: number; ms: number; docs: number }>;
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
  /** The event types and versions this worker knows (default: this build's, EVENT_TYPES). */
  events?: Readonly<Record<string, EventSpec>>;
  concurrency?: number;
  chunkSize?: number;
  maxRoundChanges?: number;
}

/** Wires Kafka, the store and the projector together for the shop's projections. */
export async function runWorker(target: WorkerTarget, log: Logger): Promise<RunningWorker> {
  const settings = loadSettings();
  const projections = target.projections ?? PROJECTIONS;
  const kafka = createKafka(settings.kafkaBrokers, `cdc-worker-${target.groupId}`, log);
  const mongo = await connectMongo(target.mongoUrl ?? settings.mongoUrl);
  const store = new DocumentStore(mongo.db(target.mongoDatabase));
  await store.ensureIndexes(storeCollections(projections));
  await applyValidators(store.db, projections, log);
  const projector = new Projector(store, projections);
  const events = target.events ?? EVENT_TYPES;
  const inputs = projector.tables().filter((t) => target.tables === undefined || target.tables.includes(t));
  const tables = Object.fromEntries(inputs.filter((t) => t in SHOP_TABLES).map((t) => [t, SHOP_TABLES[t as keyof typeof SHOP_TABLES]]));
  // An event type this build does not know still has its aggregate's topic read (EVENT_TYPES):
  // its events are parked for a newer worker rather than left unread.
  const aggregates = new Set(inputs.filter((t) => t in EVENT_TYPES).map((t) => (EVENT_TYPES[t] as EventSpec).aggregateType));
  const topics = [...Object.keys(tables).map((t) => cdcTopic(target.topicPrefix, target.schema, t)), ...[...aggregates].map((a) => eventTopic(target.topicPrefix, a))];
  const decode = (message: RawMessage) => (isEventTopic(message.topic, target.topicPrefix) ? decodeEvent(message, events) : decodeChange(message, tables));

  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitForTopics(admin, topics, 60_000, log);
    await ensureTopics(admin, topics.map(deadLetterTopic));
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: defaultPartitioner });
  await producer.connect();
  const consumer = kafka.consumer({
    groupId: target.groupId,
    // Generous: a large round of a backlog drain keeps the worker busy for seconds.
    sessionTimeout: 30_000,
    rebalanceTimeout: 60_000,
    heartbeatInterval: 3_000,
    // Bounded memory under any backlog: at most this much fetched and not yet applied.
    maxBytesPerPartition: 2 * 1024 * 1024,
    maxBytes: 16 * 1024 * 1024,
  });
  await consumer.connect();
  let stopping = false;
  await runConsumer({
    isStopping: () => stopping,
    consumer,
    producer,
    projector,
    decode,
    topics,
    log,
    concurrency: target.concurrency ?? 24,
    chunkSize: target.chunkSize ?? 2000,
    maxRoundChanges: target.maxRoundChanges ?? 10_000,
  });
  log.info({ topics, projections: projections.map((p) => p.name), event: 'worker_started' }, 'projector running');
  return {
    storeTimings: () => store.timings,
    async stop() {
      stopping = true;
      await consumer.disconnect();
      await producer.disconnect();
      await mongo.close();
      log.info({ event: 'worker_stopped' }, 'projector stopped');
    },
  };
}
