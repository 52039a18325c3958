import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECTIONS } from '../../projections/registry.js';
import type { Settings } from '../config.js';
import { createKafka } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { appPool } from '../postgres/clients.js';
import { runLoad } from '../shop/load-generator.js';
import type { StoredDoc } from '../store/documents.js';
import { connectMongo } from '../store/mongo.js';
import { superuserClient } from '../postgres/clients.js';
import { verifyProjection } from '../verify/verify.js';
import { runWorker } from '../worker/run-worker.js';
import { groupLag } from '../kafka/lag.js';
import { BenchShop } from './harness.js';
import { noopConsumer } from './noop-consumer.js';
import { replay } from '../replay/rebuild.js';
import { ProgressDisplay } from '../replay/progress-display.js';

export interface DrainReport {
  changes: number;
  records: number;
  clientRate: number;
  storeRate: number;
  engineRate: number;
  engineSeconds: number;
  /** `cdc replay order_views` on the same backlog, after the live drain (start-up included). */
  replayRate: number;
  replaySeconds: number;
  replayPeakRssMiB: number;
  documents: number;
  ratioToLowerCeiling: number;
  verifyDifferences: number;
  peakRssMiB: number;
}

/** Samples this process's RSS every 200 ms until `stop()`, which returns the peak in MiB. */
function sampleRss(): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 200);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.round(peak / 1024 / 1024);
    },
  };
}

/**
 * One backlog, three measurements in one run: a no-op kafkajs consumer (C_client), raw unordered
 * bulk upserts of the projected documents (C_store), and the projector draining the same topics.
 */
export async function drainBench(settings: Settings, log: Logger, changes: number, say: (line: string) => void): Promise<DrainReport> {
  const shop = new BenchShop(settings, log);
  const kafka = createKafka(settings.kafkaBrokers, 'cdc-bench', log);
  say(`preparing ${shop.name}: seeding, connector, ${changes} changes`);
  await shop.create({ customers: 2000, products: 500 });
  const pool = appPool(settings, 4);
  const load = await runLoad(pool, { schema: shop.name, changes, concurrency: 4 });
  await pool.end();
  const records = await shop.waitForQuietTopics(kafka);
  say(`backlog: ${load.changes} row changes, ${records} Kafka records (with tombstones) in ${shop.topics().length} topics`);

  const clientGroup = `${shop.name}-noop`;
  // On the projector's clock: from its start, group join included, to zero lag.
  const clientRate = (await noopConsumer(kafka, shop.topics(), records, clientGroup, { maxBytesPerPartition: 1024 * 1024, maxBytes: 8 * 1024 * 1024, concurrency: 3 })).drain.rate;
  say(`C_client (no-op kafkajs consumer): ${Math.round(clientRate)} records/s`);

  // The projector, from a cold start of its group, until its lag is zero.
  const database = `${shop.name}_views`;
  const groupId = `${shop.name}-projector`;
  const liveRss = sampleRss();
  const started = Date.now();
  const worker = await runWorker({ topicPrefix: shop.name, schema: shop.name, groupId, mongoDatabase: database }, log);
  while ((await groupLag(kafka, groupId, shop.topics())) > 0) await sleep(250);
  const engineSeconds = (Date.now() - started) / 1000;
  const peakRssMiB = liveRss.stop();
  await worker.stop();
  const engineRate = records / engineSeconds;
  say(`projector (order_views + customer_views): ${Math.round(engineRate)} records/s (${engineSeconds.toFixed(1)} s)`);
  sayTimings(say, worker.storeTimings());

  // The rebuild, on the same backlog: a new generation from the earliest offsets, then the switch.
  const mongo = await connectMongo(settings.mongoUrl);
  const db = mongo.db(database);
  const replayAdmin = kafka.admin();
  await replayAdmin.connect();
  const replayRss = sampleRss();
  const replayStarted = Date.now();
  const rebuilt = await replay(
    { projection: 'order_views', topicPrefix: shop.name, schema: shop.name, liveGroup: groupId, mongoDatabase: database },
    { db, admin: replayAdmin, log, display: new ProgressDisplay(process.stdout), signal: new AbortController().signal, catchUpLag: 0 },
    'rebuild',
  );
  const replaySeconds = (Date.now() - replayStarted) / 1000;
  const replayPeakRssMiB = replayRss.stop();
  await replayAdmin.disconnect();
  const replayRate = records / replaySeconds;
  say(`replay (rebuild of order_views + customer_views into generation ${rebuilt.generation}): ${Math.round(replayRate)} records/s (${replaySeconds.toFixed(1)} s), ${(replayRate / engineRate).toFixed(2)}x the live drain, peak RSS ${replayPeakRssMiB} MiB`);
  sayTimings(say, rebuilt.storeTimings);

  // C_store: the same final documents, upserted raw in unordered bulks of 500 into a scratch collection.
  // Read in slices (a whole large collection in one answer overwhelms the store); only the writes are timed.
  const scratch = db.collection<StoredDoc>('raw_upsert');
  let storeMs = 0;
  let documents = 0;
  let slice: StoredDoc[] = [];
  const writeSlice = async () => {
    const t = Date.now();
    await scratch.bulkWrite(slice.map((d) => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })), { ordered: false });
    storeMs += Date.now() - t;
    documents += slice.length;
    slice = [];
  };
  for await (const doc of db.collection<StoredDoc>('order_views').find({}, { batchSize: 500 })) {
    slice.push(doc);
    if (slice.length === 500) await writeSlice();
  }
  if (slice.length > 0) await writeSlice();
  const storeRate = documents / (storeMs / 1000);
  say(`C_store (raw unordered bulk upserts of the ${documents} order_views documents): ${Math.round(storeRate)} docs/s`);

  const admin = superuserClient(settings);
  await admin.connect();
  let differences = 0;
  for (const p of PROJECTIONS) {
    const r = await verifyProjection(admin, shop.name, db, p);
    differences += r.missing + r.unexpected + r.different;
  }
  await admin.end();
  await db.dropDatabase();
  await mongo.close();
  await shop.dispose();
  const lower = Math.min(clientRate, storeRate);
  return {
    changes: load.changes,
    records,
    clientRate,
    storeRate,
    engineRate,
    engineSeconds,
    replayRate,
    replaySeconds,
    replayPeakRssMiB,
    documents,
    ratioToLowerCeiling: engineRate / lower,
    verifyDifferences: differences,
    peakRssMiB,
  };
}

function sayTimings(say: (line: string) => void, timings: Map<string, { count: number; ms: number; docs: number }>): void {
  say('  where the store time went (operation: calls, documents, seconds):');
  for (const [op, t] of [...timings].sort(([, a], [, b]) => b.ms - a.ms)) say(`    ${op.padEnd(32)} ${String(t.count).padStart(6)} ${String(t.docs).padStart(8)} ${(t.ms / 1000).toFixed(1).padStart(7)}`);
}
