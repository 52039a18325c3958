import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT, type Settings } from '../config.js';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';

export type ComponentName = 'postgres' | 'kafka' | 'connect' | 'store' | 'redis';

export interface StackContext {
  settings: Settings;
  log: Logger;
}

/** One service of the native stack. `stack up` calls install, then start, in dependency order. */
export interface Component {
  readonly name: ComponentName;
  readonly description: string;
  port(ctx: StackContext): number;
  /** Idempotent: installs packages and jars, initialises data directories. */
  install(ctx: StackContext): Promise<void>;
  /** Starts the process and resolves once it serves requests. Returns the pid. */
  start(ctx: StackContext): Promise<number>;
  /** Work that needs the service up (roles, databases); idempotent, runs after every start. */
  afterStart?(ctx: StackContext): Promise<void>;
  readonly stopSignal: NodeJS.Signals;
  version(ctx: StackContext): string;
}

export function stackPath(ctx: StackContext, ...parts: string[]): string {
  return join(ctx.settings.stackHome, ...parts);
}

export function pidFile(ctx: StackContext, name: ComponentName): string {
  return stackPath(ctx, 'run', `${name}.pid`);
}

export function logFile(ctx: StackContext, name: ComponentName): string {
  return stackPath(ctx, 'logs', `${name}.log`);
}

/** Renders stack/config/<template> with {{NAME}} placeholders into the stack home. */
export function renderTemplate(ctx: StackContext, template: string, values: Record<string, string | number>): string {
  const source = join(PROJECT_ROOT, 'stack', 'config', template);
  let text = readFileSync(source, 'utf8');
  for (const [key, value] of Object.entries(values)) text = text.replaceAll(`{{${key}}}`, String(value));
  const left = text.match(/\{\{[A-Z_]+\}\}/);
  if (left !== null) {
    throw new PipelineError('CONFIG_INVALID', `template ${source} has an unfilled placeholder ${left[0]}`, {
      hint: 'add the value where the template is rendered (pipeline/stack/components/)',
    });
  }
  const target = stackPath(ctx, 'config', template);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
  return target;
}

/** The version of a Maven artifact, read off the jar file name fetched into a lib folder. */
export function jarVersion(dir: string, artifact: string): string {
  if (!existsSync(dir)) return 'not installed';
  const files = readdirSync(dir);
  const re = new RegExp(`^${artifact.replace(/[.]/g, '\\.')}-(\\d[^/]*?)\\.jar$`);
  for (const f of files) {
    const m = f.match(re);
    if (m?.[1] !== undefined) return m[1];
  }
  return 'unknown';
}
