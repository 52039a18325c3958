import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { ensureDebianPackages } from '../install.js';
import { logContains, startDetached, waitUntil } from '../processes.js';
import { logFile, pidFile, stackPath, type Component } from '../component.js';

const REDIS = '/usr/bin/redis-server';

export const redis: Component = {
  name: 'redis',
  description: 'Redis (Debian): a cache in front of hot read models, never a source of truth',
  stopSignal: 'SIGTERM',
  port: (ctx) => ctx.settings.env.REDIS_PORT,

  async install(ctx) {
    ensureDebianPackages(ctx.log, [{ binary: REDIS, packages: ['redis-server'] }]);
  },

  async start(ctx) {
    const log = logFile(ctx, 'redis');
    const dir = stackPath(ctx, 'data', 'redis');
    mkdirSync(dir, { recursive: true });
    const { REDIS_HOST, REDIS_PORT } = ctx.settings.env;
    // A cache: no persistence, bounded memory, least-recently-used eviction.
    const pid = startDetached({
      command: REDIS,
      args: ['--bind', REDIS_HOST, '--port', String(REDIS_PORT), '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory', '256mb', '--maxmemory-policy', 'allkeys-lru', '--daemonize', 'no'],
      pidFile: pidFile(ctx, 'redis'),
      logFile: log,
    });
    await waitUntil(() => logContains(log, /Ready to accept connections/), { what: 'redis', timeoutMs: 20_000, pid, logFile: log });
    return pid;
  },

  version() {
    const out = spawnSync(REDIS, ['--version'], { encoding: 'utf8' });
    return out.status === 0 ? (out.stdout.match(/v=(\S+)/)?.[1] ?? 'unknown') : 'not installed';
  },
};
