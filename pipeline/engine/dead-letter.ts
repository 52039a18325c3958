import type { KafkaMessage, Producer } from '../kafka/client.js';
import { WORKER_VERSION } from '../version.js';

export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
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
