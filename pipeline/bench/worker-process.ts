import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../config.js';
import { heapCapMiB } from '../engine/round-sizer.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

export interface WorkerProcess {
  child: ChildProcess;
  /** The highest resident set size the worker reported on its /metrics so far. */
  peakRssBytes(): number;
  /** Its /metrics text now ('' when it does not answer). */
  metrics(): Promise<string>;
  /** Stops sampling and sends SIGTERM. */
  stop(): void;
}

/**
 * `cdc run` in a process of its own, as deployed, so its memory is its own: the resident set size
 * is read from the worker's /metrics (process_resident_memory_bytes) twice a second.
 */
export async function spawnWorker(args: string[]): Promise<WorkerProcess> {
  const port = await freePort();
  let peak = 0;
  // As ./cdc starts it: with a memory budget, Node itself gets the heap cap (no restarting parent).
  const budget = args.indexOf('--memory-mib');
  const node = budget === -1 ? [] : [`--max-old-space-size=${heapCapMiB(Number(args[budget + 1]))}`];
  const child = spawn(process.execPath, [...node, join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'), 'run', ...args, '--metrics-port', String(port)], { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'warn' } });
  const timer = setInterval(() => {
    void fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .then((t) => {
        const m = /^cdc_worker_process_resident_memory_bytes (\d+)/m.exec(t);
        if (m !== null) peak = Math.max(peak, Number(m[1]));
      })
      .catch(() => undefined);
  }, 500);
  return {
    child,
    peakRssBytes: () => peak,
    metrics: () => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => ''),
    stop() {
      clearInterval(timer);
      child.kill('SIGTERM');
    },
  };
}
