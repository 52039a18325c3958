// Starts the real stack once per test run; tests then isolate themselves by random names.
//   default              the native stack, through the project's own entry point (./cdc stack up),
//                        which installs it on a fresh machine; a no-op for what already runs.
//   CDC_TEST_STACK=docker the same services from official images (docker-compose.yml), through
//                        testcontainers, for machines with a Docker engine.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function cdc(args) {
  const out = spawnSync(join(root, 'cdc'), args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  });
  process.stdout.write(`\n${out.stdout}${out.stderr}`);
  if (out.status !== 0) throw new Error(`./cdc ${args.join(' ')} exited ${out.status}; see above`);
}

async function dockerStack() {
  const { DockerComposeEnvironment, Wait } = await import('testcontainers');
  // Environment set here is inherited by the test workers jest starts afterwards.
  for (const key of ['PG_SUPERUSER_PASSWORD', 'PG_APP_PASSWORD', 'DEBEZIUM_PG_PASSWORD']) {
    process.env[key] ??= randomBytes(18).toString('base64url');
  }
  const environment = await new DockerComposeEnvironment(root, 'docker-compose.yml')
    .withEnvironment({ ...process.env })
    .withWaitStrategy('connect-1', Wait.forHealthCheck())
    .withWaitStrategy('mongo-1', Wait.forHealthCheck())
    .up(['postgres', 'kafka', 'connect', 'mongo', 'redis']);
  globalThis.__CDC_COMPOSE__ = environment;
  cdc(['stack', 'bootstrap']);
}

export default async function globalSetup() {
  const started = Date.now();
  if (process.env.CDC_TEST_STACK === 'docker') await dockerStack();
  else cdc(['stack', 'up']);
  process.stdout.write(`stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
