import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import { z } from 'zod';
import { decodeChange } from '../../schemas/decode-change.js';
import { SHOP_TABLES } from '../../schemas/shop-rows.js';
import { orderRows } from '../../projections/order-rows.js';
import { PROJECTIONS } from '../../projections/registry.js';
import type { Settings } from '../config.js';
import { cdcTopic, createKafka } from '../kafka/client.js';
import { messageCount } from '../kafka/lag.js';
import type { Logger } from '../logger.js';
import { appPool } from '../postgres/clients.js';
import { ident } from '../postgres/sql.js';
import { runLoad } from '../shop/load-generator.js';
import type { StoredDoc } from '../store/documents.js';
import { connectMongo } from '../store/mongo.js';
import { changeKey } from '../worker/applied-report.js';
import { runWorker } from '../worker/run-worker.js';
import { describeCpu, stackPids, startCpuSpan, type CpuSpan } from './cpu-accounting.js';
import { timeDrain, type DrainRun } from './drain-timer.js';
import { BenchShop } from './harness.js';
import { noopConsumer } from './noop-consumer.js';
import { rssBench, type RssRun } from './rss-bench.js';
import { timedBulks } from './timed-bulks.js';
import { describeKinds, profileFromDirectory, profileThisThread, type ThreadProfile } from './thread-profile.js';
import { spawnWorker, type WorkerProcess } from './worker-process.js';
import { deleteSink, sinkConnectorConfig, sinkFailure, sinkGroup, startSink } from './sink-connector.js';

export interface CompareOptions {
  /** Row changes of the shop's mix in the backlog. */
  changes: number;
  /** Order inserts in the insert-only backlog. */
  inserts: number;
  /** Seconds of open-loop load for the freshness run. */
  freshnessSeconds: number;
  /** Seconds of the closed-loop run that measures the freshness workload's capacity. */
  capacitySeconds: number;
  /** Events in the backlog of the worker-RSS run (0: skipped, as in --quick). */
  rssEvents: number;
  /** Memory budgets (`cdc run --memory-mib`) of the RSS run; `undefined` is the default worker. */
  rssBudgets: (number | undefined)[];
  /** W1 and the sink connector run alternately this many times per workload; medians are reported. */
  pairs: number;
}

export interface W1Result {
  workload: string;
  records: number;
  /** The median of our runs, and of the sink's, by rate (the lower one of an even count). */
  ours: DrainRun;
  sink: DrainRun;
  /** Every run's rate, in the order they ran (ours and the sink alternating, ours first). */
  oursRates: number[];
  sinkRates: number[];
  /** ours / sink of the medians, events per second (Infinity when the sink did not finish). */
  ratio: number;
  /** Why the sink connector did not finish, when it did not (in any of its runs). */
  sinkError?: string;
  /** Documents compared over all runs, and those that differ (missing on either side counts). */
  compared: number;
  differences: number;
  firstDifferences: string[];
  /** The visible documents W1 wrote (for C_store). */
  docs: { _id: number }[];
  /** Where our drain's time went, by store operation. */
  profile: StoreProfile[];
  /** Where the machine's CPU went during our median run and the sink's (the worker: the bench's own process). */
  oursCpu: CpuSpan;
  sinkCpu: CpuSpan;
  /** One more drain of ours, untimed against the sink, under V8's sampling profiler (mix only). */
  profiled?: { rate: number; thread: ThreadProfile };
}

/** Seconds spent in one kind of store operation during a drain (concurrent calls each counted). */
export interface StoreProfile {
  operation: string;
  calls: number;
  seconds: number;
}

function topProfile(rows: StoreProfile[]): StoreProfile[] {
  return rows.sort((a, b) => b.seconds - a.seconds).slice(0, 8).map((r) => ({ ...r, seconds: Math.round(r.seconds * 10) / 10 }));
}

