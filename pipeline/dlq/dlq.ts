import { randomBytes } from 'node:crypto';
import kafkajs, { type Admin, type Consumer, type Kafka } from 'kafkajs';
import { PipelineError } from '../errors.js';
import { keptForeverTopic, retryTopic } from '../engine/dead-letter.js';
import { defaultPartitioner, type KafkaMessage } from '../kafka/client.js';
import { ensureTopics, topicOffsets } from '../kafka/topics.js';

const { ConfigResourceTypes } = kafkajs;

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
      const offsets = await topicOffsets(admin, topic);
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
 * the call starts, then stops: a bounded read, not a subscription. Records that arrive meanwhile
 * are left for the next call; with `commit`, the group's offset moves only over records
 * `onMessage` finished, so a failure midway loses and repeats nothing. A partition whose records
 * expired while it waited counts as read.
 */
async function readToEnd(
  kafka: Kafka,
  topic: string,
  groupId: string,
  commit: boolean,
  onMessage: (partition: number, m: KafkaMessage) => Promise<boolean>,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const bounds = async (): Promise<Map<number, { start: number; end: number }>> => {
    const offsets = await topicOffsets(admin, topic);
    const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
    return new Map(
      offsets.map((p) => [
        p.partition,
        {
          start: Math.max(Number(committed.find((c) => c.partition === p.partition)?.offset ?? -1), Number(p.low)),
          end: Number(p.high),
        },
      ]),
    );
  };
  let consumer: Consumer | undefined;
  let watch: NodeJS.Timeout | undefined;
  try {
    const initial = await bounds();
    const ends = new Map([...initial].map(([partition, b]) => [partition, b.end]));
    const remaining = new Set([...initial].filter(([, b]) => b.start < b.end).map(([p]) => p));
    if (remaining.size === 0) return;
    const c = kafka.consumer({ groupId, sessionTimeout: 10_000 });
    consumer = c;
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (remaining.size === 0) resolve();
      };
      // Retention may delete what a partition still had to give: nothing more arrives for it then.
      watch = setInterval(() => {
        void bounds().then((now) => {
          for (const [partition, b] of now) if (b.start >= (ends.get(partition) ?? 0)) remaining.delete(partition);
          check();
        }, reject);
      }, 5000);
      c.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const end = ends.get(batch.partition) ?? 0;
          let done: string | undefined;
          try {
            for (const m of batch.messages) {
              if (!remaining.has(batch.partition) || !isRunning() || isStale()) break;
              if (Number(m.offset) >= end) {
                remaining.delete(batch.partition);
                break;
              }
              const more = await onMessage(batch.partition, m);
              done = m.offset;
              resolveOffset(m.offset);
              if (Number(m.offset) + 1 >= end) remaining.delete(batch.partition);
              if (!more) remaining.clear();
            }
          } catch (err) {
            reject(err);
            return;
          } finally {
            if (commit && done !== undefined)
              await c.commitOffsets([{ topic, partition: batch.partition, offset: String(Number(done) + 1) }]);
          }
          await heartbeat();
          check();
        },
      }).catch(reject);
    });
  } finally {
    clearInterval(watch);
    await consumer?.disconnect();
    await admin.disconnect();
  }
}

export async function showDeadLetters(kafka: Kafka, topic: string, limit: number): Promise<DeadLetter[]> {
  assertDlq(topic);
  const group = `cdc-dlq-show-${randomBytes(4).toString('hex')}`;
  const out: DeadLetter[] = [];
  await readToEnd(kafka, topic, group, false, async (partition, m) => {
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
 * Sends every dead letter not yet replayed back for the workers to read again, keyed as before (so
 * it lands in the same partition), and commits the replay group past each one it sent. An event
 * goes back to its topic. A row change goes to its row topic's retry topic (retryTopic), never to
 * the compacted row topic, where it could outlive a newer change of its row. Projections are
 * idempotent and position-guarded, so an event that is by now outdated changes nothing.
 */
export async function replayDeadLetters(kafka: Kafka, topic: string, dryRun: boolean): Promise<DeadLetter[]> {
  assertDlq(topic);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: defaultPartitioner });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  const replayed: DeadLetter[] = [];
  const targets = new Map<string, string>();
  const targetOf = async (original: string): Promise<string> => {
    const known = targets.get(original);
    if (known !== undefined) return known;
    const target = (await isCompacted(admin, original)) ? retryTopic(original) : original;
    if (target !== original) await ensureTopics(admin, [keptForeverTopic(target)]);
    targets.set(original, target);
    return target;
  };
  try {
    await readToEnd(
      kafka,
      topic,
      dryRun ? `cdc-dlq-dry-${randomBytes(4).toString('hex')}` : REPLAY_GROUP,
      !dryRun,
      async (partition, m) => {
        const letter = toDeadLetter(partition, m);
        if (letter.originalTopic === '')
          throw new PipelineError('EVENT_INVALID', `${topic} offset ${m.offset} has no dlq.original.topic header`, {
            hint: 'this record was not written by a worker; inspect it with cdc dlq show and remove it by hand',
          });
        if (!dryRun) {
          await producer.send({
            topic: await targetOf(letter.originalTopic),
            messages: [
              {
                key: m.key,
                value: m.value,
                headers: { ...originalHeaders(m), 'dlq.replayed.from': `${topic}/${partition}/${m.offset}` },
              },
            ],
          });
        }
        replayed.push(letter);
        return true;
      },
    );
  } finally {
    await admin.disconnect();
    await producer.disconnect();
  }
  return replayed;
}

async function isCompacted(admin: Admin, topic: string): Promise<boolean> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
  });
  const policy =
    described.resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? '';
  return policy.includes('compact');
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
  if (!topic.endsWith('.dlq'))
    throw new PipelineError('CLI_USAGE', `${topic} is not a dead-letter topic`, {
      hint: 'dead-letter topics end in .dlq; cdc dlq list shows them',
    });
}
