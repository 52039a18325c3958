import type { Kafka, KafkaMessage } from 'kafkajs';
import { timeDrain, type DrainRun } from './drain-timer.js';

export interface NoopOptions {
  maxBytesPerPartition: number;
  maxBytes: number;
  concurrency: number;
}

export interface NoopRun {
  /** On the contenders' clock: from the consumer's start, group join included, to zero lag. */
  drain: DrainRun;
  /** Records/s from the first batch to the last (no start-up, no join): the client alone. */
  steadyRate: number;
}

/**
 * C_client, the client-side ceiling: every record of the topics fetched and JSON-parsed by
 * kafkajs, nothing else, offsets committed after each batch. `each` sees every parsed value.
 */
export async function noopConsumer(
  kafka: Kafka,
  topics: string[],
  records: number,
  groupId: string,
  opts: NoopOptions,
  each?: (value: unknown, message: KafkaMessage) => void,
): Promise<NoopRun> {
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: opts.maxBytesPerPartition, maxBytes: opts.maxBytes });
  let first = 0;
  let last = 0;
  try {
    const drain = await timeDrain(
      kafka,
      groupId,
      topics,
      records,
      async () => {
        await consumer.connect();
        for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          partitionsConsumedConcurrently: opts.concurrency,
          eachBatch: async ({ batch }) => {
            if (first === 0) first = Date.now();
            for (const m of batch.messages) {
              const value: unknown = m.value === null ? null : JSON.parse(m.value.toString('utf8'));
              each?.(value, m);
            }
            last = Date.now();
          },
        });
      },
      { everyMs: 100 },
    );
    return { drain, steadyRate: records / Math.max(0.001, (last - first) / 1000) };
  } finally {
    await consumer.disconnect();
  }
}
