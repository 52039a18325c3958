import kafkajs from 'kafkajs';
import { deadLetterTopic, retryTopic } from '../../pipeline/engine/dead-letter.js';
import { PROJECTIONS } from '../../projections/registry.js';
import { pipelineStatus } from '../../pipeline/status/pipeline-status.js';
import { eventTopic } from '../../schemas/events/registry.js';
import { eventually, ShopEnv } from '../support/shop-env.js';

describe('topics keep what rebuilds and replays need', () => {
  let env: ShopEnv;
  afterEach(async () => env.dispose());

  async function configs(topic: string): Promise<Record<string, string>> {
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic }],
      });
      return Object.fromEntries(
        (described.resources[0]?.configEntries ?? []).map((e) => [e.configName, e.configValue]),
      );
    } finally {
      await admin.disconnect();
    }
  }

  test('event, dead-letter and retry topics are kept forever; status warns when a lag nears the window compaction keeps deletes for', async () => {
    env = new ShopEnv();
    await env.createSchema();
    // A short window, so that a stopped worker nears it within the test.
    await env.startConnector({ 'topic.creation.default.min.compaction.lag.ms': '4000' });
    const worker = await env.startWorker();

    expect(await configs(eventTopic(env.topicPrefix, 'order'))).toMatchObject({
      'cleanup.policy': 'delete',
      'retention.ms': '-1',
      'retention.bytes': '-1',
    });
    expect(await configs(env.topic('orders'))).toMatchObject({
      'cleanup.policy': 'compact',
      'min.compaction.lag.ms': '4000',
      'delete.retention.ms': '604800000',
    });
    for (const owned of [
      deadLetterTopic(env.topic('orders')),
      retryTopic(env.topic('orders')),
      deadLetterTopic(eventTopic(env.topicPrefix, 'order')),
    ]) {
      expect(await configs(owned)).toMatchObject({
        'cleanup.policy': 'delete',
        'retention.ms': '-1',
        'retention.bytes': '-1',
      });
    }

    await env.sql('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers ORDER BY id LIMIT 1');
    await env.converged();
    const caughtUp = await pipelineStatus(env.kafka, env.db, PROJECTIONS, {
      groupId: env.groupId,
      topicPrefix: env.topicPrefix,
      schema: env.schema,
    });
    expect(caughtUp.warnings).toEqual([]);

    await worker.stop();
    for (let i = 0; i < 30; i++)
      await env.sql('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers ORDER BY id LIMIT 1');
    const lagging = await eventually(
      () =>
        pipelineStatus(env.kafka, env.db, PROJECTIONS, {
          groupId: env.groupId,
          topicPrefix: env.topicPrefix,
          schema: env.schema,
        }),
      (s) => s.warnings.length > 0,
      60_000,
    );
    expect(lagging.warnings[0]).toMatch(
      new RegExp(`^${env.topic('orders')}/\\d+ lags \\d+ s; compaction may drop its delete events after 4 s`),
    );
  });
});
