import type { VersionHistory } from '../versioned.js';
import { paymentAuthorized, paymentCaptured, paymentRefunded } from './payment-events.js';

export interface EventSpec {
  /** The outbox's `aggregatetype`: Debezium's event router names the topic after it. */
  aggregateType: string;
  history: VersionHistory<unknown>;
}

/** Every event type a projection may read, by the outbox's `type` column. */
export const EVENT_TYPES: Readonly<Record<string, EventSpec>> = {
  'payment.authorized': { aggregateType: 'order', history: paymentAuthorized as VersionHistory<unknown> },
  'payment.captured': { aggregateType: 'order', history: paymentCaptured as VersionHistory<unknown> },
  'payment.refunded': { aggregateType: 'order', history: paymentRefunded as VersionHistory<unknown> },
};

/** The aggregate types whose event topics projections read. */
export const EVENT_AGGREGATES: readonly string[] = [...new Set(Object.values(EVENT_TYPES).map((e) => e.aggregateType))];

/** The topic the outbox event router writes an aggregate type's events to (connectors/*.json). */
export function eventTopic(topicPrefix: string, aggregateType: string): string {
  return `${topicPrefix}.events.${aggregateType}`;
}

export function isEventTopic(topic: string, topicPrefix: string): boolean {
  return topic.startsWith(`${topicPrefix}.events.`) && !topic.endsWith('.dlq');
}
