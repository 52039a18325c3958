import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectClient } from '../../connectors/connect-client.js';
import { PROJECT_ROOT, type Settings } from '../config.js';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ComponentName } from '../stack/component.js';
import { pidFile } from '../stack/component.js';
import { runningPid } from '../stack/processes.js';
import { stackContext, stackUp } from '../stack/stack.js';
import type { ShopCopy } from './environment.js';

export const FAULT_KINDS = ['worker', 'connect', 'kafka', 'store', 'postgres', 'redis'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** kill -9 of a stack component, then `stack up` as an operator would; resolves once it is ready again. */
export async function killAndRestart(name: ComponentName, log: Logger, downMs: number): Promise<void> {
  const ctx = stackContext(log);
  const pid = runningPid(pidFile(ctx, name));
  if (pid === undefined)
    throw new PipelineError('COMPONENT_NOT_RUNNING', `${name} is not running, so it cannot be killed`, {
      hint: 'run ./cdc stack up before a drill',
    });
  process.kill(pid, 'SIGKILL');
  // The pid file outlives a kill -9: wait until the process is gone, as a supervisor would see it.
  for (let i = 0; i < 200 && runningPid(pidFile(ctx, name)) !== undefined; i++) await sleep(50);
  await sleep(downMs);
  await stackUp(log, [name]);
}

/**
 * What an operator does after a fault: a connector task that went FAILED (Kafka or Postgres gone
 * under it) is restarted. Resolves once the connector and its tasks run.
 */
export async function connectorRunning(settings: Settings, copy: ShopCopy, timeoutMs = 120_000): Promise<number> {
  const connect = new ConnectClient(settings.connectUrl);
  const deadline = Date.now() + timeoutMs;
  let restarts = 0;
  for (;;) {
    const status = await connect.status(copy.connector).catch(() => undefined);
    const states = status === undefined ? [] : [status.connector.state, ...status.tasks.map((t) => t.state)];
    if (states.length > 1 && states.every((s) => s === 'RUNNING')) return restarts;
    if (states.includes('FAILED')) {
      await connect.restart(copy.connector).catch(() => undefined);
      restarts += 1;
    }
    if (Date.now() > deadline)
      throw new PipelineError(
        'TIMEOUT',
        `connector ${copy.connector} is not RUNNING after the fault (${states.join(', ') || 'no status'})`,
        { hint: './cdc stack logs connect' },
      );
    await sleep(1000);
  }
}

/**
 * Projector workers as a supervisor runs them: each a `cdc run` process of its own; one that exits
 * (killed, or a consumer that crashed for good) is started again after a second.
 */
export class WorkerFleet {
  private readonly children = new Set<ChildProcess>();
  private stopping = false;
  restarts = 0;
  exits: (number | null)[] = [];

  constructor(
    private readonly copy: ShopCopy,
    private readonly logDir: string,
    private readonly log: Logger,
  ) {}

  start(count: number): void {
    for (let i = 0; i < count; i++) this.spawnOne();
  }

  /** kill -9 of one worker; the supervisor starts a replacement. */
  killOne(pick: number): void {
    const all = [...this.children];
    const victim = all[pick % Math.max(1, all.length)];
    victim?.kill('SIGKILL');
  }

  /** Workers answer /readyz with 200 (metrics on a port of their own). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
          }),
      ),
    );
  }

  private spawnOne(): void {
    const c = this.copy;
    const child = spawn(
      process.execPath,
      [
        join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'),
        'run',
        '--schema',
        c.schema,
        '--topic-prefix',
        c.topicPrefix,
        '--group',
        c.groupId,
        '--database',
        c.database,
        '--metrics-port',
        '0',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LOG_LEVEL: process.env['WORKER_LOG_LEVEL'] ?? 'warn' },
      },
    );
    child.stderr?.pipe(createWriteStream(join(this.logDir, `${c.name}-workers.log`), { flags: 'a' }));
    this.children.add(child);
    child.once('exit', (code) => {
      this.children.delete(child);
      this.exits.push(code);
      if (this.stopping) return;
      this.restarts += 1;
      this.log.info({ code, event: 'worker_exited' }, 'worker exited; the supervisor starts another');
      setTimeout(() => {
        if (!this.stopping) this.spawnOne();
      }, 1000).unref();
    });
  }
}
