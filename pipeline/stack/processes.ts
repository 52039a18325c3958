import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from '../errors.js';

/** Files that describe one supervised background process. */
export interface ProcessFiles {
  pidFile: string;
  logFile: string;
}

export interface StartSpec extends ProcessFiles {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
}

/**
 * A pid file holds the pid and the process's start time (clock ticks since boot, from
 * /proc/<pid>/stat): after a reboot or a crash the pid may belong to another process by now, and
 * `stack down` must never signal that one. A pid whose start time differs is not ours.
 */
export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const [pidText, startText] = readFileSync(pidFile, 'utf8').trim().split(/\s+/);
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (startText !== undefined && startTime(pid) !== startText) return undefined;
  return pid;
}

/** Field 22 of /proc/<pid>/stat, read after the command name (which may hold spaces and parentheses). */
export function startTime(pid: number): string | undefined {
  const stat = readProcFile(pid, 'stat');
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it is not running.
  const stat = readProcFile(pid, 'stat');
  return stat === undefined || !/\) Z /.test(stat);
}

export function runningPid(pidFile: string): number | undefined {
  const pid = readPid(pidFile);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

function readProcFile(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function rssKiB(pid: number): number {
  const match = readProcFile(pid, 'status')?.match(/^VmRSS:\s+(\d+) kB/m);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

function childrenOf(pid: number): number[] {
  const list = readProcFile(pid, `task/${pid}/children`);
  return list === undefined ? [] : list.trim().split(/\s+/).filter(Boolean).map(Number);
}

/**
 * Resident memory in MiB of a process and its descendants (Postgres forks a process per backend),
 * from /proc. Pages shared between them are counted once per process, so this is an upper bound.
 */
export function rssMiB(pid: number): number | undefined {
  if (readProcFile(pid, 'status') === undefined) return undefined;
  let total = 0;
  const queue = [pid];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    total += rssKiB(next);
    queue.push(...childrenOf(next));
  }
  return Math.round(total / 1024);
}

/**
 * Starts a process in its own session so it outlives the CLI, with stdout and stderr appended to a
 * log that starts empty (the previous run's log is kept as `.1`, so readiness checks never read an
 * old run's "started" line).
 */
export function startDetached(spec: StartSpec): number {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  mkdirSync(dirname(spec.pidFile), { recursive: true });
  if (existsSync(spec.logFile)) renameSync(spec.logFile, `${spec.logFile}.1`);
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(spec.uid === undefined ? {} : { uid: spec.uid }),
      ...(spec.gid === undefined ? {} : { gid: spec.gid }),
    });
    if (child.pid === undefined) {
      throw new PipelineError('COMPONENT_START_FAILED', `could not spawn ${spec.command}`, {
        hint: `check that ${spec.command} exists and is executable`,
      });
    }
    child.unref();
    writeFileSync(spec.pidFile, `${child.pid} ${startTime(child.pid) ?? ''}`.trim() + '\n');
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Sends `signal`, waits for the process to exit, and escalates to SIGKILL after `timeoutMs`. */
export async function stopProcess(pidFile: string, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  const pid = runningPid(pidFile);
  if (pid === undefined) {
    rmSync(pidFile, { force: true });
    return false;
  }
  process.kill(pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
  rmSync(pidFile, { force: true });
  return true;
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Which process holds a TCP port, for error messages (best effort, via ss). */
export function portHolder(port: number): string {
  const out = spawnSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  const line = out.stdout?.trim().split('\n')[0];
  const proc = line?.match(/users:\(\("([^"]+)",pid=(\d+)/);
  return proc === null || proc === undefined ? 'an unknown process' : `${proc[1]} (pid ${proc[2]})`;
}

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  /** When set, waiting stops early with an error if this process exits. */
  pid?: number;
  logFile?: string;
  intervalMs?: number;
}

/** Polls `probe` until it returns true; fails with the component's log named when it does not. */
export async function waitUntil(probe: () => Promise<boolean> | boolean, opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const logHint = opts.logFile === undefined ? '' : `; read ${opts.logFile} (cdc stack logs)`;
  for (;;) {
    if (opts.pid !== undefined && !isAlive(opts.pid)) {
      throw new PipelineError('COMPONENT_START_FAILED', `${opts.what}: the process exited during start-up`, {
        hint: `the last lines of the log usually say why${logHint}`,
        context: { tail: opts.logFile === undefined ? undefined : tail(opts.logFile, 15) },
      });
    }
    try {
      if (await probe()) return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) {
      throw new PipelineError('COMPONENT_START_FAILED', `${opts.what}: not ready after ${opts.timeoutMs} ms`, {
        retriable: true,
        hint: `it may be slow on a loaded machine or stuck${logHint}`,
        context: { tail: opts.logFile === undefined ? undefined : tail(opts.logFile, 15) },
      });
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

export function logContains(logFile: string, pattern: RegExp): boolean {
  return existsSync(logFile) && pattern.test(readFileSync(logFile, 'utf8'));
}

export function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8')
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}
