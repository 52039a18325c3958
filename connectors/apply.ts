import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings, PROJECT_ROOT } from '../pipeline/config.js';
import { EVENT_AGGREGATES, eventTopic } from '../schemas/events/registry.js';
import { createKafka } from '../pipeline/kafka/client.js';
import { alignTopicConfigs, ensureTopics, type TopicSpec } from '../pipeline/kafka/topics.js';
import { PipelineError } from '../pipeline/errors.js';
import type { Logger } from '../pipeline/logger.js';
import { ConnectorFileSchema, type ConnectorFile } from './config-schema.js';
import { ConnectClient, type ConnectorStatus } from './connect-client.js';

export const DEFAULT_CONNECTOR_FILES = [join(PROJECT_ROOT, 'connectors', 'shop-postgres-source.json')];

export function parseConnectorFile(text: string, origin: string): ConnectorFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new PipelineError('CONNECTOR_CONFIG_INVALID', `${origin} is not valid JSON`, { cause });
  }
  const parsed = ConnectorFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
    throw new PipelineError('CONNECTOR_CONFIG_INVALID', `${origin} failed validation:\n${issues}`, {
      hint: 'correct the keys named above (connectors/config-schema.ts lists what is allowed)',
    });
  }
  return parsed.data;
}

export function loadConnectorFile(path: string): ConnectorFile {
  return parseConnectorFile(readFileSync(path, 'utf8'), path);
}

/**
 * The shipped source connector pointed at another shop schema, with its own slot, publication and
 * topic prefix: what tests and benchmarks run, so the config under test is the one that ships.
 */
export function connectorForSchema(opts: { name: string; schema: string; topicPrefix: string; slot: string; publication: string; tables: readonly string[]; overrides?: Record<string, string> }): ConnectorFile {
  const base = loadConnectorFile(DEFAULT_CONNECTOR_FILES[0] as string);
  const prefix = escapeRegex(opts.topicPrefix);
  // Keys that name topics, retargeted when the file has them (the outbox router and its topics).
  const retargeted: Record<string, string> = {};
  if (base.config['predicates.isOutbox.pattern'] !== undefined) retargeted['predicates.isOutbox.pattern'] = `${prefix}\\.${escapeRegex(opts.schema)}\\.outbox`;
  if (base.config['transforms.outbox.route.topic.replacement'] !== undefined) retargeted['transforms.outbox.route.topic.replacement'] = eventTopic(opts.topicPrefix, '${routedByValue}');
  const heartbeat = base.config['heartbeat.action.query'];
  if (heartbeat !== undefined) retargeted['heartbeat.action.query'] = heartbeat.replaceAll('shop.debezium_heartbeat', `"${opts.schema}".debezium_heartbeat`);
  if (base.config['topic.creation.events.include'] !== undefined) retargeted['topic.creation.events.include'] = `${prefix}\\.events\\..*`;
  if (base.config['signal.data.collection'] !== undefined) retargeted['signal.data.collection'] = `${opts.schema}.debezium_signal`;
  if (base.config['notification.sink.topic.name'] !== undefined) retargeted['notification.sink.topic.name'] = notificationTopic(opts.topicPrefix);
  if (base.config['topic.creation.notifications.include'] !== undefined) retargeted['topic.creation.notifications.include'] = `${prefix}\\.notifications`;
  return {
    name: opts.name,
    config: {
      ...base.config,
      'topic.prefix': opts.topicPrefix,
      'slot.name': opts.slot,
      'publication.name': opts.publication,
      'table.include.list': opts.tables.map((t) => `${opts.schema}.${t}`).join(','),
      ...retargeted,
      ...opts.overrides,
    },
  };
}

