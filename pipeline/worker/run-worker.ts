import { loadSettings } from '../config.js';
import { createKafka, cdcTopic, defaultPartitioner } from '../kafka/client.js';
import { ensureTopics, waitForTopics } from '../kafka/topics.js';
import type { Logger } from '../logger.js';
import { connectMongo } from '../store/mongo.js';
import { deadLetterTopic } from './dead-letter.js';
import { startOrderViewsWorker } from './order-views-worker.js';

export interface RunningWorker {
  stop(): Promise<void>;
}

export interface WorkerTarget {
  topicPrefix: string;
  schema: string;
  groupId: string;
  mongoDatabase: string;
}

/** Wires Kafka, the store and the order_views worker together; `stop` leaves the group cleanly. */
export async function runWorker(target: WorkerTarget, log: Logger): Promise<RunningWorker> {
  const settings = loadSettings();
  const kafka = createKafka(settings.kafkaBrokers, `cdc-worker-${target.groupId}`, log);
  const mongo = await connectMongo(settings.mongoUrl);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const source = cdcTopic(target.topicPrefix, target.schema, 'orders');
    await waitForTopics(admin, [source], 60_000, log);
    await ensureTopics(admin, [deadLetterTopic(source)]);
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: defaultPartitioner });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: target.groupId, sessionTimeout: 10_000, heartbeatInterval: 3_000 });
  await consumer.connect();
  await startOrderViewsWorker({ consumer, producer, db: mongo.db(target.mongoDatabase), log, topicPrefix: target.topicPrefix, schema: target.schema });
  return {
    async stop() {
      await consumer.disconnect();
      await producer.disconnect();
      await mongo.close();
    },
  };
}
