import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Admin } from './client.js';

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
    topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions ?? numPartitions, replicationFactor: 1, configEntries: t.configEntries ?? [] })),
  });
  return missing.map((t) => t.topic);
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
