import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { PROJECTIONS } from '../../projections/registry.js';
import { loadSettings } from '../config.js';
import { createKafka } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { appPool, superuserClient } from '../postgres/clients.js';
import { runLoad, seedShop } from '../shop/load-generator.js';
import { stackUp } from '../stack/stack.js';
import { connectMongo } from '../store/mongo.js';
import type { VerifyReport } from '../verify/compare.js';
import { verifyProjection } from '../verify/verify.js';
import { copyTopics, createShopCopy, dropShopCopy, shopCopy, type ShopCopy } from './environment.js';
import { connectorRunning, FAULT_KINDS, killAndRestart, WorkerFleet, type FaultKind } from './faults.js';
import { runOutsideWriter } from './outside-writer.js';
import { prng } from '../shop/load-generator.js';

export interface DrillOptions {
  /** Seconds of load, with the faults spread over them. */
  durationS: number;
  /** The load generator's row changes per second. */
  rate: number;
  /** The outside writer's transactions per second. */
  outsideRate: number;
  /** Faults in all, taking the kinds in turn (every kind at least once from six on). */
  faults: number;
  kinds: readonly FaultKind[];
  workers: number;
  seed: number;
  /** The private shop copy's name (schema, topics, group, database). */
  name: string;
  /** Longest wait for convergence after the last fault. */
  convergeTimeoutS: number;
  /** Leave the copy in place afterwards, for a look. */
  keep: boolean;
}

export interface DrillReport {
  name: string;
  durationS: number;
  /** Source transactions committed: the load generator's and the outside writer's. */
  transactions: number;
  /** Transactions that failed (rolled back) because a fault hit them. */
  failedTransactions: number;
  faults: Record<FaultKind, number>;
  /** Worker processes that exited on their own (a crashed consumer exits 1) and were restarted. */
  workerExits: number;
  connectorRestarts: number;
  largestLag: number;
  convergeMs: number | null;
  differences: number;
  verify: VerifyReport[];
}

/**
 * The fault drill: under the load generator plus an outside writer, kill -9 at random the workers,
 * Connect, Kafka, the store (right after a round was acknowledged and its offsets committed: what a
 * store losing acknowledged writes would show), Postgres and Redis, restart each as an operator
 * would, then wait for convergence and `verify`. Zero differences, or the drill failed.
 */
export async function runDrill(
  opts: DrillOptions,
  log: Logger,
  say: (line: string) => void = () => undefined,
): Promise<DrillReport> {
  const settings = loadSettings();
  const copy = shopCopy(opts.name);
  const logDir = join(settings.stackHome, 'logs');
  mkdirSync(logDir, { recursive: true });
  await stackUp(log);
  await dropShopCopy(settings, copy, log).catch(() => undefined);
  say(`drill ${copy.name}: creating its shop copy and connector`);
  await createShopCopy(settings, copy, log).catch(async (err: unknown) => {
    await dropShopCopy(settings, copy, log).catch(() => undefined);
    throw err;
  });
  const pool = appPool(settings, 6);
  const seedClient = await pool.connect();
  await seedShop(seedClient, copy.schema, { customers: 200, products: 100 }, opts.seed).finally(() =>
    seedClient.release(),
  );

  const fleet = new WorkerFleet(copy, logDir, log);
  fleet.start(opts.workers);
  // The drill's own client samples lag through the faults it causes: its connection errors are
  // expected, and logged only if fatal.
  const kafka = createKafka(settings.kafkaBrokers, `${copy.name}-drill`, log.child({}, { level: 'fatal' }), {
    retries: 1,
  });
  const report: DrillReport = {
    name: copy.name,
    durationS: opts.durationS,
    transactions: 0,
    failedTransactions: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    workerExits: 0,
    connectorRestarts: 0,
    largestLag: 0,
    convergeMs: null,
    differences: -1,
    verify: [],
  };
  let sampling = true;
  const lagSampler = sampleLag(
    kafka,
    copy,
    () => sampling,
    (lag) => (report.largestLag = Math.max(report.largestLag, lag)),
  );
  let convergeMs: number | null = null;
  try {
    const started = Date.now();
    const deadline = started + opts.durationS * 1000;
    // The load runs until the duration is over and every fault has been injected and recovered.
    let faultsDone = false;
    const stop = () => faultsDone && Date.now() >= deadline;
    const load = loadThroughFaults(pool, copy, opts, stop);
    const outside = runOutsideWriter(pool, copy.schema, { rate: opts.outsideRate, seed: opts.seed + 1 }, stop);
    const rnd = prng(opts.seed + 2);
    const order = Array.from({ length: opts.faults }, (_, i) => opts.kinds[i % opts.kinds.length] as FaultKind);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j] as FaultKind, order[i] as FaultKind];
    }
    const gap = (opts.durationS * 1000) / (opts.faults + 1);
    for (const [i, kind] of order.entries()) {
      // Spread over the duration, each at a random moment of its own slot.
      await sleep(Math.max(0, started + gap * (i + 0.5 + rnd()) - Date.now()));
      const downMs = Math.floor(rnd() * 3000);
      say(
        `fault ${i + 1}/${order.length}: kill -9 ${kind}` +
          `${kind === 'store' ? ' right after a round was committed' : ''} (down ${downMs} ms)`,
      );
      await inject(kind, { fleet, kafka, copy, log, downMs, pick: Math.floor(rnd() * 1000) });
      report.faults[kind] += 1;
      report.connectorRestarts += await connectorRunning(settings, copy);
    }
    faultsDone = true;
    const [loaded, written] = await Promise.all([load, outside]);
    report.transactions = loaded.transactions + written.transactions;
    report.failedTransactions = loaded.failed + written.failed;
    say(
      `load done: ${report.transactions} source transactions ` +
        `(${report.failedTransactions} writes broken by faults, rolled back); converging`,
    );

    // Everything up again (a restart that failed would show here), then wait for the projections.
    await stackUp(log);
    report.connectorRestarts += await connectorRunning(settings, copy);
    const settled = Date.now();
    const converged = await convergence(settings, copy, opts.convergeTimeoutS * 1000);
    report.verify = converged.reports;
    report.differences = converged.reports.reduce((n, r) => n + r.missing + r.unexpected + r.different, 0);
    if (report.differences === 0) convergeMs = Date.now() - settled;
    report.workerExits = fleet.restarts - report.faults.worker;
  } finally {
    sampling = false;
    await lagSampler;
    await fleet.stop();
    await pool.end().catch(() => undefined);
    // A drill stopped midway may have left a component down: bring it back before cleaning up,
    // or the copy's replication slot would stay and pin WAL.
    await stackUp(log).catch((err: unknown) => log.warn({ err: String(err) }, 'stack not fully up after the drill'));
    if (!opts.keep)
      await dropShopCopy(settings, copy, log).catch((err: unknown) =>
        log.warn({ err: String(err) }, 'drill copy not fully removed'),
      );
  }
  return { ...report, convergeMs };
}

