import type { Settings } from '../config.js';
import { createKafka } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { appPool } from '../postgres/clients.js';
import { ident } from '../postgres/sql.js';
import { connectMongo } from '../store/mongo.js';
import { DEFAULT_ROUND_CHANGES } from '../worker/run-worker.js';
import { timeDrain } from './drain-timer.js';
import { BenchShop } from './harness.js';
import { spawnWorker, type WorkerProcess } from './worker-process.js';

const CUSTOMERS = 20_000;

export interface RssOptions {
  /** Events in the backlog: half order inserts, half line inserts, in transactions of 5,000 orders over 20,000 customers. */
  events: number;
  /** Worker memory budgets to drain it under (`cdc run --memory-mib`); `undefined` is the default worker. */
  budgets: (number | undefined)[];
}

export interface RssRun {
  label: string;
  memoryMiB: number | null;
  records: number;
  seconds: number;
  rate: number;
  peakRssMiB: number;
}

/**
 * The worker's peak resident memory draining a large backlog (issue target: 1,000,000 events),
 * once per memory budget, each in a `cdc run` process of its own with its own group and database.
 */
export async function rssBench(settings: Settings, log: Logger, opts: RssOptions, say: (line: string) => void): Promise<RssRun[]> {
  const kafka = createKafka(settings.kafkaBrokers, 'cdc-bench-rss', log);
  const shop = new BenchShop(settings, log);
  const mongo = await connectMongo(settings.mongoUrl);
  const runs: RssRun[] = [];
  try {
    say(`preparing ${shop.name}: ${opts.events} events (orders and their lines, inserted 5,000 orders per transaction)`);
    // Many customers, as a shop has: each gets about 25 orders, so a customer_views document stays small.
    await shop.create({ customers: CUSTOMERS, products: 500 });
    const pool = appPool(settings, 1);
    const s = ident(shop.name);
    try {
      for (let orders = 0; orders < opts.events / 2; orders += 5000) {
        await pool.query(
          `WITH o AS (INSERT INTO ${s}.orders (customer_id, note) SELECT 1 + ((g + $2) % ${CUSTOMERS}), 'rss' FROM generate_series(1, $1) g RETURNING id)
           INSERT INTO ${s}.order_lines (order_id, product_id, quantity, unit_price) SELECT o.id, p.id, 1, p.price FROM o JOIN ${s}.products p ON p.id = 1 + (o.id % 500)`,
          [Math.min(5000, Math.ceil(opts.events / 2) - orders), orders],
        );
      }
    } finally {
      await pool.end();
    }
    const records = await shop.waitForQuietTopics(kafka, 5000);
    say(`backlog: ${records} records`);
    for (const budget of opts.budgets) {
      const label = budget === undefined ? `default (rounds up to ${DEFAULT_ROUND_CHANGES.toLocaleString('en-US')} changes)` : `--memory-mib ${budget}`;
      const run = `${shop.name}_${budget ?? 'default'}`;
      let worker: WorkerProcess | undefined;
      try {
        const drain = await timeDrain(kafka, run, shop.topics(), records, async () => {
          worker = await spawnWorker(['--group', run, '--schema', shop.name, '--topic-prefix', shop.name, '--database', run, ...(budget === undefined ? [] : ['--memory-mib', String(budget)])]);
        }, { everyMs: 2000, failed: async () => (worker?.child.exitCode === null ? undefined : `worker exited with ${String(worker?.child.exitCode)}`) });
        const peakRssMiB = Math.round((worker?.peakRssBytes() ?? 0) / 1048576);
        runs.push({ label, memoryMiB: budget ?? null, records, seconds: drain.seconds, rate: drain.rate, peakRssMiB });
        say(`${label.padEnd(40)} ${Math.round(drain.rate)} events/s   ${drain.seconds.toFixed(0)} s   peak RSS ${peakRssMiB} MiB`);
      } finally {
        worker?.stop();
        await mongo.db(run).dropDatabase().catch(() => undefined);
      }
    }
    return runs;
  } finally {
    await mongo.close();
    await shop.dispose().catch((err: unknown) => log.warn({ err: String(err) }, 'bench shop not removed'));
  }
}
