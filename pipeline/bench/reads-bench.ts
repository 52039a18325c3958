import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT, type Settings } from '../config.js';
import { createKafka } from '../kafka/client.js';
import { groupLag } from '../kafka/lag.js';
import type { Logger } from '../logger.js';
import { appPool } from '../postgres/clients.js';
import { runLoad } from '../shop/load-generator.js';
import type { StoredDoc } from '../store/documents.js';
import { connectMongo } from '../store/mongo.js';
import { runWorker } from '../worker/run-worker.js';
import { BenchShop } from './harness.js';

export interface ReadRun {
  label: string;
  readsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

export interface ReadsReport {
  hotKeys: number;
  connections: number;
  durationS: number;
  runs: ReadRun[];
}

/** A read API in its own process (so the load tool does not share its event loop). */
async function startApi(port: number, database: string, cache: boolean, log: Logger): Promise<ChildProcess> {
  const args = [join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'), 'serve', '--port', String(port), '--database', database, ...(cache ? [] : ['--no-cache'])];
  const child = spawn(process.execPath, args, { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'warn' } });
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200) return child;
    await sleep(200);
  }
  child.kill('SIGKILL');
  log.error({ port }, 'read API did not start');
  throw new Error(`read API on port ${port} did not become ready`);
}

/**
 * Reads/s and latency of GET /orders/:id over a hot key set, from the same projected data, with
 * Redis in front and without it, measured by autocannon against the running service on loopback.
 */
export async function readsBench(settings: Settings, log: Logger, opts: { hotKeys: number; connections: number; durationS: number }, say: (line: string) => void): Promise<ReadsReport> {
  const shop = new BenchShop(settings, log);
  const kafka = createKafka(settings.kafkaBrokers, 'cdc-bench-reads', log);
  say(`preparing ${shop.name}: seeding, connector, load`);
  await shop.create({ customers: 500, products: 200 });
  const pool = appPool(settings, 2);
  await runLoad(pool, { schema: shop.name, changes: 5000, concurrency: 2 });
  await pool.end();
  await shop.waitForQuietTopics(kafka, 3000);
  const database = `${shop.name}_views`;
  const groupId = `${shop.name}-projector`;
  const worker = await runWorker({ topicPrefix: shop.name, schema: shop.name, groupId, mongoDatabase: database }, log);
  while ((await groupLag(kafka, groupId, shop.topics())) > 0) await sleep(250);
  await worker.stop();

  const mongo = await connectMongo(settings.mongoUrl);
  const ids = (await mongo.db(database).collection<StoredDoc>('order_views').find({ _visible: true }, { projection: { _id: 1 } }).limit(opts.hotKeys).toArray()).map((d) => Number(d._id));
  say(`hot key set: ${ids.length} order_views documents; ${opts.connections} connections, ${opts.durationS} s per run`);

  // A development dependency, loaded only here: the CLI does not pay for it on every start.
  const { default: autocannon } = await import('autocannon');
  const runs: ReadRun[] = [];
  for (const [label, cache, port] of [['store only (no Redis)', false, 18081], ['Redis in front', true, 18082]] as const) {
    const api = await startApi(port, database, cache, log);
    try {
      let next = 0;
      const fire = (duration: number) =>
        autocannon({
          url: `http://127.0.0.1:${port}`,
          connections: opts.connections,
          duration,
          requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/orders/${ids[next++ % ids.length]}` }) }],
        });
      await fire(2); // warm-up: JIT, connection pools, and (with Redis) the hot set cached
      const result = await fire(opts.durationS);
      const run = { label, readsPerSecond: Math.round(result.requests.average), p50Ms: result.latency.p50, p99Ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
      runs.push(run);
      say(`${label.padEnd(22)} ${String(run.readsPerSecond).padStart(7)} reads/s   p50 ${run.p50Ms} ms   p99 ${run.p99Ms} ms   non-2xx ${run.non2xx}   errors ${run.errors}`);
    } finally {
      api.kill('SIGTERM');
    }
  }
  await mongo.db(database).dropDatabase();
  await mongo.close();
  await shop.dispose();
  return { hotKeys: ids.length, connections: opts.connections, durationS: opts.durationS, runs };
}
