import { z } from 'zod';
import { loadSettings } from '../../config.js';
import { PipelineError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { appPool, superuserClient } from '../../postgres/clients.js';
import { SHOP } from '../../shop/defaults.js';
import { runLoad, seedShop } from '../../shop/load-generator.js';
import { migrateShop } from '../../shop/migrate.js';
import { orderRoundTrip, type RoundTrip } from '../../shop/round-trip.js';
import { READ_API_URL } from '../../stack/app-processes.js';
import { parseCommandArgs, positiveInt } from '../args.js';

const USAGE = 'cdc shop migrate | seed [--customers N] [--products N] | load [--rate N] [--duration S] [--changes N] [--concurrency N] [--seed N] | roundtrip [--url URL]';

export async function migrateDefaultShop(): Promise<string[]> {
  const settings = loadSettings();
  const client = superuserClient(settings);
  await client.connect();
  try {
    return await migrateShop(client, { schema: SHOP.schema, publication: SHOP.publication, appUser: settings.pg.appUser, debeziumUser: settings.pg.debeziumUser });
  } finally {
    await client.end();
  }
}

export function printRoundTrip(trip: RoundTrip): void {
  console.log(`placed order ${trip.orderId}; after COMMIT pg_current_wal_lsn() = ${trip.lsn}`);
  console.log(`GET /orders/${trip.orderId} with X-Min-Lsn: ${trip.lsn} -> ${trip.status}, X-Read-Consistency: ${trip.consistency ?? '(none)'}, ${trip.ms} ms`);
  const doc = trip.document as { note?: unknown; totals?: unknown } | null;
  console.log(`  note ${JSON.stringify(doc?.note)}, totals ${JSON.stringify(doc?.totals)}`);
}

export async function shopCommand(argv: string[], log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  const settings = loadSettings();
  switch (sub) {
    case 'migrate': {
      parseCommandArgs(rest, {}, z.object({}), USAGE);
      const applied = await migrateDefaultShop();
      console.log(applied.length === 0 ? 'shop schema up to date' : `applied: ${applied.join(', ')}`);
      return 0;
    }
    case 'seed': {
      const { values } = parseCommandArgs(
        rest,
        { customers: { type: 'string' }, products: { type: 'string' } },
        z.object({ customers: positiveInt.default(200), products: positiveInt.default(100) }),
        USAGE,
      );
      const pool = appPool(settings, 1);
      const client = await pool.connect();
      try {
        const rows = await seedShop(client, SHOP.schema, values);
        console.log(`seeded ${rows} rows`);
      } finally {
        client.release();
        await pool.end();
      }
      return 0;
    }
    case 'load': {
      const { values } = parseCommandArgs(
        rest,
        { rate: { type: 'string' }, duration: { type: 'string' }, changes: { type: 'string' }, concurrency: { type: 'string' }, seed: { type: 'string' } },
        z.object({ rate: positiveInt.optional(), duration: positiveInt.optional(), changes: positiveInt.optional(), concurrency: positiveInt.default(2), seed: positiveInt.default(42) }),
        USAGE,
      );
      if (values.duration === undefined && values.changes === undefined) {
        throw new PipelineError('CLI_USAGE', 'shop load needs --duration or --changes', { hint: `usage: ${USAGE}` });
      }
      const pool = appPool(settings, values.concurrency);
      try {
        const result = await runLoad(pool, {
          schema: SHOP.schema,
          concurrency: values.concurrency,
          seed: values.seed,
          ...(values.rate === undefined ? {} : { rate: values.rate }),
          ...(values.duration === undefined ? {} : { durationS: values.duration }),
          ...(values.changes === undefined ? {} : { changes: values.changes }),
        });
        log.info(result, 'load finished');
        console.log(`${result.changes} row changes in ${result.transactions} transactions, ${(result.ms / 1000).toFixed(1)} s (${Math.round((result.changes / result.ms) * 1000)} changes/s)`);
      } finally {
        await pool.end();
      }
      return 0;
    }
    case 'roundtrip': {
      const { values } = parseCommandArgs(rest, { url: { type: 'string' } }, z.object({ url: z.url().default(READ_API_URL) }), USAGE);
      const pool = appPool(settings, 1);
      try {
        const trip = await orderRoundTrip(pool, SHOP.schema, values.url.replace(/\/$/, ''));
        printRoundTrip(trip);
        return trip.status === 200 && trip.consistency === 'fresh' ? 0 : 1;
      } finally {
        await pool.end();
      }
    }
    default:
      throw new PipelineError('CLI_USAGE', `unknown shop command "${sub ?? ''}"`, { hint: `usage: ${USAGE}` });
  }
}
