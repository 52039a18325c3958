import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';

export interface NoopOptions {
  maxBytesPerPartition: number;
  maxBytes: number;
  concurrency: number;
}

/**
 * C_client, the client-side ceiling: every record of the topics fetched and JSON-parsed by
 * kafkajs, nothing else. Records/s from the first batch to the last.
 */
export async function noopConsumer(kafka: Kafka, topics: string[], records: number, groupId: string, opts: NoopOptions): Promise<number> {
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: opts.maxBytesPerPartition, maxBytes: opts.maxBytes });
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let first = 0;
  let last = 0;
  await consumer.run({
    partitionsConsumedConcurrently: opts.concurrency,
    eachBatch: async ({ batch }) => {
      if (first === 0) first = Date.now();
      for (const m of batch.messages) if (m.value !== null) JSON.parse(m.value.toString('utf8'));
      seen += batch.messages.length;
      last = Date.now();
    },
  });
  while (seen < records) await sleep(50);
  await consumer.disconnect();
  return records / Math.max(0.001, (last - first) / 1000);
}
