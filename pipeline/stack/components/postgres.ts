import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { superuserClient } from '../../postgres/clients.js';
import { PipelineError } from '../../errors.js';
import { bootstrapDatabase } from '../../postgres/bootstrap.js';
import { ensureDebianPackages } from '../install.js';
import { isAlive, startDetached, waitUntil } from '../processes.js';
import { logFile, pidFile, stackPath, type Component, type StackContext } from '../component.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** The OS account that owns the data directory: postgres refuses to run as root. */
function postgresAccount(): { uid: number; gid: number } {
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new PipelineError('MISSING_BINARY', 'the postgres OS user does not exist', {
      hint: 'it comes with the postgresql-15 package: apt-get install -y postgresql-15',
    });
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function dataDir(ctx: StackContext): string {
  return stackPath(ctx, 'data', 'postgres');
}

function socketDir(ctx: StackContext): string {
  return stackPath(ctx, 'run', 'postgres-socket');
}

export const postgres: Component = {
  name: 'postgres',
  description: 'PostgreSQL 15 (Debian), wal_level=logical: the system of record',
  stopSignal: 'SIGINT', // "fast" shutdown: aborts sessions, checkpoints, exits
  port: (ctx) => ctx.settings.pg.port,

  async install(ctx) {
    ensureDebianPackages(ctx.log, [{ binary: `${PG_BIN}/postgres`, packages: ['postgresql-15'] }]);
    const data = dataDir(ctx);
    if (existsSync(`${data}/PG_VERSION`)) return;
    const { uid, gid } = postgresAccount();
    rmSync(data, { recursive: true, force: true });
    // The postgres account must be able to walk down to its data directory.
    mkdirSync(dirname(data), { recursive: true, mode: 0o755 });
    chmodSync(ctx.settings.stackHome, 0o755);
    chmodSync(dirname(data), 0o755);
    mkdirSync(data, { mode: 0o700 });
    chownSync(data, uid, gid);
    // initdb runs as postgres, which cannot read the root-only secrets folder: hand it a private copy.
    const pwdir = mkdtempSync(join(tmpdir(), 'cdc-initdb-'));
    chownSync(pwdir, uid, gid);
    const pwfile = join(pwdir, 'pw');
    writeFileSync(pwfile, `${ctx.settings.pg.superuserPassword}\n`, { mode: 0o600 });
    chownSync(pwfile, uid, gid);
    const out = spawnSync(
      `${PG_BIN}/initdb`,
      [
        '-D',
        data,
        '-U',
        ctx.settings.pg.superuser,
        `--pwfile=${pwfile}`,
        '--auth-local=peer',
        '--auth-host=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
      ],
      { uid, gid, encoding: 'utf8' },
    );
    rmSync(pwdir, { recursive: true, force: true });
    if (out.status !== 0) {
      throw new PipelineError('INSTALL_FAILED', 'initdb failed', {
        cause: out.stderr || out.error?.message,
        hint: `remove ${data} and retry`,
      });
    }
  },

  async start(ctx) {
    const { uid, gid } = postgresAccount();
    const sockets = socketDir(ctx);
    mkdirSync(sockets, { recursive: true });
    chownSync(sockets, uid, gid);
    const settings = [
      `listen_addresses=${ctx.settings.pg.host}`,
      `port=${ctx.settings.pg.port}`,
      `unix_socket_directories=${sockets}`,
      'wal_level=logical',
      'max_replication_slots=32',
      'max_wal_senders=32',
      'max_connections=200',
      'shared_buffers=128MB',
      // A crash-consistent but not fsync-per-commit setup would be wrong for production; the stack
      // keeps the defaults so the measured figures are honest.
    ];
    await orphansGone(dataDir(ctx), ctx);
    await deadPostmasterGone(dataDir(ctx), sockets, ctx);
    const pid = startDetached({
      command: `${PG_BIN}/postgres`,
      args: ['-D', dataDir(ctx), ...settings.flatMap((s) => ['-c', s])],
      pidFile: pidFile(ctx, 'postgres'),
      logFile: logFile(ctx, 'postgres'),
      uid,
      gid,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
    });
    await waitUntil(
      async () => {
        const client = superuserClient(ctx.settings, 'postgres');
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      { what: 'postgres', timeoutMs: 30_000, pid, logFile: logFile(ctx, 'postgres') },
    );
    return pid;
  },

  async afterStart(ctx) {
    await bootstrapDatabase(ctx.settings);
  },

  version() {
    const out = spawnSync(`${PG_BIN}/postgres`, ['--version'], { encoding: 'utf8' });
    return out.status === 0 ? out.stdout.replace(/^postgres \(PostgreSQL\) /, '').trim() : 'not installed';
  },
};

/**
 * After the postmaster died (kill -9, OOM killer), its backends and WAL senders live on until they
 * notice, and while any holds the shared memory a new postmaster refuses to start ("lock file
 * postmaster.pid already exists"). They are orphans of a dead server: wait a little for them to
 * leave, then kill them, as an operator would before restarting.
 */
async function orphansGone(data: string, ctx: StackContext): Promise<void> {
  const orphans = () =>
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => {
        try {
          return (
            readlinkSync(`/proc/${pid}/cwd`) === data &&
            readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('postgres')
          );
        } catch {
          return false;
        }
      });
  const deadline = Date.now() + 10_000;
  let left = orphans();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(200);
    left = orphans();
  }
  if (left.length === 0) return;
  ctx.log.warn(
    { pids: left, event: 'postgres_orphans_killed' },
    'backends of a postmaster that died were still running; killing them before the restart',
  );
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  while (orphans().length > 0) await sleep(100);
}

/**
 * A postmaster killed with -9 leaves postmaster.pid and its socket's lock file behind. Postgres
 * ignores them once that pid is gone, but not while it is a zombie its new parent has not reaped
 * yet (seen in CI right after a kill -9): it refuses to start, "lock file already exists". Wait for
 * the zombie to be reaped; if it never is, remove the two lock files, which nothing alive owns.
 */
async function deadPostmasterGone(data: string, sockets: string, ctx: StackContext): Promise<void> {
  const lock = join(data, 'postmaster.pid');
  if (!existsSync(lock)) return;
  const pid = Number.parseInt(readFileSync(lock, 'utf8').split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) return;
  const deadline = Date.now() + 30_000;
  while (existsSync(`/proc/${pid}`) && Date.now() < deadline) await sleep(200);
  if (!existsSync(`/proc/${pid}`)) return;
  ctx.log.warn({ pid, event: 'postgres_stale_locks_removed' }, 'the killed postmaster was never reaped; its lock files removed');
  rmSync(lock, { force: true });
  for (const f of readdirSync(sockets)) if (/^\.s\.PGSQL\.\d+\.lock$/.test(f)) rmSync(join(sockets, f), { force: true });
}
