import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { PipelineError } from '../errors.js';
import { defaultPartitioner, type KafkaMessage } from '../kafka/client.js';

/** The group whose committed offsets mark how far each dead-letter topic has been replayed. */
export const REPLAY_GROUP = 'cdc-dlq-replay';

export interface DeadLetter {
  partition: number;
  offset: string;
  reason: string;
  /** invalid (poison: fix, then replay) or parked (newer than the worker: upgrade, then replay). */
  kind: string;
  originalTopic: string;
  originalPartition: string;
  originalOffset: string;
  workerVersion: string;
  key: string | null;
  value: string | null;
}

function header(message: KafkaMessage, name: string): string {
  const value = message.headers?.[name];
  return value === undefined ? '' : Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

function toDeadLetter(partition: number, message: KafkaMessage): DeadLetter {
  return {
    partition,
    offset: message.offset,
    reason: header(message, 'dlq.reason'),
    kind: header(message, 'dlq.kind') || 'invalid',
    originalTopic: header(message, 'dlq.original.topic'),
    originalPartition: header(message, 'dlq.original.partition'),
    originalOffset: header(message, 'dlq.original.offset'),
    workerVersion: header(message, 'dlq.worker.version'),
    key: message.key?.toString('utf8') ?? null,
    value: message.value?.toString('utf8') ?? null,
  };
}

export interface DlqSummary {
  topic: string;
  total: number;
  /** Not yet replayed: after the replay group's committed offset. */
  waiting: number;
}

export async function listDeadLetters(kafka: Kafka): Promise<DlqSummary[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.endsWith('.dlq')).sort();
    const out: DlqSummary[] = [];
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      const committed = (await admin.fetchOffsets({ groupId: REPLAY_GROUP, topics: [topic] }))[0]?.partitions ?? [];
      let total = 0;
      let waiting = 0;
      for (const p of offsets) {
        const high = Number(p.high);
        total += high - Number(p.low);
        const done = Number(committed.find((c) => c.partition === p.partition)?.offset ?? -1);
        waiting += high - Math.max(done, Number(p.low));
      }
      out.push({ topic, total, waiting });
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads a topic from the group's position (or the beginning) up to the end offsets it has when
 * the call starts, then stops: a bounded read, not a subscription.
 */
async function readToEnd(kafka: Kafka, topic: string, groupId: string, onMessage: (partition: number, m: KafkaMessage) => Promise<boolean>): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
  await admin.disconnect();
  const remaining = new Set([...ends].filter(([partition, high]) => Number(committed.find((c) => c.partition === partition)?.offset ?? -1) < high && high > 0).map(([p]) => p));
  if (remaining.size === 0) return;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          if (!remaining.has(partition)) return;
          const more = await onMessage(partition, message);
          if (!more) remaining.clear();
          if (Number(message.offset) + 1 >= (ends.get(partition) ?? 0)) remaining.delete(partition);
          if (remaining.size === 0) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
}

export async function showDeadLetters(kafka: Kafka, topic: string, limit: number): Promise<DeadLetter[]> {
  assertDlq(topic);
  const group = `cdc-dlq-show-${randomBytes(4).toString('hex')}`;
  const out: DeadLetter[] = [];
  await readToEnd(kafka, topic, group, async (partition, m) => {
    out.push(toDeadLetter(partition, m));
    return out.length < limit;
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups([group]).catch(() => undefined);
  await admin.disconnect();
  return out.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
}

/**
 * Sends every dead letter not yet replayed back to its original topic, keyed as before (so it
 * lands in the same partition), and commits the replay group past it. Projections are
 * idempotent and position-guarded, so an event that is by now outdated changes nothing.
 */
export async function replayDeadLetters(kafka: Kafka, topic: string, dryRun: boolean): Promise<DeadLetter[]> {
  assertDlq(topic);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: defaultPartitioner });
  await producer.connect();
  const replayed: DeadLetter[] = [];
  try {
    await readToEnd(kafka, topic, dryRun ? `cdc-dlq-dry-${randomBytes(4).toString('hex')}` : REPLAY_GROUP, async (partition, m) => {
      const letter = toDeadLetter(partition, m);
      if (letter.originalTopic === '') throw new PipelineError('EVENT_INVALID', `${topic} offset ${m.offset} has no dlq.original.topic header`);
      if (!dryRun) {
        await producer.send({
          topic: letter.originalTopic,
          messages: [{ key: m.key, value: m.value, headers: { ...originalHeaders(m), 'dlq.replayed.from': `${topic}/${partition}/${m.offset}` } }],
        });
      }
      replayed.push(letter);
      return true;
    });
  } finally {
    await producer.disconnect();
  }
  return replayed;
}

/** The headers the event came with (an outbox event's type and version live there), without ours. */
function originalHeaders(message: KafkaMessage): Record<string, Buffer | string> {
  const out: Record<string, Buffer | string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (name.startsWith('dlq.') || value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first;
  }
  return out;
}

function assertDlq(topic: string): void {
  if (!topic.endsWith('.dlq')) throw new PipelineError('CLI_USAGE', `${topic} is not a dead-letter topic`, { hint: 'dead-letter topics end in .dlq; cdc dlq list shows them' });
}
