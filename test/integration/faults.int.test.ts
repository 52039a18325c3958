import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from '../../pipeline/config.js';
import { listDeadLetters, replayDeadLetters, showDeadLetters } from '../../pipeline/dlq/dlq.js';
import { deadLetterTopic } from '../../pipeline/engine/dead-letter.js';
import { runLoad } from '../../pipeline/shop/load-generator.js';
import { WORKER_VERSION } from '../../pipeline/version.js';
import { eventually, ShopEnv } from '../support/shop-env.js';

describe('faults', () => {
  let env: ShopEnv;

  beforeEach(async () => {
    env = new ShopEnv();
    await env.createSchema({ customers: 30, products: 20 });
    await env.startConnector();
  });
  afterEach(async () => env.dispose());

  /** A worker as operators run it: its own process, the built CLI. */
  function workerProcess(name: string, extra: string[] = []): ChildProcess {
    const child = spawn(
      process.execPath,
      [join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'), 'run', '--schema', env.schema, '--topic-prefix', env.topicPrefix, '--group', env.groupId, '--database', env.mongoDatabase, '--metrics-port', '0', ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: process.env['WORKER_LOG_LEVEL'] ?? 'warn' } },
    );
    // Keep the worker's log for a failing run: $TMPDIR/<env>-<name>.log.
    child.stderr?.pipe(createWriteStream(join(tmpdir(), `${env.name}-${name}.log`)));
    return child;
  }

  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

  test('two workers share the load; one killed with SIGKILL mid-stream loses nothing', async () => {
    const survivor = workerProcess('survivor');
    const victim = workerProcess('victim');
    const load = runLoad(env.pool, { schema: env.schema, rate: 300, durationS: 12, concurrency: 2, seed: 7 });
    await sleep(5000);
    victim.kill('SIGKILL');
    const result = await load;
    expect(result.changes).toBeGreaterThan(1000);
    await env.converged(120_000);
    // SIGTERM: the survivor finishes its batch, commits, leaves the group and exits cleanly.
    survivor.kill('SIGTERM');
    expect(await exited(survivor)).toBe(0);
    expect(await exited(victim)).toBeNull();
  }, 240_000);

  test('--memory-mib: the worker runs under a capped heap, projects, and does not outlive its parent when that is killed', async () => {
    const parent = workerProcess('capped', ['--memory-mib', '256']);
    let out = '';
    parent.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const url = (await eventually(async () => /metrics on (http:\S+)\/metrics/.exec(out)?.[1], (u) => u !== undefined, 60_000)) as string;
    const heapLimit = Number(/^cdc_heap_limit_bytes (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
    expect(heapLimit).toBeGreaterThan(64 * 1024 * 1024);
    expect(heapLimit).toBeLessThan(256 * 1024 * 1024);

    await runLoad(env.pool, { schema: env.schema, changes: 300, concurrency: 2, seed: 5 });
    await env.converged();
    const worker = Number(execFileSync('pgrep', ['-P', String(parent.pid)], { encoding: 'utf8' }).trim().split('\n')[0]);
    expect(worker).toBeGreaterThan(0);
    parent.kill('SIGKILL');
    // Gone, or a zombie waiting for whoever adopted it to reap it.
    const alive = (pid: number) => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    expect(await eventually(async () => alive(worker), (a) => !a, 60_000)).toBe(false);
  }, 180_000);

  test('a malformed event is parked in the dead-letter topic while later events on its partition still project', async () => {
    await env.startWorker();
    const producer = env.kafka.producer();
    await producer.connect();
    const [sent] = await producer.send({ topic: env.topic('orders'), messages: [{ key: '{"id": 424242}', value: '{"op": "c", "after": {"id": "not a number"}}', partition: 0 }] });
    await producer.disconnect();
    const badOffset = Number(sent?.baseOffset);

    const ids: number[] = [];
    for (let i = 0; i < 12; i++) {
      const [o] = await env.sql<{ id: string }>('INSERT INTO $schema.orders (customer_id) SELECT id FROM $schema.customers ORDER BY id LIMIT 1 RETURNING id');
      ids.push(Number(o?.id));
    }
    await env.converged();
    await env.drained();

    // Later records on partition 0 exist, and they projected (verify is clean).
    const offsets = await (async () => {
      const admin = env.kafka.admin();
      await admin.connect();
      const o = await admin.fetchTopicOffsets(env.topic('orders'));
      await admin.disconnect();
      return o;
    })();
    expect(Number(offsets.find((p) => p.partition === 0)?.high)).toBeGreaterThan(badOffset + 1);

    const dlq = deadLetterTopic(env.topic('orders'));
    const [letter] = await showDeadLetters(env.kafka, dlq, 10);
    expect(letter).toMatchObject({
      originalTopic: env.topic('orders'),
      originalPartition: '0',
      originalOffset: String(badOffset),
      workerVersion: WORKER_VERSION,
      key: '{"id": 424242}',
    });
    expect(letter?.reason).toMatch(/not a Debezium change event/);
    expect((await listDeadLetters(env.kafka)).find((d) => d.topic === dlq)).toEqual({ topic: dlq, total: 1, waiting: 1 });

    // Replay sends it back to its topic; still malformed, it is parked again (nothing is lost).
    expect(await replayDeadLetters(env.kafka, dlq, false)).toHaveLength(1);
    await eventually(() => listDeadLetters(env.kafka), (all) => all.find((d) => d.topic === dlq)?.total === 2);
    expect((await listDeadLetters(env.kafka)).find((d) => d.topic === dlq)).toEqual({ topic: dlq, total: 2, waiting: 1 });
    await env.converged();
  });
});
