import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { PipelineError } from '../../errors.js';
import { logContains, startDetached, waitUntil } from '../processes.js';
import { jarVersion, logFile, pidFile, renderTemplate, stackPath, type Component, type StackContext } from '../component.js';
import { classpath, ensureJavaAndJars, JAVA, log4jConfig } from './java.js';

function serverProperties(ctx: StackContext): string {
  const { KAFKA_PORT, KAFKA_CONTROLLER_PORT } = ctx.settings.env;
  return renderTemplate(ctx, 'kafka-server.properties', {
    KAFKA_PORT,
    CONTROLLER_PORT: KAFKA_CONTROLLER_PORT,
    DATA_DIR: stackPath(ctx, 'data', 'kafka'),
  });
}

export const kafka: Component = {
  name: 'kafka',
  description: 'Apache Kafka, one KRaft node (broker + controller)',
  stopSignal: 'SIGTERM',
  port: (ctx) => ctx.settings.env.KAFKA_PORT,

  async install(ctx) {
    ensureJavaAndJars(ctx, 'kafka');
    const dataDir = stackPath(ctx, 'data', 'kafka');
    if (existsSync(`${dataDir}/meta.properties`)) return;
    mkdirSync(dataDir, { recursive: true });
    const props = serverProperties(ctx);
    const tool = (args: string[]) =>
      spawnSync(JAVA, [log4jConfig('kafka'), '-cp', classpath(ctx, 'kafka'), 'kafka.tools.StorageTool', ...args], { encoding: 'utf8' });
    const id = tool(['random-uuid']);
    const clusterId = id.stdout.trim().split('\n').pop() ?? '';
    const format = id.status === 0 ? tool(['format', '--standalone', '-t', clusterId, '-c', props]) : id;
    if (format.status !== 0) {
      throw new PipelineError('INSTALL_FAILED', 'formatting Kafka storage failed', {
        cause: format.stderr || format.stdout,
        hint: `remove ${dataDir} and run cdc stack up again`,
      });
    }
  },

  async start(ctx) {
    const log = logFile(ctx, 'kafka');
    const pid = startDetached({
      command: JAVA,
      args: ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', log4jConfig('kafka'), '-cp', classpath(ctx, 'kafka'), 'kafka.Kafka', serverProperties(ctx)],
      pidFile: pidFile(ctx, 'kafka'),
      logFile: log,
    });
    await waitUntil(() => logContains(log, /Kafka Server started/), { what: 'kafka', timeoutMs: 60_000, pid, logFile: log });
    return pid;
  },

  version: (ctx) => jarVersion(stackPath(ctx, 'lib', 'kafka'), 'kafka_2.13'),
};
