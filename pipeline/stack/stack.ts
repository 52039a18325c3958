import { stopApps } from './app-processes.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadSettings, readSecrets, resetSettings, secretsPath, type Secrets, type Settings } from '../config.js';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import { logFile, pidFile, type Component, type ComponentName, type StackContext } from './component.js';
import { connect } from './components/connect.js';
import { kafka } from './components/kafka.js';
import { postgres } from './components/postgres.js';
import { redis } from './components/redis.js';
import { store } from './components/store.js';
import { isPortFree, portHolder, rssMiB, runningPid, stopProcess } from './processes.js';

/** Start order; `down` stops in reverse. Connect needs Kafka; Debezium needs Postgres. */
export const COMPONENTS: readonly Component[] = [postgres, kafka, connect, store, redis];

export function componentByName(name: string): Component {
  const found = COMPONENTS.find((c) => c.name === name);
  if (found === undefined) {
    throw new PipelineError('CLI_USAGE', `unknown component "${name}"`, {
      hint: `choose one of ${COMPONENTS.map((c) => c.name).join(', ')}`,
    });
  }
  return found;
}

/** Generates the stack's passwords once; they live in the stack home, never in the repository. */
export function ensureSecrets(stackHome: string): Secrets {
  const existing = readSecrets(stackHome);
  if (existing !== undefined) return existing;
  const gen = () => randomBytes(18).toString('base64url');
  const secrets: Secrets = { pgSuperuserPassword: gen(), pgAppPassword: gen(), debeziumPassword: gen() };
  const file = secretsPath(stackHome);
  mkdirSync(stackHome, { recursive: true, mode: 0o755 });
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

export function stackContext(log: Logger, settings: Settings = loadSettings()): StackContext {
  return { settings, log };
}

export interface UpResult {
  name: ComponentName;
  action: 'started' | 'already running';
  ms: number;
}

export async function stackUp(log: Logger, only?: ComponentName[], env: NodeJS.ProcessEnv = process.env): Promise<UpResult[]> {
  ensureSecrets(loadSettings(env).stackHome);
  resetSettings();
  const ctx = stackContext(log, loadSettings(env));
  const results: UpResult[] = [];
  for (const component of COMPONENTS.filter((c) => only === undefined || only.includes(c.name))) {
    const started = Date.now();
    const pid = runningPid(pidFile(ctx, component.name));
    if (pid === undefined) {
      const port = component.port(ctx);
      if (!(await isPortFree(port))) {
        throw new PipelineError('PORT_IN_USE', `${component.name} cannot start: port ${port} is held by ${portHolder(port)}`, {
          hint: `stop that process, or move ${component.name} to another port (see docs/CONFIGURATION.md)`,
          context: { component: component.name, port },
        });
      }
      await component.install(ctx);
      log.info({ component: component.name }, 'starting');
      await component.start(ctx);
    }
    await component.afterStart?.(ctx);
    const result: UpResult = { name: component.name, action: pid === undefined ? 'started' : 'already running', ms: Date.now() - started };
    log.info(result, 'component ready');
    results.push(result);
  }
  return results;
}

export async function stackDown(log: Logger, purge: boolean): Promise<ComponentName[]> {
  const ctx = stackContext(log);
  const stopped: ComponentName[] = [];
  // The pipeline's own processes first (demo leaves them running): they depend on everything below.
  const apps = await stopApps(ctx.settings);
  if (apps.length > 0) log.info({ stopped: apps }, 'stopped the projector and read API');
  for (const component of [...COMPONENTS].reverse()) {
    // Connect and Kafka flush offsets and leave groups on SIGTERM; give them time to do it.
    if (await stopProcess(pidFile(ctx, component.name), component.stopSignal, 60_000)) stopped.push(component.name);
  }
  if (purge) {
    rmSync(`${ctx.settings.stackHome}/data`, { recursive: true, force: true });
    rmSync(`${ctx.settings.stackHome}/installed`, { recursive: true, force: true });
  }
  return stopped;
}

export interface ComponentStatus {
  name: ComponentName;
  state: 'running' | 'stopped';
  port: number;
  pid: number | null;
  rssMiB: number | null;
  version: string;
  log: string;
}

export function stackStatus(log: Logger): ComponentStatus[] {
  const ctx = stackContext(log);
  return COMPONENTS.map((c) => {
    const pid = runningPid(pidFile(ctx, c.name)) ?? null;
    return {
      name: c.name,
      state: pid === null ? 'stopped' : 'running',
      port: c.port(ctx),
      pid,
      rssMiB: pid === null ? null : (rssMiB(pid) ?? null),
      version: c.version(ctx),
      log: logFile(ctx, c.name),
    };
  });
}

export function componentLog(log: Logger, name: string): string {
  const ctx = stackContext(log);
  const file = logFile(ctx, componentByName(name).name);
  if (!existsSync(file)) {
    throw new PipelineError('COMPONENT_NOT_RUNNING', `${name} has no log yet at ${file}`, { hint: 'run cdc stack up first' });
  }
  return file;
}
