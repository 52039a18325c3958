import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import kafkajs from 'kafkajs';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from '../../pipeline/config.js';
import { PipelineError } from '../../pipeline/errors.js';
import type { Admin } from '../../pipeline/kafka/client.js';
import { startReadService, type RunningReadService } from '../../pipeline/read/service.js';
import { ProgressDisplay } from '../../pipeline/replay/progress-display.js';
import { readReplay } from '../../pipeline/replay/replay-lease.js';
import { replay, type ReplayRun, type ReplayTarget } from '../../pipeline/replay/rebuild.js';
import { runLoad } from '../../pipeline/shop/load-generator.js';
import { physicalName, readPointer, WORKERS_COLLECTION, type WorkerReport } from '../../pipeline/store/generations.js';
import { eventually, ShopEnv } from '../support/shop-env.js';

const COMPONENT = 'customer_views+order_views';

/** Progress lines go to a string, not the test's output. */
function quietDisplay(): { display: ProgressDisplay; text: () => string } {
  let text = '';
  const out = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
  return { display: new ProgressDisplay(out, 1000), text: () => text };
}

function cdcArgs(env: ShopEnv, ...args: string[]): string[] {
  return [join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'), ...args, '--schema', env.schema, '--topic-prefix', env.topicPrefix, '--group', env.groupId, '--database', env.mongoDatabase];
}

/**
 * Rebuilds on the real stack: into a new generation while the live worker keeps projecting and the
 * read API keeps serving, a hand-over in one pointer write, a rollback that catches the previous
 * generation up, and a rebuild killed half way that resumes.
 */
describe('replay', () => {
  let env: ShopEnv;
  let admin: Admin;

  beforeEach(async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 40, products: 20 });
    await env.startConnector();
    admin = env.kafka.admin();
    await admin.connect();
  });
  afterEach(async () => {
    await admin.disconnect();
    await env.dispose();
  });

  const target = (): ReplayTarget => ({ projection: 'order_views', topicPrefix: env.topicPrefix, schema: env.schema, liveGroup: env.groupId, mongoDatabase: env.mongoDatabase });
  const run = (signal = new AbortController().signal): ReplayRun => ({ db: env.db, admin, log: env.log, display: quietDisplay().display, signal, adoptTimeoutMs: 60_000 });

  test('a rebuild under live load switches readers in one step, serves them throughout, and a rollback restores the previous generation', async () => {
    const live = await env.startWorker();
    const service: RunningReadService = await startReadService({ port: 0, database: env.mongoDatabase, redis: false }, env.log);
    try {
      // A count, not a duration: on a loaded machine 4 s at 400/s made fewer than the 1,000 events asserted below.
      await runLoad(env.pool, { schema: env.schema, rate: 400, changes: 1600, concurrency: 2, seed: 11 });
      await env.converged();
      const customers = (await env.sql<{ id: number }>('SELECT id FROM $schema.customers ORDER BY id LIMIT 20')).map((r) => r.id);

      // Readers for the whole test: every answer must be a 200 (customers are never deleted).
      let reading = true;
      const answers = new Map<number, number>();
      const readers = (async () => {
        for (let i = 0; reading; i++) {
          const res = await fetch(`${service.url}/customers/${customers[i % customers.length]}`);
          answers.set(res.status, (answers.get(res.status) ?? 0) + 1);
          await res.arrayBuffer();
          await sleep(20);
        }
      })();

      let loading = true;
      const load = runLoad(env.pool, { schema: env.schema, rate: 150, concurrency: 2, seed: 12 }, () => !loading);
      const rebuilt = await replay(target(), run(), 'rebuild');
      expect(rebuilt).toMatchObject({ component: COMPONENT, outcome: 'switched', previous: 0, resumed: false });
      expect(rebuilt.events).toBeGreaterThan(1000);
      expect(await readPointer(env.db, COMPONENT)).toMatchObject({ active: rebuilt.generation, previous: 0 });
      // The live worker moved: it reports the new generation, and writes it from now on.
      const report = await env.db.collection<WorkerReport>(WORKERS_COLLECTION).findOne({ group: env.groupId });
      expect(report?.generations[COMPONENT]).toBe(rebuilt.generation);
      // The operator's one screen says which generation readers use.
      const status = spawnSync(process.execPath, cdcArgs(env, 'status', '--json'), { encoding: 'utf8' });
      const shown = JSON.parse(status.stdout) as { projections: { projection: string; generation: number; rebuild: unknown }[] };
      expect(shown.projections.map((p) => [p.projection, p.generation, p.rebuild])).toEqual([
        ['order_views', rebuilt.generation, null],
        ['customer_views', rebuilt.generation, null],
      ]);
      const before = await env.db.collection(physicalName('order_views', 0)).countDocuments();
      await sleep(3000);
      loading = false;
      await load;
      await env.converged(120_000);
      // The old generation stopped being written at the switch; the new one has what came after.
      const rebuiltDocs = await env.db.collection(physicalName('order_views', rebuilt.generation)).countDocuments({ _visible: true });
      expect(rebuiltDocs).toBeGreaterThan(0);
      expect(await env.db.collection(physicalName('order_views', 0)).countDocuments()).toBe(before);

      // Rollback under load: generation 0 is caught up from where it stopped, then readers return to it.
      loading = true;
      const moreLoad = runLoad(env.pool, { schema: env.schema, rate: 150, concurrency: 2, seed: 13 }, () => !loading);
      await sleep(2000);
      const rolledBack = await replay(target(), run(), 'rollback');
      expect(rolledBack).toMatchObject({ outcome: 'switched', generation: 0, previous: rebuilt.generation });
      expect(await readPointer(env.db, COMPONENT)).toMatchObject({ active: 0, previous: rebuilt.generation });
      await sleep(2000);
      loading = false;
      await moreLoad;
      await env.converged(120_000);
      reading = false;
      await readers;
      expect([...answers.keys()]).toEqual([200]);
      expect(answers.get(200)).toBeGreaterThan(50);

      // A new rebuild is refused while a previous generation is kept; --drop-previous removes it.
      await expect(replay(target(), run(), 'rebuild')).rejects.toMatchObject({ code: 'REPLAY_IN_PROGRESS' });
      const dropped = spawnSync(process.execPath, cdcArgs(env, 'replay', 'order_views', '--drop-previous'), { encoding: 'utf8' });
      expect(dropped.stdout).toContain(`removed generation ${rebuilt.generation}`);
      const left = (await env.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
      expect(left.filter((n) => n.endsWith(`__g${rebuilt.generation}`))).toEqual([]);
      await live.stop();
    } finally {
      await service.close();
    }
  }, 300_000);

  test('a rebuild from an incremental snapshot restores projections whose row topics lost their history', async () => {
    await env.startWorker();
    await runLoad(env.pool, { schema: env.schema, rate: 400, durationS: 4, concurrency: 2, seed: 31 });
    await env.converged();
    // Row topics that expire instead of being compacted (what the snapshot source is for), with
    // their history cut as expiry would: a rebuild from the topics would find nothing.
    for (const table of ['customers', 'products', 'orders', 'order_lines']) {
      const topic = env.topic(table);
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] }] });
      const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.high }));
      // The broker applies a config change a moment later: until then a compacted topic refuses the delete.
      await eventually(() => admin.deleteTopicRecords({ topic, partitions }).then(() => true, () => false), (deleted) => deleted, 30_000);
    }
    let loading = true;
    const load = runLoad(env.pool, { schema: env.schema, rate: 100, concurrency: 1, seed: 32 }, () => !loading);
    const { display, text } = quietDisplay();
    const rebuilt = await replay({ ...target(), source: 'snapshot' }, { ...run(), display }, 'rebuild').finally(async () => {
      loading = false;
      await load;
    });
    expect(rebuilt).toMatchObject({ outcome: 'switched', previous: 0 });
    expect(text()).toContain('incremental snapshot of');
    await env.converged(120_000);
    expect(await env.db.collection(physicalName('order_views', rebuilt.generation)).countDocuments({ _visible: true })).toBeGreaterThan(50);
  }, 300_000);

  test('a rebuild killed half way resumes and finishes; a second rebuild meanwhile is refused', async () => {
    await runLoad(env.pool, { schema: env.schema, rate: 2000, durationS: 8, concurrency: 2, seed: 21 });
    await env.startWorker();
    await env.converged(120_000);

    const cli = (name: string, ...args: string[]) => {
      const child: ChildProcess = spawn(process.execPath, cdcArgs(env, 'replay', 'order_views', ...args), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr?.pipe(createWriteStream(join(tmpdir(), `${env.name}-${name}.log`)));
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, exit, out: () => out };
    };

    // Small rounds and a small memory budget: the rebuild flushes and checkpoints many times on the way.
    const first = cli('first', '--memory-docs', '300', '--round-changes', '500');
    const state = await eventually(() => readReplay(env.db, COMPONENT), (s) => Object.values(s?.checkpoint ?? {}).some((o) => o > 0) && s?.phase === 'building', 60_000);
    first.child.kill('SIGKILL');
    await first.exit;
    expect(await readPointer(env.db, COMPONENT)).toBeNull();
    expect(await readReplay(env.db, COMPONENT)).toMatchObject({ phase: 'building', generation: state?.generation });

    // The next run takes over the dead owner's lease at once and resumes from the checkpoint.
    const second = cli('second', '--memory-docs', '300', '--round-changes', '500');
    await eventually(() => readReplay(env.db, COMPONENT), (s) => s?.owner?.includes(`:${second.child.pid}:`) === true, 30_000);
    // Meanwhile a second rebuild of the same projection is refused, and status names the holder.
    const refused = await replay(target(), run(), 'rebuild').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(PipelineError);
    expect(refused).toMatchObject({ code: 'REPLAY_IN_PROGRESS', message: expect.stringContaining(`:${second.child.pid}:`) });
    const status = spawnSync(process.execPath, cdcArgs(env, 'replay', 'status', '--json'), { encoding: 'utf8' });
    const rows = JSON.parse(status.stdout) as { component: string; lease: { owner: string } | null }[];
    expect(rows.find((r) => r.component === COMPONENT)?.lease?.owner ?? 'finished before status ran').toMatch(new RegExp(`:${second.child.pid}:|finished before status ran`));

    expect(await second.exit).toBe(0);
    expect(second.out()).toContain(`generation ${state?.generation} is active`);
    expect(second.out()).toContain('resumed');
    // It read only what the killed run had not checkpointed.
    const events = Number(/\(([\d,]+) events in/.exec(second.out())?.[1]?.replaceAll(',', '') ?? 'NaN');
    let backlog = 0;
    for (const topic of env.topics()) for (const p of await admin.fetchTopicOffsets(topic)) backlog += Number(p.high) - Number(p.low);
    expect(events).toBeGreaterThan(0);
    expect(events).toBeLessThan(backlog);
    expect(await readPointer(env.db, COMPONENT)).toMatchObject({ active: state?.generation, previous: 0 });
    await env.converged(120_000);
  }, 300_000);
});
