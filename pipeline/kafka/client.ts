import kafkajs from 'kafkajs';
import type { Logger } from '../logger.js';

const { Kafka, logLevel, Partitioners } = kafkajs;
export type { Consumer, Producer, Admin, EachBatchPayload, KafkaMessage, IHeaders } from 'kafkajs';

/**
 * kafkajs reports normal group life (a coordinator loading, a rebalance in progress) at ERROR.
 * Those are retried by the client (as is a new topic whose partitions have no leader yet);
 * logging them as errors would page people for nothing.
 */
const RETRIABLE_NOISE = /(The group is rebalancing|coordinator is loading|Coordinator.*not available|rebalance|NOT_COORDINATOR|LEADER_NOT_AVAILABLE|not the leader for that topic-partition|Restarting the consumer|Limiting retries for the idempotent producer)/i;

/** `retries`: attempts after the first (8 by default); a caller that polls again anyway wants few. */
export function createKafka(brokers: string[], clientId: string, log: Logger, opts: { retries?: number } = {}): kafkajs.Kafka {
  const kafkaLog = log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 5000,
    retry: { retries: opts.retries ?? 8, initialRetryTime: 200, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, ...fields } = entry;
      const text = `${String(message)}`;
      const noise = RETRIABLE_NOISE.test(text) || RETRIABLE_NOISE.test(String(fields['error'] ?? ''));
      if (noise) {
        kafkaLog.debug(fields, text);
      } else if (level === logLevel.ERROR) {
        kafkaLog.error(fields, text);
      } else if (level <= logLevel.WARN) {
        kafkaLog.warn(fields, text);
      } else {
        kafkaLog.debug(fields, text);
      }
    },
  });
}

/** Debezium's topic naming: <topic.prefix>.<schema>.<table>. */
export function cdcTopic(prefix: string, schema: string, table: string): string {
  return `${prefix}.${schema}.${table}`;
}

/** The murmur2 partitioner Java clients use, chosen explicitly (kafkajs warns when it is implicit). */
export const defaultPartitioner = Partitioners.DefaultPartitioner;
