import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../config.js';
import { heapCapMiB } from '../engine/round-sizer.js';
import { AppliedReport } from '../worker/applied-report.js';

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
  /** Settles once the process has exited (after finishing its round and leaving the group). */
  exited: Promise<void>;
  /** Resolves once its /readyz answers 200 (connected, partitions assigned); rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
}

/**
 * `cdc run` in a process of its own, as deployed, so its memory is its own: the resident set size
 * is read from the worker's /metrics (process_resident_memory_bytes) twice a second.
 */
export async function spawnWorker(args: string[], opts: { onApplied?: (report: AppliedReport) => void; cpuProfileDir?: string } = {}): Promise<WorkerProcess> {
  const port = await freePort();
  let peak = 0;
  // As ./cdc starts it: with a memory budget, Node itself gets the heap cap (no restarting parent).
  const budget = args.indexOf('--memory-mib');
  const node = [
    ...(budget === -1 ? [] : [`--max-old-space-size=${heapCapMiB(Number(args[budget + 1]))}`]),
    // V8 writes the profile when the process exits.
    ...(opts.cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfileDir}`]),
  ];
  const onApplied = opts.onApplied;
  const reporting = onApplied === undefined ? [] : ['--report-applied'];
  const child = spawn(process.execPath, [...node, join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'), 'run', ...args, ...reporting, '--metrics-port', String(port)], {
    stdio: onApplied === undefined ? 'ignore' : ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  if (onApplied !== undefined) {
    child.on('message', (message: unknown) => {
      const report = AppliedReport.safeParse(message);
      if (report.success) onApplied(report.data);
      else console.error(`cdc bench: the worker sent a message that is not an applied report (${report.error.issues[0]?.message ?? 'unknown'}); is dist/ from another build?`);
    });
  }
  const timer = setInterval(() => {
    void fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .then((t) => {
        const m = /^cdc_worker_process_resident_memory_bytes (\d+)/m.exec(t);
        if (m !== null) peak = Math.max(peak, Number(m[1]));
      })
      .catch(() => undefined);
  }, 500);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    exited,
    peakRssBytes: () => peak,
    metrics: () => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => ''),
    async ready(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the worker (pid ${child.pid ?? '?'}) was not ready within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    stop() {
      clearInterval(timer);
      child.kill('SIGTERM');
    },
  };
}
