import { connectorForSchema, connectorTopics, DEFAULT_CONNECTOR_FILES, loadConnectorFile, parseConnectorFile } from '../../connectors/apply.js';
import { PipelineError } from '../../pipeline/errors.js';
import { SHOP } from '../../pipeline/shop/defaults.js';
import { CAPTURED_TABLES, HEARTBEAT_TABLE, SIGNAL_TABLE, ROW_TABLES } from '../../pipeline/shop/migrate.js';

const shipped = () => loadConnectorFile(DEFAULT_CONNECTOR_FILES[0] as string);

function rejects(config: Record<string, string>): PipelineError {
  try {
    parseConnectorFile(JSON.stringify({ name: 'x', config }), 'test.json');
  } catch (err) {
    if (err instanceof PipelineError) return err;
    throw err;
  }
  throw new Error('expected the file to be rejected');
}

describe('connector files', () => {
  test('the shipped source connector passes validation', () => {
    expect(shipped().name).toBe('shop-postgres-source');
  });

  test('the shipped connector agrees with the names the shop code uses', () => {
    const c = shipped().config;
    expect(c['topic.prefix']).toBe(SHOP.topicPrefix);
    expect(c['slot.name']).toBe(SHOP.slot);
    expect(c['publication.name']).toBe(SHOP.publication);
    expect(c['table.include.list']?.split(',')).toEqual(CAPTURED_TABLES.map((t) => `${SHOP.schema}.${t}`));
  });

  test('rejects a typo in a key and suggests the real one', () => {
    const err = rejects({ ...shipped().config, 'slot.nam': 'x' });
    expect(err.code).toBe('CONNECTOR_CONFIG_INVALID');
    expect(err.message).toContain('unknown key "slot.nam" (did you mean "slot.name"?)');
  });

  test('rejects a literal password: secrets come from a config provider', () => {
    const err = rejects({ ...shipped().config, 'database.password': 'hunter2' });
    expect(err.message).toMatch(/database\.password: must be a config provider reference/);
  });

  test('rejects a file without the keys that make a connector resumable', () => {
    const { 'slot.name': _slot, ...rest } = shipped().config;
    expect(rejects(rest).message).toMatch(/slot\.name: is required/);
  });

  test('rejects values that are not strings', () => {
    const err = (() => {
      try {
        parseConnectorFile(JSON.stringify({ name: 'x', config: { ...shipped().config, 'tasks.max': 1 } }), 'test.json');
      } catch (e) {
        return e as PipelineError;
      }
      throw new Error('expected rejection');
    })();
    expect(err.message).toMatch(/tasks\.max: must be a string/);
  });

  test('rejects a file that is not JSON, naming the file', () => {
    expect(() => parseConnectorFile('{', 'broken.json')).toThrow(/broken\.json is not valid JSON/);
  });

  test('derives one compacted topic per row table, and a never-compacted one per event aggregate', () => {
    const topics = connectorTopics(shipped());
    expect(topics.map((t) => t.topic)).toEqual([...ROW_TABLES, HEARTBEAT_TABLE, SIGNAL_TABLE].map((t) => `${SHOP.topicPrefix}.${SHOP.schema}.${t}`).concat(`${SHOP.topicPrefix}.events.order`));
    expect(topics[0]).toMatchObject({ numPartitions: 6, configEntries: expect.arrayContaining([{ name: 'cleanup.policy', value: 'compact' }]) });
    expect(topics.at(-1)).toMatchObject({ configEntries: expect.arrayContaining([{ name: 'cleanup.policy', value: 'delete' }, { name: 'retention.ms', value: '-1' }]) });
  });

  test('a test copy of the connector routes its outbox to its own topics', () => {
    const c = connectorForSchema({ name: 'n', schema: 't_ab', topicPrefix: 't_ab', slot: 's', publication: 'p', tables: ['orders', 'outbox'] }).config;
    expect(c['predicates.isOutbox.pattern']).toBe('t_ab\\.t_ab\\.outbox');
    expect(c['transforms.outbox.route.topic.replacement']).toBe('t_ab.events.${routedByValue}');
    expect(c['topic.creation.events.include']).toBe('t_ab\\.events\\..*');
    expect(c['heartbeat.action.query']).toContain('INSERT INTO "t_ab".debezium_heartbeat');
  });

  test('topic.creation group keys are checked too', () => {
    expect(rejects({ ...shipped().config, 'topic.creation.events.retention.m': '1' }).message).toContain('did you mean "topic.creation.events.retention.ms"');
  });
});