interface FaultContext {
  fleet: WorkerFleet;
  kafka: Kafka;
  copy: ShopCopy;
  log: Logger;
  downMs: number;
  pick: number;
}

async function inject(kind: FaultKind, ctx: FaultContext): Promise<void> {
  switch (kind) {
    case 'worker':
      ctx.fleet.killOne(ctx.pick);
      return;
    case 'store':
      // Right after the group committed offsets: those rounds were acknowledged by the store.
      await offsetsMoved(ctx.kafka, ctx.copy, 20_000);
      return killAndRestart('store', ctx.log, ctx.downMs);
    default:
      return killAndRestart(kind, ctx.log, ctx.downMs);
  }
}

/** Resolves as soon as the group's committed offsets move (or after `timeoutMs`). */
async function offsetsMoved(kafka: Kafka, copy: ShopCopy, timeoutMs: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const topics = copyTopics(copy);
  const total = async () =>
    (await admin.fetchOffsets({ groupId: copy.groupId, topics })).reduce(
      (n, t) => n + t.partitions.reduce((m, p) => m + Math.max(0, Number(p.offset)), 0),
      0,
    );
  try {
    const before = await total();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && (await total()) === before) await sleep(20);
  } catch {
    // Kafka itself unavailable: kill the store anyway.
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The shop's load, started again whenever a fault breaks it (Postgres killed under it). */
async function loadThroughFaults(
  pool: ReturnType<typeof appPool>,
  copy: ShopCopy,
  opts: DrillOptions,
  stop: () => boolean,
): Promise<{ transactions: number; failed: number }> {
  // One count across restarts: a run broken by a fault keeps what it committed.
  const result = { changes: 0, transactions: 0, byKind: {}, ms: 0 };
  let failed = 0;
  for (let round = 0; !stop(); round++) {
    try {
      await runLoad(
        pool,
        { schema: copy.schema, rate: opts.rate, concurrency: 2, seed: opts.seed + 10 * round },
        stop,
        result,
      );
    } catch {
      failed += 1;
      await sleep(500);
    }
  }
  return { transactions: result.transactions, failed };
}

async function sampleLag(
  kafka: Kafka,
  copy: ShopCopy,
  running: () => boolean,
  seen: (lag: number) => void,
): Promise<void> {
  const topics = copyTopics(copy);
  while (running()) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      let lag = 0;
      const committed = await admin.fetchOffsets({ groupId: copy.groupId, topics });
      for (const t of committed) {
        for (const p of await admin.fetchTopicOffsets(t.topic)) {
          const done = Number(t.partitions.find((c) => c.partition === p.partition)?.offset ?? -1);
          lag += Number(p.high) - (done < 0 ? Number(p.low) : done);
        }
      }
      seen(lag);
    } catch {
      // Kafka down: no sample.
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await sleep(2000);
  }
}

/** Verifies until both projections agree with Postgres, or the time is up; the last reports. */
async function convergence(
  settings: ReturnType<typeof loadSettings>,
  copy: ShopCopy,
  timeoutMs: number,
): Promise<{ reports: VerifyReport[] }> {
  const deadline = Date.now() + timeoutMs;
  const mongo = await connectMongo(settings.mongoUrl);
  const admin = superuserClient(settings);
  await admin.connect();
  try {
    for (;;) {
      const reports: VerifyReport[] = [];
      for (const p of PROJECTIONS) reports.push(await verifyProjection(admin, copy.schema, mongo.db(copy.database), p));
      if (reports.every((r) => r.missing + r.unexpected + r.different === 0) || Date.now() > deadline)
        return { reports };
      await sleep(2000);
    }
  } finally {
    await admin.end();
    await mongo.close();
  }
}