/** The worker's `cdc_store_operation_seconds` histogram, read from its /metrics text. */
export function storeProfileFromMetrics(text: string): StoreProfile[] {
  const rows = new Map<string, StoreProfile>();
  for (const m of text.matchAll(/^cdc_store_operation_seconds_(sum|count)\{operation="([^"]+)"\} ([0-9.e+-]+)$/gm)) {
    const [, kind, operation, value] = m as unknown as [string, 'sum' | 'count', string, string];
    const row = rows.get(operation) ?? { operation, calls: 0, seconds: 0 };
    if (kind === 'sum') row.seconds = Number(value);
    else row.calls = Number(value);
    rows.set(operation, row);
  }
  return topProfile([...rows.values()]);
}

export interface CompareReport {
  at: string;
  options: CompareOptions;
  /** C_client on the contenders' clock (start-up and join included), and from its first batch to its last. */
  cClient: number;
  cClientSteady: number;
  /** Events/s: one raw upsert (or delete) per event of the backlog, on a warm store. */
  cStore: number;
  /** Docs/s upserting only the final W1 documents (for reference; no writer can beat it). */
  cStoreFinalDocs: number;
  w1: Omit<W1Result, 'docs'>[];
  /** thread: the worker process's main thread, sampled from its start to its exit (absent if it wrote no profile). */
  w2: DrainRun & { peakRssMiB: number; profile: StoreProfile[]; cpu: CpuSpan; thread?: ThreadProfile };
  /** The worker draining a large backlog, per memory budget (absent when skipped). */
  rss?: RssRun[];
  /**
   * capacity: updates/s made visible by a closed-loop run of the freshness workload (source and
   * pipeline together, capacityUpdates of them); targetRate: half of it.
   */
  freshness: {
    capacity: number;
    capacityUpdates: number;
    targetRate: number;
    achievedRate: number;
    samples: number;
    p50Ms: number;
    p95Ms: number;
    p99Ms: number;
    maxMs: number;
    delaysMs: number[];
    /**
     * Where the delay went: source (intended time to the Postgres commit: the load's own queue),
     * debezium (commit to the Kafka record's timestamp), worker (that timestamp to applied).
     */
    stages: Record<'source' | 'debezium' | 'worker', { p50Ms: number; p99Ms: number }>;
  };
}

/** A load update's note (`fresh:` open loop, `cap:` closed loop) inside a Debezium record of orders. */
const LOAD_NOTE = /"note":"((?:fresh|cap):\d+)"/;

type Stage = 'source' | 'debezium' | 'worker';

/** p50/p99 per stage over the updates seen at every stage. */
function stageSummary(stages: Map<string, { committed?: number; appended?: number; applied?: number }>): Record<Stage, { p50Ms: number; p99Ms: number }> {
  const spans: Record<Stage, number[]> = { source: [], debezium: [], worker: [] };
  for (const [note, t] of stages) {
    if (t.committed === undefined || t.appended === undefined || t.applied === undefined) continue;
    spans.source.push(t.committed - Number(note.slice('fresh:'.length)));
    spans.debezium.push(t.appended - t.committed);
    spans.worker.push(t.applied - t.appended);
  }
  const q = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
  };
  return { source: q(spans.source), debezium: q(spans.debezium), worker: q(spans.worker) };
}

type W1Pair = Omit<W1Result, 'oursRates' | 'sinkRates'>;

/** The middle item by `rate` (the lower middle of an even count). */
export function medianBy<T>(items: readonly T[], rate: (item: T) => number): T {
  if (items.length === 0) throw new Error('medianBy: no items');
  return [...items].sort((a, b) => rate(a) - rate(b))[Math.floor((items.length - 1) / 2)] as T;
}

/**
 * W1 and the sink connector, `pairs` times each, alternating. One drain is a few seconds of work
 * for either, and the sink's rate moved by half between runs minutes apart on this machine, so one
 * pair's ratio can say more about the moment than about the two; the medians say less of it.
 */
