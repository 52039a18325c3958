import { join } from 'node:path';
import { PROJECT_ROOT, type Settings } from '../config.js';
import { runningPid, startDetached, stopProcess } from './processes.js';

/** The pipeline's own long-running processes that `demo` leaves running and `stack down` stops. */
export const APP_PROCESSES = {
  projector: ['run'],
  'read-api': ['serve', '--port', '8080'],
} as const;
export type AppProcess = keyof typeof APP_PROCESSES;

export const READ_API_URL = 'http://127.0.0.1:8080';

function files(settings: Settings, name: AppProcess): { pidFile: string; logFile: string } {
  return { pidFile: join(settings.stackHome, 'run', `${name}.pid`), logFile: join(settings.stackHome, 'logs', `${name}.log`) };
}

/** Starts the process in the background unless it already runs; returns its pid. */
export function startApp(settings: Settings, name: AppProcess): number {
  const f = files(settings, name);
  const running = runningPid(f.pidFile);
  if (running !== undefined) return running;
  return startDetached({ ...f, command: process.execPath, args: [join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'), ...APP_PROCESSES[name]], cwd: PROJECT_ROOT });
}

/** SIGTERM: the projector finishes its round and leaves the group; the API closes its connections. */
export async function stopApps(settings: Settings): Promise<AppProcess[]> {
  const stopped: AppProcess[] = [];
  for (const name of Object.keys(APP_PROCESSES) as AppProcess[]) if (await stopProcess(files(settings, name).pidFile, 'SIGTERM', 30_000)) stopped.push(name);
  return stopped;
}
