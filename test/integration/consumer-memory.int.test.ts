import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadSettings } from '../../pipeline/config.js';
import { runConsumer } from '../../pipeline/engine/consumer.js';
import type { ApplyStats, Projector } from '../../pipeline/engine/projector.js';
import { fixedRounds } from '../../pipeline/engine/round-sizer.js';
import { createKafka, defaultPartitioner, type EachBatchPayload } from '../../pipeline/kafka/client.js';
import { createLogger } from '../../pipeline/logger.js';
import { WorkerMetrics } from '../../pipeline/metrics/worker-metrics.js';
import type { Decoded, RawMessage } from '../../schemas/decode-change.js';
import { eventually, randomName } from '../support/shop-env.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * A fetched batch's messages are slices of one fetch response (up to `maxBytes`). Once its
 * changes are handed to a round, nothing may keep the batch reachable: a backlog drain queues
 * rounds for seconds, and a callback holding a batch held its whole response with it.
 */
describe('consumer memory', () => {
  const settings = loadSettings();
  const log = createLogger('consumer-memory', process.env['LOG_LEVEL'] ?? 'warn');

  test('changes waiting for a round in flight do not keep their fetched batches reachable', async () => {
    const name = randomName('mem');
    const topic = `${name}.rows`;
    const kafka = createKafka(settings.kafkaBrokers, name, log);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const producer = kafka.producer({ createPartitioner: defaultPartitioner });
    await producer.connect();
    const records = 3000;
    const padding = 'x'.repeat(1000);
    // One send per 100 records: the broker returns at least one whole record batch per fetch.
    for (let start = 0; start < records; start += 100) {
      await producer.send({ topic, messages: Array.from({ length: 100 }, (_, i) => ({ key: String(start + i), value: JSON.stringify({ id: start + i, padding }) })) });
    }

    // The first round never finishes until released, so every later chunk waits in the queue.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const projector = {
      apply: async (changes: unknown[]): Promise<ApplyStats> => {
        await gate;
        return { changes: changes.length, written: {}, conflicts: 0, fannedOut: 0, changesByProjection: {} };
      },
    } as unknown as Projector;
    let decoded = 0;
    const decode = (m: RawMessage): Decoded => {
      decoded += 1;
      return { kind: 'change', change: { table: 'rows', id: m.key ?? '', op: 'upsert', row: {}, before: null, unavailable: [], position: decoded, txId: null, sourceTsMs: 0, snapshot: false } };
    };
    // Small fetches, so the backlog arrives in many batches; each is watched without being held.
    const consumer = kafka.consumer({ groupId: name, maxBytesPerPartition: 64 * 1024, maxBytes: 64 * 1024 });
    await consumer.connect();
    const batches: WeakRef<object>[] = [];
    const run = consumer.run.bind(consumer);
    consumer.run = (config) =>
      run({
        ...config,
        eachBatch: async (payload: EachBatchPayload) => {
          batches.push(new WeakRef(payload.batch));
          await config?.eachBatch?.(payload);
        },
      });
    const running = await runConsumer({ consumer, producer, projector, decode, topics: [topic], log, concurrency: 1, chunkSize: 100, rounds: fixedRounds(1_000_000), isStopping: () => false, metrics: new WorkerMetrics() });
    try {
      await eventually(async () => decoded, (n) => n === records, 60_000);
      // Let the last handler return (it heartbeats after its last chunk), then collect (a WeakRef
      // holds its target until the job ends).
      await sleep(500);
      gc();
      await tick();
      gc();
      expect(batches.length).toBeGreaterThan(10);
      const reachable = batches.filter((b) => b.deref() !== undefined).length;
      // kafkajs itself may still hold the batch it handed over last.
      expect(reachable).toBeLessThanOrEqual(1);
    } finally {
      release();
      await running.drain();
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
