import type { KafkaMessage, Producer } from '../kafka/client.js';
import type { TopicSpec } from '../kafka/topics.js';
import { WORKER_VERSION } from '../version.js';

const RETRY_SUFFIX = '.retry';

/** One dead-letter topic per source topic: a record read from its retry topic parks beside the original's. */
export function deadLetterTopic(topic: string): string {
  return `${topic.endsWith(RETRY_SUFFIX) ? topic.slice(0, -RETRY_SUFFIX.length) : topic}.dlq`;
}

/**
 * Where `cdc dlq replay` sends a dead letter of a compacted row topic. Appended to the row topic
 * itself, an old change would become the newest record of its key, and compaction could keep it
 * over a later change or delete: the next rebuild would bring back a stale or deleted row. This
 * topic is never compacted; workers and rebuilds read it beside the row topic.
 */
export function retryTopic(topic: string): string {
  return `${topic}${RETRY_SUFFIX}`;
}

/**
 * Dead letters wait for a fix or an upgrade however long that takes: never deleted by age or size
 * (a broker's defaults are 7 days and, here, 1 GiB). Retry topics hold what was replayed from them.
 */
export function keptForeverTopic(topic: string): TopicSpec {
  return {
    topic,
    configEntries: [
      { name: 'cleanup.policy', value: 'delete' },
      { name: 'retention.ms', value: '-1' },
      { name: 'retention.bytes', value: '-1' },
    ],
  };
}

/**
 * Parks a message that cannot be projected, byte for byte, with headers that say why and where it
 * came from, so it can be inspected and replayed after a fix.
 */
export async function deadLetter(
  producer: Producer,
  entry: { topic: string; partition: number; message: KafkaMessage; reason: string; kind?: 'invalid' | 'parked' },
): Promise<void> {
  await producer.send({
    topic: deadLetterTopic(entry.topic),
    messages: [
      {
        key: entry.message.key,
        value: entry.message.value,
        headers: {
          ...entry.message.headers,
          'dlq.reason': entry.reason,
          // invalid: poison, needs a fix; parked: newer than this worker, replay after an upgrade.
          'dlq.kind': entry.kind ?? 'invalid',
          'dlq.original.topic': entry.topic,
          'dlq.original.partition': String(entry.partition),
          'dlq.original.offset': entry.message.offset,
          'dlq.worker.version': WORKER_VERSION,
        },
      },
    ],
  });
}