/** Where Debezium's notifications (incremental snapshot started, completed, ...) go. */
export function notificationTopic(topicPrefix: string): string {
  return `${topicPrefix}.notifications`;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** topic.creation.default.<x> keys that are topic-level configs, passed on as <x>. */
const TOPIC_CONFIG_KEYS = ['cleanup.policy', 'delete.retention.ms', 'min.compaction.lag.ms', 'retention.ms', 'retention.bytes', 'compression.type'];

/**
 * The topics a connector writes row changes to, with the settings its topic.creation keys ask for.
 * Debezium creates a table's topic only at the table's first event; creating them up front lets
 * consumers subscribe to an empty table's topic. Regex entries in table.include.list are skipped.
 */
export function connectorTopics(file: ConnectorFile, aggregateTypes: readonly string[] = EVENT_AGGREGATES): TopicSpec[] {
  const c = file.config;
  const prefix = c['topic.prefix'];
  const tables = (c['table.include.list'] ?? '').split(',').map((t) => t.trim()).filter((t) => /^[\w]+\.[\w]+$/.test(t));
  if (prefix === undefined) return [];
  const spec = (group: string, topic: string): TopicSpec => {
    const partitions = c[`topic.creation.${group}.partitions`] ?? c['topic.creation.default.partitions'];
    const configEntries = TOPIC_CONFIG_KEYS.flatMap((k) => {
      const value = c[`topic.creation.${group}.${k}`];
      return value === undefined ? [] : [{ name: k, value }];
    });
    return { topic, ...(partitions === undefined ? {} : { numPartitions: Number(partitions) }), configEntries };
  };
  const outbox = c['transforms.outbox.type'] === undefined ? undefined : new RegExp(`^${c['predicates.isOutbox.pattern'] ?? '$^'}$`);
  // The outbox's own topic never receives a record: the router sends every one elsewhere.
  const rows = tables.map((t) => `${prefix}.${t}`).filter((topic) => outbox === undefined || !outbox.test(topic)).map((topic) => spec('default', topic));
  // Outbox events: the router's topics, created with the "events" group's settings (not compacted:
  // an event is a fact, and a later event of the same order must not erase it).
  const routed = c['transforms.outbox.route.topic.replacement'] === undefined ? [] : aggregateTypes.map((a) => spec('events', eventTopic(prefix, a)));
  return [...rows, ...routed];
}


/** Creates the connector's topics, then applies it: what `cdc connectors apply` does. */
export async function applyConnectorWithTopics(file: ConnectorFile, log: Logger): Promise<ConnectorStatus> {
  const settings = loadSettings();
  const admin = createKafka(settings.kafkaBrokers, 'cdc-connectors', log).admin();
  await admin.connect();
  try {
    const topics = connectorTopics(file);
    const created = await ensureTopics(admin, topics);
    if (created.length > 0) log.info({ created }, 'created source topics');
    // Topics made by an earlier file keep what it asked for until told otherwise (retention of
    // events, how long compaction keeps deletes): the file is the source of truth.
    await alignTopicConfigs(admin, topics, log);
  } finally {
    await admin.disconnect();
  }
  return applyConnector(new ConnectClient(settings.connectUrl), file, log);
}

/**
 * Creates or updates a connector idempotently: our schema first, then Connect's validate endpoint,
 * then PUT (which creates or replaces), then waits for the connector and all tasks to run.
 */
export async function applyConnector(client: ConnectClient, file: ConnectorFile, log: Logger, timeoutMs = 90_000): Promise<ConnectorStatus> {
  const problems = await client.validate(file.name, file.config);
  if (problems.length > 0) {
    const lines = problems.map((p) => `  ${p.key}: ${p.errors.join('; ')}`).join('\n');
    throw new PipelineError('CONNECTOR_CONFIG_INVALID', `Kafka Connect rejected ${file.name}:\n${lines}`, {
      hint: 'fix the values above; a connection error usually means a wrong host, port, user or password',
    });
  }
  await client.putConfig(file.name, file.config);
  log.info({ connector: file.name }, 'connector config applied; waiting for RUNNING');
  return client.waitRunning(file.name, timeoutMs);
}
