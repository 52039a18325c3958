import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Settings } from '../config.js';
import { readPid } from '../stack/processes.js';

/**
 * Where a drain's CPU went: on a 2-core machine the worker, the store, Kafka, Connect and Postgres
 * share the cores, so a contender's rate is bounded by what the others leave it. Seconds are CPU
 * seconds over the span, all threads of a process together.
 */
export interface CpuSpan {
  wallSeconds: number;
  /** The machine's cores: wallSeconds × cores is all the CPU the span had. */
  cores: number;
  /** CPU seconds the machine used, every process together. */
  machineSeconds: number;
  /** CPU seconds per named process (Postgres with all its backends). */
  processes: Record<string, number>;
}

let ticks: number | undefined;
/** USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux as built by every distribution). */
function ticksPerSecond(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces), from `state` on. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime (fields 14 and 15 of stat: indexes 11 and 12 from `state`). */
function processSeconds(pid: number): number {
  const f = statFields(pid);
  return f === undefined ? 0 : (Number(f[11]) + Number(f[12])) / ticksPerSecond();
}

/** The process and its children (Postgres forks a backend per connection). */
function treeSeconds(root: number): number {
  let total = processSeconds(root);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f !== undefined && Number(f[1]) === root) total += processSeconds(Number(entry));
  }
  return total;
}

function machineSeconds(): number {
  return cpus().reduce((s, c) => s + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0) / 1000;
}

/** The stack's processes by name, from their pid files (absent when not running). */
export function stackPids(settings: Settings): Record<string, number | undefined> {
  const pid = (name: string) => readPid(join(settings.stackHome, 'run', `${name}.pid`));
  return { store: pid('store'), kafka: pid('kafka'), connect: pid('connect'), postgres: pid('postgres') };
}

/** Starts a span over the named processes; the function it returns ends it. */
export function startCpuSpan(pids: Record<string, number | undefined>): () => CpuSpan {
  const sample = () => Object.fromEntries(Object.entries(pids).flatMap(([name, pid]) => (pid === undefined ? [] : [[name, name === 'postgres' ? treeSeconds(pid) : processSeconds(pid)]])));
  const t0 = performance.now();
  const m0 = machineSeconds();
  const p0 = sample();
  return () => {
    const p1 = sample();
    return {
      wallSeconds: (performance.now() - t0) / 1000,
      cores: cpus().length,
      machineSeconds: machineSeconds() - m0,
      processes: Object.fromEntries(Object.entries(p1).map(([name, s]) => [name, s - (p0[name] ?? 0)])),
    };
  };
}

/** "busy 1.8 of 2 cores: store 0.9, worker 0.6, ..." in cores (CPU seconds per wall second). */
export function describeCpu(span: CpuSpan): string {
  const cores = (s: number) => (s / span.wallSeconds).toFixed(2);
  const named = Object.entries(span.processes).sort(([, a], [, b]) => b - a);
  const rest = span.machineSeconds - named.reduce((s, [, v]) => s + v, 0);
  return `busy ${cores(span.machineSeconds)} of ${span.cores} cores over ${span.wallSeconds.toFixed(1)} s: ${[...named.map(([n, v]) => `${n} ${cores(v)}`), `rest ${cores(Math.max(0, rest))}`].join(', ')}`;
}