async function w1(settings: Settings, log: Logger, kafka: Kafka, db: Db, shop: BenchShop, workload: string, opts: { pairs: number; profile: boolean }, say: (l: string) => void): Promise<W1Result> {
  const { pairs } = opts;
  const runs: W1Pair[] = [];
  for (let i = 1; i <= pairs; i++) runs.push(await w1Pair(settings, log, kafka, db, shop, workload, pairs === 1 ? '' : `${i}`, say));
  // Apart from the timed runs: the profiler's sampling costs the thread it watches a little.
  let profiled: W1Result['profiled'];
  if (opts.profile) {
    const { result, profile } = await profileThisThread(() => oursDrain(settings, log, kafka, shop, workload, 'p'));
    await db.client.db(result.database).dropDatabase();
    profiled = { rate: result.ours.rate, thread: profile };
    say(`  W1 ours (${workload}) under the profiler: ${Math.round(result.ours.rate)} events/s; thread busy ${Math.round(profile.busy * 100)}% of its active ${profile.activeSeconds.toFixed(1)} s: ${describeKinds(profile)}`);
  }
  const oursMedian = medianBy(runs, (r) => r.ours.rate);
  const { sink, sinkCpu } = medianBy(runs, (r) => r.sink.rate);
  const sinkError = runs.find((r) => r.sinkError !== undefined)?.sinkError;
  if (pairs > 1) say(`  medians of ${pairs} (${workload}): ours ${Math.round(oursMedian.ours.rate)}, sink ${Math.round(sink.rate)} events/s`);
  return {
    ...oursMedian,
    sink,
    sinkCpu,
    oursRates: runs.map((r) => r.ours.rate),
    sinkRates: runs.map((r) => r.sink.rate),
    ratio: sink.rate === 0 ? Number.POSITIVE_INFINITY : oursMedian.ours.rate / sink.rate,
    ...(sinkError === undefined ? {} : { sinkError }),
    compared: runs.reduce((n, r) => n + r.compared, 0),
    differences: runs.reduce((n, r) => n + r.differences, 0),
    firstDifferences: runs.flatMap((r) => r.firstDifferences).slice(0, 5),
    ...(profiled === undefined ? {} : { profiled }),
  };
}

/** Our W1 worker, in this process, draining the orders topic into a database of its own. */
async function oursDrain(settings: Settings, log: Logger, kafka: Kafka, shop: BenchShop, workload: string, run: string) {
  const topic = cdcTopic(shop.name, shop.name, 'orders');
  const records = await messageCount(kafka, [topic]);
  const database = `${shop.name}_${workload}${run}_w1`;
  const group = `${shop.name}-${workload}${run}-w1`;
  let worker: Awaited<ReturnType<typeof runWorker>> | undefined;
  const span = startCpuSpan({ ...stackPids(settings), worker: process.pid });
  const ours = await timeDrain(
    kafka,
    group,
    [topic],
    records,
    async () => {
      worker = await runWorker({ topicPrefix: shop.name, schema: shop.name, groupId: group, mongoDatabase: database, projections: [orderRows], tables: ['orders'], cache: false }, log);
    },
    { everyMs: 100 },
  );
  const cpu = span();
  const profile = topProfile([...(worker?.storeTimings() ?? new Map()).entries()].map(([operation, t]) => ({ operation, calls: t.count, seconds: t.ms / 1000 })));
  await worker?.stop();
  return { topic, records, database, ours, cpu, profile };
}

