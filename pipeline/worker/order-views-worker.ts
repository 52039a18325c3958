import type { Db } from 'mongodb';
import { orderViewWrite } from '../../projections/order-views.js';
import type { WriteModel } from '../../projections/write-model.js';
import { OrderChangeSchema, OrderKeySchema } from '../../schemas/shop-rows.js';
import { PipelineError } from '../errors.js';
import { cdcTopic, type Consumer, type EachBatchPayload, type KafkaMessage, type Producer } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { writeModels } from '../store/writer.js';
import { deadLetter } from './dead-letter.js';

export interface OrderViewsWorkerOptions {
  consumer: Consumer;
  producer: Producer;
  db: Db;
  log: Logger;
  topicPrefix: string;
  schema: string;
  fromBeginning?: boolean;
}

type Parsed = { kind: 'write'; model: WriteModel } | { kind: 'skip' };

/** Decodes one message of the orders topic into a write model, or throws EVENT_INVALID. */
export function decodeOrderMessage(message: KafkaMessage): Parsed {
  if (message.key === null) throw new PipelineError('EVENT_INVALID', 'message has no key');
  const key = OrderKeySchema.safeParse(JSON.parse(message.key.toString('utf8')));
  if (!key.success) throw new PipelineError('EVENT_INVALID', `key is not an orders key: ${key.error.message}`);
  // The Kafka tombstone after a delete: the delete event before it already did the work.
  if (message.value === null) return { kind: 'skip' };
  let json: unknown;
  try {
    json = JSON.parse(message.value.toString('utf8'));
  } catch (cause) {
    throw new PipelineError('EVENT_INVALID', 'value is not JSON', { cause });
  }
  const change = OrderChangeSchema.safeParse(json);
  if (!change.success) throw new PipelineError('EVENT_INVALID', `value is not an orders change event: ${change.error.message}`);
  if (change.data.op === 't') return { kind: 'skip' };
  const position = change.data.source.lsn;
  if (position === null || position === undefined) throw new PipelineError('EVENT_INVALID', 'change event has no source.lsn');
  return { kind: 'write', model: orderViewWrite(change.data, position, key.data.id) };
}

/**
 * The first projection, minimal: orders → order_views. One batch is decoded, coalesced per order
 * (the last change of a key in a partition is its newest), written as one unordered bulk write,
 * and only then are its offsets committed.
 */
export async function startOrderViewsWorker(opts: OrderViewsWorkerOptions): Promise<void> {
  const topic = cdcTopic(opts.topicPrefix, opts.schema, 'orders');
  await opts.consumer.subscribe({ topic, fromBeginning: opts.fromBeginning ?? true });
  await opts.consumer.run({
    eachBatchAutoResolve: false,
    autoCommit: false,
    eachBatch: async (payload: EachBatchPayload) => handleBatch(opts, payload),
  });
  opts.log.info({ topic }, 'order_views worker running');
}

async function handleBatch(opts: OrderViewsWorkerOptions, payload: EachBatchPayload): Promise<void> {
  const { batch } = payload;
  const latest = new Map<string | number, WriteModel>();
  for (const message of batch.messages) {
    try {
      const parsed = decodeOrderMessage(message);
      if (parsed.kind === 'write') latest.set(parsed.model.id, parsed.model);
    } catch (err) {
      if (!(err instanceof PipelineError) || err.code !== 'EVENT_INVALID') throw err;
      await deadLetter(opts.producer, { topic: batch.topic, partition: batch.partition, message, reason: err.message });
      opts.log.warn({ topic: batch.topic, partition: batch.partition, offset: message.offset, reason: err.message }, 'event dead-lettered');
    }
  }
  if (latest.size > 0) {
    const result = await writeModels(opts.db, [...latest.values()]);
    opts.log.debug({ partition: batch.partition, messages: batch.messages.length, ...result }, 'batch written');
  }
  payload.resolveOffset(batch.lastOffset());
  await payload.commitOffsetsIfNecessary();
  await payload.heartbeat();
}
