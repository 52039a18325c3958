import { z } from 'zod';

/**
 * Keys a Debezium Postgres source file in this repository may set. The list is closed on purpose:
 * Connect ignores keys it does not know, so a typo ("slot.nam") would silently fall back to a
 * default. Add a key here when a connector needs it.
 */
export const DEBEZIUM_POSTGRES_KEYS = [
  'connector.class', 'tasks.max',
  'database.hostname', 'database.port', 'database.user', 'database.password', 'database.dbname', 'database.sslmode',
  'topic.prefix', 'plugin.name', 'publication.name', 'publication.autocreate.mode', 'slot.name', 'slot.drop.on.stop',
  'schema.include.list', 'table.include.list', 'column.exclude.list',
  'snapshot.mode', 'decimal.handling.mode', 'time.precision.mode', 'binary.handling.mode', 'interval.handling.mode',
  'heartbeat.interval.ms', 'heartbeat.action.query', 'tombstones.on.delete', 'provide.transaction.metadata',
  'max.batch.size', 'max.queue.size', 'poll.interval.ms', 'signal.data.collection', 'signal.enabled.channels',
  'incremental.snapshot.chunk.size', 'notification.enabled.channels', 'notification.sink.topic.name',
  'key.converter', 'key.converter.schemas.enable', 'value.converter', 'value.converter.schemas.enable',
  'topic.creation.default.partitions', 'topic.creation.default.replication.factor',
  'topic.creation.default.cleanup.policy', 'topic.creation.default.delete.retention.ms',
  'topic.creation.default.retention.ms', 'topic.creation.default.retention.bytes', 'topic.creation.default.min.compaction.lag.ms',
  'topic.creation.default.compression.type',
  'transforms', 'predicates', 'topic.creation.groups', 'errors.tolerance', 'errors.log.enable',
] as const;

/** What a topic.creation.<group>.* key may set, for a group named in topic.creation.groups. */
const TOPIC_GROUP_SETTINGS = ['include', 'exclude', 'partitions', 'replication.factor', 'cleanup.policy', 'retention.ms', 'retention.bytes', 'delete.retention.ms', 'min.compaction.lag.ms', 'compression.type'];

/** Values that must come from a Connect config provider, never from the file. */
const SECRET_KEYS = new Set(['database.password']);
const PROVIDER_REF = /^\$\{(env|file):[^}]+\}$/;

const stringValue = z.string({ error: 'must be a string (Connect configs are string maps)' });

export const ConnectorFileSchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'letters, digits, "_", "." and "-" only'),
  config: z.record(z.string(), stringValue).superRefine((config, ctx) => {
    const known = new Set<string>(DEBEZIUM_POSTGRES_KEYS);
    for (const group of (config['topic.creation.groups'] ?? '').split(',').map((g) => g.trim()).filter((g) => g !== '')) {
      for (const setting of TOPIC_GROUP_SETTINGS) known.add(`topic.creation.${group}.${setting}`);
    }
    for (const key of Object.keys(config)) {
      // transforms.<alias>.* and predicates.<alias>.* keys are open by nature: their aliases are
      // named in "transforms" and "predicates", and the plugin validates its own settings.
      if (known.has(key) || key.startsWith('transforms.') || key.startsWith('predicates.')) continue;
      const guess = closest(key, [...known]);
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `unknown key "${key}"${guess === undefined ? '' : ` (did you mean "${guess}"?)`}; add it to connectors/config-schema.ts if it is real`,
      });
    }
    for (const key of SECRET_KEYS) {
      const value = config[key];
      if (value !== undefined && !PROVIDER_REF.test(value)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `must be a config provider reference such as \${env:DEBEZIUM_PG_PASSWORD}, not a literal secret` });
      }
    }
    for (const required of ['connector.class', 'topic.prefix', 'slot.name', 'publication.name', 'plugin.name']) {
      if (config[required] === undefined) ctx.addIssue({ code: 'custom', path: [required], message: 'is required' });
    }
  }),
});

export type ConnectorFile = z.infer<typeof ConnectorFileSchema>;

function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(key, candidate);
    if (best === undefined || distance < best.distance) best = { key: candidate, distance };
  }
  return best !== undefined && best.distance <= 3 ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