/** Our W1 and the sink connector on the same topic, then their outputs compared document for document. */
async function w1Pair(settings: Settings, log: Logger, kafka: Kafka, db: Db, shop: BenchShop, workload: string, run: string, say: (l: string) => void): Promise<W1Pair> {
  const { topic, records, database: oursDb, ours, cpu: oursCpu, profile } = await oursDrain(settings, log, kafka, shop, workload, run);
  const sinkDb = `${shop.name}_${workload}${run}_sink`;
  say(`  W1 ours (${workload}): ${Math.round(ours.rate)} events/s (${records} records in ${ours.seconds.toFixed(1)} s); CPU ${describeCpu(oursCpu)}`);
  const sinkName = `${shop.name}-${workload}${run}-sink`;
  let sink: DrainRun;
  let sinkError: string | undefined;
  const sinkSpan = startCpuSpan(stackPids(settings));
  try {
    sink = await timeDrain(kafka, sinkGroup(sinkName), [topic], records, () => startSink(settings, sinkName, sinkConnectorConfig(settings, { topic, database: sinkDb, collection: 'orders', maxPollRecords: 2000 })), {
      failed: () => sinkFailure(settings, sinkName),
      timeoutMs: 20 * 60_000,
      everyMs: 100,
    });
    say(`  MongoDB sink connector 2.0.1 (${workload}): ${Math.round(sink.rate)} events/s (${sink.seconds.toFixed(1)} s)`);
  } catch (err) {
    sinkError = String(err);
    sink = { records, seconds: Number.POSITIVE_INFINITY, rate: 0, series: [] };
    say(`  MongoDB sink connector 2.0.1 (${workload}): did not finish: ${sinkError}`);
  } finally {
    await deleteSink(settings, sinkName);
  }
  const sinkCpu = sinkSpan();
  say(`    CPU during the sink's drain: ${describeCpu(sinkCpu)}`);

  // Same documents? The sink keys by the Kafka key ({_id: {id}}) and deletes on delete; we keep an
  // invisible tombstone. Compare the visible rows, columns only.
  const mongo = db.client;
  const strip = (d: Record<string, unknown>) => Object.fromEntries(Object.entries(d).filter(([k]) => !k.startsWith('_') && k !== 'schemaVersion'));
  const oursDocs = new Map((await mongo.db(oursDb).collection<StoredDoc>('order_rows').find({ _visible: true }, { projection: { _state: 0 } }).toArray()).map((d) => [String(d._id), strip(d)]));
  // The sink moves the key's columns into _id ({_id: {id}}): put `id` back before comparing.
  const sinkDocs = new Map(
    (await mongo.db(sinkDb).collection('orders').find({}).toArray()).map((d) => {
      const id = Number((d['_id'] as { id?: unknown } | undefined)?.id ?? d['id']);
      return [String(id), { ...strip(d), id }];
    }),
  );
  const ids = new Set([...oursDocs.keys(), ...sinkDocs.keys()]);
  const differing = [...ids].filter((id) => JSON.stringify(sortKeys(oursDocs.get(id))) !== JSON.stringify(sortKeys(sinkDocs.get(id))));
  say(`  outputs: ${ids.size} documents compared, ${differing.length} differ`);
  for (const id of differing.slice(0, 3)) say(`    ${id}: ours ${JSON.stringify(oursDocs.get(id) ?? null)} sink ${JSON.stringify(sinkDocs.get(id) ?? null)}`);
  await mongo.db(oursDb).dropDatabase();
  await mongo.db(sinkDb).dropDatabase();
  return {
    workload,
    records,
    ours,
    sink,
    ratio: sink.rate === 0 ? Number.POSITIVE_INFINITY : ours.rate / sink.rate,
    ...(sinkError === undefined ? {} : { sinkError }),
    compared: ids.size,
    differences: differing.length,
    firstDifferences: differing.slice(0, 5).map((id) => `${id}: ours ${JSON.stringify(oursDocs.get(id) ?? null)} sink ${JSON.stringify(sinkDocs.get(id) ?? null)}`),
    docs: [...oursDocs].map(([id, d]) => ({ _id: Number(id), ...d })),
    profile,
    oursCpu,
    sinkCpu,
  };
}

