import { spawn } from 'node:child_process';
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import { loadSettings } from '../../config.js';
import type { Logger } from '../../logger.js';
import { SHOP } from '../../shop/defaults.js';
import { heapCapMiB, limitHeapGrowth } from '../../engine/round-sizer.js';
import { DEFAULT_POISON_GUARD } from '../../engine/poison-guard.js';
import { PipelineError } from '../../errors.js';
import { appliedReport } from '../../worker/applied-report.js';
import { runWorker } from '../../worker/run-worker.js';
import type { RowChange } from '../../../schemas/change.js';
import { parseCommandArgs } from '../args.js';

const USAGE =
  'cdc run [--group ID] [--schema NAME] [--topic-prefix PREFIX] [--database NAME] [--metrics-port N (9464; 0: any)] [--round-changes N (80000)] [--memory-mib N] [--unready-after-failing S (30)] [--poison-halt-share F (0.5)] [--poison-window N (100)] [--report-applied (over the IPC channel of the process that started it)]';

/** Runs the projector until SIGTERM or SIGINT, then finishes the batch in flight and leaves the group. */
export async function runCommand(argv: string[], log: Logger): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      group: { type: 'string' },
      schema: { type: 'string' },
      'topic-prefix': { type: 'string' },
      database: { type: 'string' },
      'metrics-port': { type: 'string' },
      'round-changes': { type: 'string' },
      'memory-mib': { type: 'string' },
      'unready-after-failing': { type: 'string' },
      'poison-halt-share': { type: 'string' },
      'poison-window': { type: 'string' },
      'report-applied': { type: 'boolean' },
    },
    z.object({
      group: z.string().min(1).default(SHOP.consumerGroup),
      schema: z.string().min(1).default(SHOP.schema),
      'topic-prefix': z.string().min(1).default(SHOP.topicPrefix),
      database: z.string().min(1).default(loadSettings().mongoDatabase),
      'metrics-port': z.coerce.number().int().min(0).max(65535).default(loadSettings().env.METRICS_PORT),
      // Larger rounds coalesce more writes (faster backlog drains) and hold more documents in memory.
      'round-changes': z.coerce.number().int().min(1).optional(),
      // A resident-memory budget: rounds follow it instead of always taking --round-changes.
      'memory-mib': z.coerce.number().int().min(128).optional(),
      // Seconds of failing rounds (none written since) before /readyz answers 503.
      'unready-after-failing': z.coerce.number().min(0).optional(),
      // Stop consuming (unready) when one cause fails this share of the last --poison-window records:
      // a bad release, not poison records to park one by one.
      'poison-halt-share': z.coerce.number().gt(0).max(1).default(DEFAULT_POISON_GUARD.share),
      'poison-window': z.coerce.number().int().min(1).default(DEFAULT_POISON_GUARD.window),
      'report-applied': z.boolean().optional(),
    }),
    USAGE,
  );
  const budget = values['memory-mib'];
  if (budget !== undefined && getHeapStatistics().heap_size_limit > (heapCapMiB(budget) + 64) * 1024 * 1024)
    return restartWithHeapCap(heapCapMiB(budget), log);
  const send = process.send?.bind(process);
  if (values['report-applied'] === true && send === undefined) {
    throw new PipelineError('CONFIG_INVALID', '--report-applied needs an IPC channel to report on', {
      hint: 'start the worker with one (child_process.spawn with "ipc" in stdio), as `cdc bench compare` does, or leave the flag out',
    });
  }
  limitHeapGrowth(budget !== undefined);
  let crashed: (code: number) => void = () => undefined;
  const ended = new Promise<number>((resolve) => (crashed = resolve));
  const worker = await runWorker(
    {
      topicPrefix: values['topic-prefix'],
      schema: values.schema,
      groupId: values.group,
      mongoDatabase: values.database,
      metricsPort: values['metrics-port'],
      ...(values['round-changes'] === undefined ? {} : { maxRoundChanges: values['round-changes'] }),
      ...(budget === undefined ? {} : { memoryBudgetMiB: budget }),
      ...(values['unready-after-failing'] === undefined
        ? {}
        : { unreadyAfterFailingMs: values['unready-after-failing'] * 1000 }),
      poisonGuard: { share: values['poison-halt-share'], window: values['poison-window'] },
      // A consumer that will not rejoin, or a round that hangs: exit non-zero so the supervisor
      // starts a fresh worker. A tripped poison guard keeps the process (unready, naming the
      // cause) for the operator to see: a fresh worker of the same build would trip it again.
      onHalt: (h) => {
        if (h.kind !== 'poison_guard') crashed(1);
      },
      // Which changes each round applied, and when: a benchmark in another process times
      // end-to-end delays by it without sharing the worker's event loop.
      ...(values['report-applied'] === true && send !== undefined
        ? { onApplied: (changes: RowChange[]) => void send(appliedReport(changes)) }
        : {}),
    },
    log,
  );
  console.log(`projector running; metrics on ${worker.metricsUrl ?? '(off)'}/metrics`);
  const code = await Promise.race([
    ended,
    new Promise<number>((resolve) => {
      // `on`, not `once`: Ctrl-C reaches a capped worker twice (from the terminal and forwarded by
      // its parent), and a second signal must not kill it while it commits.
      process.on('SIGTERM', () => resolve(0));
      process.on('SIGINT', () => resolve(0));
      // Started by restartWithHeapCap: its parent is gone.
      if (process.send !== undefined) process.once('disconnect', () => resolve(0));
    }),
  ]);
  log.info(
    { exitCode: code },
    code === 0
      ? 'stopping: finishing the batch in flight'
      : 'the consumer cannot go on: exit 1 for the supervisor to restart the worker',
  );
  // A hung round would hold a graceful stop forever: nothing of it is committed, so exit anyway.
  if (code !== 0)
    return Promise.race([
      worker.stop().then(() => code),
      new Promise<number>((resolve) => setTimeout(() => resolve(code), 10_000).unref()),
    ]);
  await worker.stop();
  return code;
}

/**
 * The heap size is fixed when Node starts. `./cdc run --memory-mib N` starts Node with the cap;
 * started any other way, this runs the same command again in a child that has it.
 */
async function restartWithHeapCap(capMiB: number, log: Logger): Promise<number> {
  log.info({ heapMiB: capMiB, event: 'heap_capped' }, 'restarting with a V8 heap cap for the memory budget');
  // The IPC channel closes when this process dies however it dies (SIGKILL included): the worker
  // then stops too instead of running on, orphaned, beside its replacement.
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${capMiB}`, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] },
  );
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGINT', forward('SIGINT'));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128))));
}
