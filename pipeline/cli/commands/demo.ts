import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { applyConnectorWithTopics, DEFAULT_CONNECTOR_FILES, loadConnectorFile } from '../../../connectors/apply.js';
import { PROJECTIONS } from '../../../projections/registry.js';
import { loadSettings } from '../../config.js';
import type { Logger } from '../../logger.js';
import { appPool, superuserClient } from '../../postgres/clients.js';
import { formatReport, verifyProjection } from '../../verify/verify.js';
import { SHOP } from '../../shop/defaults.js';
import { runLoad, seedShop } from '../../shop/load-generator.js';
import { stackUp } from '../../stack/stack.js';
import { connectMongo } from '../../store/mongo.js';
import { runWorker } from '../../worker/run-worker.js';
import { limitHeapGrowth } from '../../engine/round-sizer.js';
import { parseCommandArgs, positiveInt } from '../args.js';
import { migrateDefaultShop, printRoundTrip } from './shop.js';
import { orderRoundTrip } from '../../shop/round-trip.js';
import { READ_API_URL, startApp } from '../../stack/app-processes.js';
import { waitUntil } from '../../stack/processes.js';

const USAGE = 'cdc demo [--duration S] [--rate N]';

/**
 * The main job on a fresh machine: install and start the stack, create the shop, apply the
 * connector, run the projector while a load runs, then show that Postgres and the store agree.
 */
export async function demoCommand(argv: string[], log: Logger): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { duration: { type: 'string' }, rate: { type: 'string' } },
    z.object({ duration: positiveInt.default(30), rate: positiveInt.default(200) }),
    USAGE,
  );
  say('1/5 starting the stack (the first run installs it: a few minutes)');
  await stackUp(log);
  const settings = loadSettings();
  say('2/5 creating the shop schema');
  await migrateDefaultShop();
  const pool = appPool(settings, 2);
  const existing = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${SHOP.schema}.customers`);
  if (Number(existing.rows[0]?.n) === 0) {
    const client = await pool.connect();
    await seedShop(client, SHOP.schema, { customers: 200, products: 100 }).finally(() => client.release());
  }
  say('3/5 applying the Debezium connector');
  for (const file of DEFAULT_CONNECTOR_FILES.map(loadConnectorFile)) await applyConnectorWithTopics(file, log);
  say('4/5 starting the projector (order_views, customer_views)');
  limitHeapGrowth(false);
  const worker = await runWorker({ topicPrefix: SHOP.topicPrefix, schema: SHOP.schema, groupId: SHOP.consumerGroup, mongoDatabase: settings.mongoDatabase }, log);
  say(`5/5 running the shop's change mix at ${values.rate} changes/s for ${values.duration} s`);
  const load = await runLoad(pool, { schema: SHOP.schema, rate: values.rate, durationS: values.duration, concurrency: 2 });
  say(`    ${load.changes} row changes in ${load.transactions} transactions`);

  // Debezium and the projector catch up within seconds; verify until they have.
  const admin = superuserClient(settings);
  await admin.connect();
  const mongo = await connectMongo(settings.mongoUrl);
  let reports: Awaited<ReturnType<typeof verifyProjection>>[] = [];
  for (let i = 0; i < 60; i++) {
    reports = [];
    for (const p of PROJECTIONS) reports.push(await verifyProjection(admin, SHOP.schema, mongo.db(settings.mongoDatabase), p));
    if (reports.every((r) => r.missing + r.unexpected + r.different === 0)) break;
    await sleep(1000);
  }
  await worker.stop();
  await mongo.close();
  await admin.end();
  const clean = reports.every((r) => r.missing + r.unexpected + r.different === 0);
  console.log(`\n${reports.map(formatReport).join('\n')}\n`);

  // Left running for you to try: the projector and the read API, in the background.
  startApp(settings, 'projector');
  const api = startApp(settings, 'read-api');
  await waitUntil(async () => (await fetch(`${READ_API_URL}/readyz`).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, what: 'the read API', intervalMs: 250, pid: api, logFile: `${settings.stackHome}/logs/read-api.log` });
  say(`read-your-writes round trip through ${READ_API_URL}:`);
  printRoundTrip(await orderRoundTrip(pool, SHOP.schema, READ_API_URL));
  await pool.end();
  console.log(`
Try the read API (projector and API keep running in the background; logs in .stack/logs/):
  curl ${READ_API_URL}/orders/1
  curl ${READ_API_URL}/customers/1/orders?pageSize=5
  ${READ_API_URL}/openapi.json   ${READ_API_URL}/metrics   ./cdc shop roundtrip

Where to look:
  stack and memory          ./cdc stack status
  component logs            ./cdc stack logs connect   (postgres, kafka, connect, store, redis)
  the connector             ./cdc connectors status    (REST: ${settings.connectUrl}/connectors)
  the read model            ${settings.mongoUrl}/${settings.mongoDatabase}, collections order_views, customer_views
  more load                 ./cdc shop load --rate 200 --duration 60
  stop everything           ./cdc stack down   (also stops the projector and the read API)
`);
  return clean ? 0 : 1;
}

function say(text: string): void {
  console.log(text);
}