/** Inserts `n` documents, then reads and replaces each by `{_id, _rev}`, twice. */
async function warmCompareAndSet(collection: Collection<{ _id: number; _rev: number }>, n: number): Promise<void> {
  const doc = (id: number, rev: number) => ({ _id: id, _rev: rev, note: `warm-up ${id}`, status: 'paid' });
  for (let i = 0; i < n; i += 500) await collection.insertMany(Array.from({ length: Math.min(500, n - i) }, (_, j) => doc(i + j, 1)), { ordered: false });
  for (const rev of [1, 2]) {
    for (let i = 0; i < n; i += 500) {
      const ids = Array.from({ length: Math.min(500, n - i) }, (_, j) => i + j);
      await collection.find({ _id: { $in: ids } }).toArray();
      await collection.bulkWrite(ids.map((id) => ({ replaceOne: { filter: { _id: id, _rev: rev }, replacement: doc(id, rev + 1) } })), { ordered: false });
    }
  }
}

/** An event of the orders topic as the raw write a blind per-event sink would make (none for a tombstone). */
function rawWrite(value: unknown): AnyBulkWriteOperation<{ _id: number }> | undefined {
  const parsed = RAW_EVENT.safeParse(value);
  if (!parsed.success) return undefined;
  const { op, before, after } = parsed.data;
  if (op === 'd') return before?.id === undefined ? undefined : { deleteOne: { filter: { _id: before.id } } };
  return after?.id === undefined ? undefined : { replaceOne: { filter: { _id: after.id }, replacement: { ...after, _id: after.id }, upsert: true } };
}

const ROW_WITH_ID = z.looseObject({ id: z.number() }).nullish();
const RAW_EVENT = z.object({ op: z.string(), before: ROW_WITH_ID, after: ROW_WITH_ID });

