import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logContains, startDetached, waitUntil } from '../processes.js';
import {
  jarVersion,
  logFile,
  pidFile,
  renderTemplate,
  stackPath,
  type Component,
  type StackContext,
} from '../component.js';
import { classpath, ensureJavaAndJars, JAVA, log4jConfig } from './java.js';

function pluginPath(ctx: StackContext): string {
  return stackPath(ctx, 'plugins');
}

export const connect: Component = {
  name: 'connect',
  description: 'Kafka Connect (distributed) with the Debezium PostgreSQL connector',
  stopSignal: 'SIGTERM',
  port: (ctx) => ctx.settings.env.CONNECT_PORT,

  async install(ctx) {
    // The MongoDB sink connector is the benchmark's peer (cdc bench compare), not part of the pipeline.
    ensureJavaAndJars(ctx, 'kafka', 'debezium', 'mongo-sink');
  },

  async start(ctx) {
    const log = logFile(ctx, 'connect');
    const props = renderTemplate(ctx, 'connect-distributed.properties', {
      KAFKA_PORT: ctx.settings.env.KAFKA_PORT,
      CONNECT_PORT: ctx.settings.env.CONNECT_PORT,
      PLUGIN_PATH: pluginPath(ctx),
      SECRETS_DIR: connectSecrets(ctx),
    });
    // Secrets reach connector configs through the env config provider, never through the files.
    // Connect gets only what a JVM needs and the Debezium role's variables: no other password of
    // this process's environment (PG_SUPERUSER_PASSWORD, PG_APP_PASSWORD) can be named by a config.
    const env = {
      ...pick(process.env, ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'JAVA_HOME', 'TMPDIR']),
      DEBEZIUM_PG_USER: ctx.settings.pg.debeziumUser,
      DEBEZIUM_PG_PASSWORD: ctx.settings.pg.debeziumPassword,
      PG_HOST: ctx.settings.pg.host,
      PG_PORT: String(ctx.settings.pg.port),
    };
    const pid = startDetached({
      command: JAVA,
      args: [
        '-Xms256m',
        '-Xmx768m',
        '-XX:+UseG1GC',
        log4jConfig('connect'),
        '-cp',
        classpath(ctx, 'kafka'),
        'org.apache.kafka.connect.cli.ConnectDistributed',
        props,
      ],
      pidFile: pidFile(ctx, 'connect'),
      logFile: log,
      env,
    });
    // The REST API answers before the worker has joined its group; wait for both.
    await waitUntil(
      async () => {
        if (!logContains(log, /Joined group at generation|Finished starting connectors and tasks/)) return false;
        const res = await fetch(`${ctx.settings.connectUrl}/connectors`);
        return res.ok;
      },
      { what: 'connect', timeoutMs: 120_000, pid, logFile: log },
    );
    return pid;
  },

  version(ctx) {
    const plugins = (() => {
      try {
        return readdirSync(`${pluginPath(ctx)}/debezium-connector-postgres`);
      } catch {
        return [];
      }
    })();
    const dbz = plugins
      .map((f) => f.match(/^debezium-connector-postgres-(.+)\.jar$/)?.[1])
      .find((v) => v !== undefined);
    return `connect ${jarVersion(stackPath(ctx, 'lib', 'kafka'), 'connect-runtime')}, debezium ${dbz ?? 'not installed'}`;
  },
};

function pick(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => (env[n] === undefined ? [] : [[n, env[n] as string]])));
}

/**
 * The one folder Connect's file provider may read: the Debezium role's credentials only (mode 600,
 * rewritten at every start), apart from the stack's secrets.
 */
function connectSecrets(ctx: StackContext): string {
  const dir = stackPath(ctx, 'secrets', 'connect');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'debezium.properties');
  writeFileSync(file, `user=${ctx.settings.pg.debeziumUser}\npassword=${ctx.settings.pg.debeziumPassword}\n`, {
    mode: 0o600,
  });
  chmodSync(file, 0o600);
  return dir;
}
