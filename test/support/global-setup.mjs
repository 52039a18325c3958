// Starts the real stack once per test run through the project's own entry point (which installs
// it on a fresh machine and builds the CLI when needed); a no-op for components already running.
// Tests then isolate themselves by random names.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default async function globalSetup() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const started = Date.now();
  const out = spawnSync(join(root, 'cdc'), ['stack', 'up'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  });
  process.stdout.write(`\n${out.stdout}${out.stderr}`);
  if (out.status !== 0) throw new Error(`the stack did not start (./cdc stack up exited ${out.status}); see above`);
  process.stdout.write(`stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