function sortKeys(d: Record<string, unknown> | undefined): unknown {
  return d === undefined ? null : Object.fromEntries(Object.entries(d).sort(([a], [b]) => a.localeCompare(b)));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/**
 * The side-by-side benchmark, in one run on one machine: ceilings (C_client, C_store), W1 against
 * the MongoDB sink connector on the shop's change mix and on inserts only, W2 (order_views and
 * customer_views) with the worker's peak RSS, and end-to-end freshness under open-loop load.
 */
export async function compareBench(settings: Settings, log: Logger, opts: CompareOptions, say: (line: string) => void): Promise<CompareReport> {
  const kafka = createKafka(settings.kafkaBrokers, 'cdc-bench-compare', log);
  const mongo = await connectMongo(settings.mongoUrl);
  const mix = new BenchShop(settings, log);
  const inserts = new BenchShop(settings, log);
  // W2's worker writes its CPU profile here when it exits; removed however the run ends.
  const w2ProfileDir = mkdtempSync(join(tmpdir(), 'cdc-w2-profile-'));
  try {
    say(`preparing ${mix.name}: the shop's change mix, ${opts.changes} changes`);
    await mix.create({ customers: 2000, products: 500 });
    const pool = appPool(settings, 4);
    await runLoad(pool, { schema: mix.name, changes: opts.changes, concurrency: 4 });
    await mix.waitForQuietTopics(kafka, 3000);
    say(`preparing ${inserts.name}: ${opts.inserts} order inserts`);
    await inserts.create({ customers: 200, products: 50 });
    const s = ident(inserts.name);
    for (let done = 0; done < opts.inserts; done += 5000) {
      await pool.query(`INSERT INTO ${s}.orders (customer_id, note) SELECT 1 + (g % 200), 'bench' FROM generate_series(1, $1) g`, [Math.min(5000, opts.inserts - done)]);
    }
    await inserts.waitForQuietTopics(kafka, 3000);

    const ordersTopic = cdcTopic(mix.name, mix.name, 'orders');
    const ordersRecords = await messageCount(kafka, [ordersTopic]);
    // The documents the backlog's events carry, one write per event, for C_store.
    const eventWrites: AnyBulkWriteOperation<{ _id: number }>[] = [];
    const client = await noopConsumer(kafka, [ordersTopic], ordersRecords, `${mix.name}-noop`, { maxBytesPerPartition: 2 * 1024 * 1024, maxBytes: 16 * 1024 * 1024, concurrency: 6 }, (value) => {
      const write = rawWrite(value);
      if (write !== undefined) eventWrites.push(write);
    });
    const cClient = client.drain.rate;
    say(`C_client (no-op kafkajs consumer, orders topic): ${Math.round(cClient)} records/s from its start (${Math.round(client.steadyRate)} from its first batch to its last)`);

    // C_store: every event's document upserted raw (a delete deleted), unordered bulks of 500.
    const scratch = (collection: string) => mongo.db(`${mix.name}_cstore`).collection<{ _id: number }>(collection);
    // The store's JIT is cold after the stack starts, and whoever writes first pays for it (W1's
    // round took 2.2-2.7 s against 0.7-0.8 s on a warm store). Untimed passes of both kinds of
    // write go first: raw upserts (the sink's and C_store's) and compare-and-set (ours).
    await timedBulks(scratch('warm-up'), eventWrites);
    await warmCompareAndSet(mongo.db(`${mix.name}_cstore`).collection('warm-up-cas'), eventWrites.length);
    const cStore = ordersRecords / (await timedBulks(scratch('raw'), eventWrites));
    await mongo.db(`${mix.name}_cstore`).dropDatabase();
    say(`C_store (raw unordered bulk upserts, one per event of the orders topic): ${Math.round(cStore)} events/s`);

    const w1Mix = await w1(settings, log, kafka, mongo.db('admin'), mix, 'mix', { pairs: opts.pairs, profile: true }, say);
    const w1Inserts = await w1(settings, log, kafka, mongo.db('admin'), inserts, 'inserts', { pairs: opts.pairs, profile: false }, say);

    // For reference: only the final documents W1 produced from the mix, which no writer can beat.
    const finalDocs = w1Mix.docs.length > 0 ? w1Mix.docs : [{ _id: 1 }];
    const cStoreFinalDocs = finalDocs.length / (await timedBulks(scratch('final'), finalDocs.map((d) => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } }))));
    await mongo.db(`${mix.name}_cstore`).dropDatabase();
    say(`  the ${finalDocs.length} final W1 documents alone, upserted raw: ${Math.round(cStoreFinalDocs)} docs/s`);

    // W2: the shop's projections in a worker process of their own, its RSS read from its /metrics.
    const w2Db = `${mix.name}_w2`;
    const w2Group = `${mix.name}-w2`;
    const topics = mix.topics();
    const w2Records = await messageCount(kafka, topics);
    let worker: WorkerProcess | undefined;
    const w2Pids = stackPids(settings);
    const w2Span = startCpuSpan(w2Pids);
    // Sampled from its start to its exit; the profile is written when it exits, after the drain.
    const w2 = await timeDrain(kafka, w2Group, topics, w2Records, async () => {
      worker = await spawnWorker(['--group', w2Group, '--schema', mix.name, '--topic-prefix', mix.name, '--database', w2Db], { cpuProfileDir: w2ProfileDir });
      w2Pids['worker'] = worker.child.pid;
    });
    const w2Cpu = w2Span();
    const peakRss = worker?.peakRssBytes() ?? 0;
    const w2Profile = storeProfileFromMetrics((await worker?.metrics()) ?? '');
    say(`W2 (${PROJECTIONS.map((p) => p.name).join(' + ')}): ${Math.round(w2.rate)} events/s over ${w2Records} records; worker peak RSS ${Math.round(peakRss / 1048576)} MiB; CPU ${describeCpu(w2Cpu)}`);

    // Freshness, on its own workload (note updates over the 500 newest orders, each rewriting an
    // order_views document and reading its customer_views document). First its capacity, closed
    // loop: 8 writers update as fast as Postgres commits while the W2 worker projects, on the same
    // 2 cores; capacity is how many updates became visible per second, from the first to the last.
    // Then open-loop updates at half of it. Each update carries its intended time in the row, so a
    // stalled load cannot hide its own delay. The worker runs in a process of its own, as
    // deployed, and reports each round's changes over IPC (`cdc run --report-applied`): the load
    // and this process's probe consumer do not share its event loop.
    const delays: number[] = [];
    /** When each closed-loop update was applied. */
    const capacityApplied: number[] = [];
    worker?.stop();
    await worker?.exited;
    let w2Thread: ThreadProfile | undefined;
    try {
      w2Thread = profileFromDirectory(w2ProfileDir);
      say(`  W2's worker thread (profiled from start to exit): busy ${Math.round(w2Thread.busy * 100)}% of its active ${w2Thread.activeSeconds.toFixed(1)} s: ${describeKinds(w2Thread)}`);
    } catch (err) {
      say(`  W2's worker thread: no profile (${String(err)})`);
    }
    const ids = (await pool.query<{ id: string }>(`SELECT id FROM ${ident(mix.name)}.orders ORDER BY id DESC LIMIT 500`)).rows.map((r) => Number(r.id));
    // Where each open-loop update's delay goes: intended -> committed in Postgres (source ts_ms) ->
    // appended to Kafka (record timestamp, read by a probe consumer) -> applied by the worker.
    const stages = new Map<string, { committed?: number; appended?: number; applied?: number }>();
    const stagesOf = (note: string) => stages.get(note) ?? stages.set(note, {}).get(note) ?? {};
    // The probe names each note's change (table, id, position); the worker's reports name the
    // changes it applied. Either may come first: a change is counted once both have.
    const halves = new Map<string, { note?: string; at?: number }>();
    const meet = (key: string, half: { note: string } | { at: number }) => {
      const both = { ...halves.get(key), ...half };
      if (both.note === undefined || both.at === undefined) {
        halves.set(key, both);
        return;
      }
      halves.delete(key);
      if (both.note.startsWith('cap:')) capacityApplied.push(both.at);
      else {
        delays.push(both.at - Number(both.note.slice('fresh:'.length)));
        stagesOf(both.note).applied = both.at;
      }
    };
    const probe = kafka.consumer({ groupId: `${mix.name}-probe` });
    await probe.connect();
    await probe.subscribe({ topic: ordersTopic, fromBeginning: true });
    await probe.run({
      eachMessage: async ({ message }) => {
        const value = message.value?.toString('utf8') ?? null;
        const note = LOAD_NOTE.exec(value ?? '')?.[1];
        if (note === undefined) return;
        const decoded = decodeChange({ topic: ordersTopic, key: message.key?.toString('utf8') ?? null, value, timestamp: Number(message.timestamp) }, { orders: SHOP_TABLES.orders });
        if (decoded.kind !== 'change') return;
        if (note.startsWith('fresh:')) {
          stagesOf(note).appended = Number(message.timestamp);
          stagesOf(note).committed = decoded.change.sourceTsMs;
        }
        meet(changeKey('orders', decoded.change.id, decoded.change.position), { note });
      },
    });
    const live = await spawnWorker(['--group', w2Group, '--schema', mix.name, '--topic-prefix', mix.name, '--database', w2Db], {
      onApplied: (report) => {
        for (const [table, id, position] of report.changes) if (table === 'orders') meet(changeKey(table, id, position), { at: report.at });
      },
    });
    await live.ready();
    let issued = 0;
    const closedLoopEnd = Date.now() + opts.capacitySeconds * 1000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < closedLoopEnd) {
          const n = issued++;
          await pool.query(`UPDATE ${ident(mix.name)}.orders SET note = $1 WHERE id = $2`, [`cap:${n}`, ids[n % ids.length]]);
        }
      }),
    );
    const capacityDeadline = Date.now() + 600_000;
    // A worker that died would otherwise be waited for until the deadline.
    const alive = () => {
      if (live.child.exitCode !== null || live.child.signalCode !== null) throw new Error(`the freshness worker (pid ${live.child.pid ?? '?'}) exited (${live.child.exitCode ?? live.child.signalCode}) during the run; run \`./cdc run --group ${w2Group} --schema ${mix.name} --topic-prefix ${mix.name} --database ${w2Db}\` to see why`);
    };
    while (capacityApplied.length < issued && Date.now() < capacityDeadline) {
      alive();
      await sleep(100);
    }
    const firstApplied = capacityApplied[0];
    const lastApplied = capacityApplied.at(-1);
    if (firstApplied === undefined || lastApplied === undefined || lastApplied === firstApplied) throw new Error(`the closed-loop run applied ${capacityApplied.length} updates: too few to time; raise --capacity-seconds`);
    // The first round's updates are not counted: its own duration is not in the span.
    const inFirstRound = capacityApplied.filter((t) => t === firstApplied).length;
    const capacity = (capacityApplied.length - inFirstRound) / ((lastApplied - firstApplied) / 1000);
    const targetRate = Math.max(1, Math.floor(capacity / 2));
    say(`freshness workload capacity: ${Math.round(capacity)} updates/s visible (closed loop, 8 writers, ${opts.capacitySeconds} s, ${issued} updates)`);
    const started = Date.now();
    let sent = 0;
    const inFlight: Promise<unknown>[] = [];
    while (Date.now() - started < opts.freshnessSeconds * 1000) {
      const intended = Math.round(started + (sent * 1000) / targetRate);
      const wait = intended - Date.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(pool.query(`UPDATE ${ident(mix.name)}.orders SET note = $1 WHERE id = $2`, [`fresh:${intended}`, ids[sent % ids.length]]));
      if (inFlight.length > 64) await inFlight.shift();
      sent += 1;
    }
    await Promise.all(inFlight);
    const deadline = Date.now() + 60_000;
    while (delays.length < sent && Date.now() < deadline) {
      alive();
      await sleep(200);
    }
    live.stop();
    await live.exited;
    await probe.disconnect();
    await pool.end();
    const sorted = [...delays].sort((a, b) => a - b);
    const freshness = {
      capacity: Math.round(capacity),
      capacityUpdates: issued,
      targetRate,
      achievedRate: sent / opts.freshnessSeconds,
      samples: delays.length,
      p50Ms: percentile(sorted, 50),
      p95Ms: percentile(sorted, 95),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.at(-1) ?? 0,
      delaysMs: sorted,
      stages: stageSummary(stages),
    };
    say(`freshness at ${targetRate} changes/s for ${opts.freshnessSeconds} s: p50 ${freshness.p50Ms} ms, p95 ${freshness.p95Ms} ms, p99 ${freshness.p99Ms} ms, max ${freshness.maxMs} ms (${delays.length}/${sent} seen)`);
    say(`  where it went (p50 / p99 ms): ${Object.entries(freshness.stages).map(([stage, q]) => `${stage} ${q.p50Ms} / ${q.p99Ms}`).join(', ')}`);
    await mongo.db(w2Db).dropDatabase();
    const { docs: _mixDocs, ...w1MixReport } = w1Mix;
    const { docs: _insertDocs, ...w1InsertsReport } = w1Inserts;
    // Last, on a backlog of its own: the worker's peak RSS draining it, per memory budget.
    const rss = opts.rssEvents > 0 ? await rssBench(settings, log, { events: opts.rssEvents, budgets: opts.rssBudgets }, say) : undefined;
    return { at: new Date().toISOString(), options: opts, cClient, cClientSteady: client.steadyRate, cStore, cStoreFinalDocs, w1: [w1MixReport, w1InsertsReport], w2: { ...w2, peakRssMiB: Math.round(peakRss / 1048576), profile: w2Profile, cpu: w2Cpu, ...(w2Thread === undefined ? {} : { thread: w2Thread }) }, freshness, ...(rss === undefined ? {} : { rss }) };
  } finally {
    rmSync(w2ProfileDir, { recursive: true, force: true });
    await mix.dispose().catch(() => undefined);
    await inserts.dispose().catch(() => undefined);
    await mongo.close();
  }
}
