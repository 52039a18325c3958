import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import kafkajs from 'kafkajs';
import type { Admin } from './client.js';

const { ConfigResourceTypes } = kafkajs;

export interface TopicSpec {
  topic: string;
  numPartitions?: number;
  configEntries?: { name: string; value: string }[];
}

/** Creates topics that do not exist yet; a no-op for those that do. */
export async function ensureTopics(admin: Admin, topics: (string | TopicSpec)[], numPartitions = 6): Promise<string[]> {
  const specs = topics.map((t) => (typeof t === 'string' ? { topic: t } : t));
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return [];
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((t) => ({
      topic: t.topic,
      numPartitions: t.numPartitions ?? numPartitions,
      replicationFactor: 1,
      configEntries: t.configEntries ?? [],
    })),
  });
  return missing.map((t) => t.topic);
}

/**
 * Brings topics that already exist to the settings their spec names (a dead-letter topic created
 * by an earlier release with the broker's retention). Only the named settings are compared; the
 * set given replaces the topic's overrides, so use it for topics this project owns.
 */
export async function alignTopicConfigs(admin: Admin, specs: TopicSpec[], log: Logger): Promise<string[]> {
  const withConfigs = specs.filter((s) => (s.configEntries ?? []).length > 0);
  if (withConfigs.length === 0) return [];
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: withConfigs.map((s) => ({ type: ConfigResourceTypes.TOPIC, name: s.topic })),
  });
  const drifted = withConfigs.filter((spec) => {
    const entries = described.resources.find((r) => r.resourceName === spec.topic)?.configEntries ?? [];
    return (spec.configEntries ?? []).some(
      (want) => entries.find((e) => e.configName === want.name)?.configValue !== want.value,
    );
  });
  if (drifted.length === 0) return [];
  await admin.alterConfigs({
    validateOnly: false,
    resources: drifted.map((s) => ({
      type: ConfigResourceTypes.TOPIC,
      name: s.topic,
      configEntries: s.configEntries ?? [],
    })),
  });
  log.info(
    { topics: drifted.map((s) => s.topic), event: 'topic_configs_aligned' },
    'topic settings brought to what this release expects',
  );
  return drifted.map((s) => s.topic);
}

/**
 * A topic's offsets, waiting out the moment after its creation when the broker does not yet lead
 * its partitions (Kafka 4.3 answers NOT_LEADER_OR_FOLLOWER to a list-offsets then).
 */
export async function topicOffsets(
  admin: Admin,
  topic: string,
  timeoutMs = 30_000,
): Promise<{ partition: number; offset: string; high: string; low: string }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      const retriable =
        err instanceof Error &&
        ((err as { retriable?: boolean }).retriable === true ||
          /not the leader|leader not available|does not host this topic-partition/i.test(err.message));
      if (!retriable || Date.now() > deadline) {
        throw new PipelineError(
          'TIMEOUT',
          `offsets of ${topic} could not be read: ${err instanceof Error ? err.message : String(err)}`,
          {
            cause: err,
            hint: 'check Kafka (cdc stack status); a topic created a moment ago needs its partition leaders first',
          },
        );
      }
      await sleep(250);
    }
  }
}

/** A consumer cannot subscribe to a topic that does not exist: wait, saying what would create it. */
export async function waitForTopics(admin: Admin, topics: string[], timeoutMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let warned = false;
  for (;;) {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new PipelineError('TIMEOUT', `source topics do not exist: ${missing.join(', ')}`, {
        hint: 'apply the connector first (cdc connectors apply); it creates the topics of the captured tables',
      });
    }
    if (!warned) log.warn({ missing }, 'waiting for source topics; has the connector been applied?');
    warned = true;
    await sleep(1000);
  }
}
