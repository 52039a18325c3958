import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../pipeline/config.js';

/** The built CLI, as people run it (the global setup built it through ./cdc). */
function cdc(...args: string[]) {
  const out = spawnSync(process.execPath, [join(PROJECT_ROOT, 'dist', 'pipeline', 'cli', 'main.js'), ...args], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'warn' } });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

describe('the cdc command line', () => {
  test('connectors apply rejects a file with a misspelt key before touching Connect, and exits non-zero', () => {
    const shipped = JSON.parse(readFileSync(join(PROJECT_ROOT, 'connectors', 'shop-postgres-source.json'), 'utf8')) as { config: Record<string, string> };
    const { 'slot.name': slot, ...rest } = shipped.config;
    const file = join(mkdtempSync(join(tmpdir(), 'cdc-cli-')), 'typo.json');
    writeFileSync(file, JSON.stringify({ name: 'typo', config: { ...rest, 'slot.nam': slot } }));

    const run = cdc('connectors', 'apply', file);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error CONNECTOR_CONFIG_INVALID');
    expect(run.stderr).toContain('unknown key "slot.nam" (did you mean "slot.name"?)');
    expect(run.stderr).toContain('slot.name: is required');
  });

  test('an unknown command or component is a usage error (exit 64) that shows what exists', () => {
    const bogus = cdc('frobnicate');
    expect(bogus.code).toBe(64);
    expect(bogus.stderr).toMatch(/unknown command "frobnicate"[\s\S]*stack/);
    const logs = cdc('stack', 'logs', 'mysql');
    expect(logs.code).toBe(64);
    expect(logs.stderr).toContain('choose one of postgres, kafka, connect, store, redis');
  });

  test('run --report-applied without an IPC channel to report on is refused, saying how to start it', () => {
    const run = cdc('run', '--report-applied', '--group', 'never-joined');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('--report-applied needs an IPC channel');
  });

  test('a bad flag value names the flag', () => {
    const run = cdc('shop', 'load', '--rate', 'fast', '--duration', '1');
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('--rate');
  });

  (process.env['CDC_TEST_STACK'] === 'docker' ? test.skip : test)('stack status --json lists each component running with port, pid and version', () => {
    const run = cdc('stack', 'status', '--json');
    expect(run.code).toBe(0);
    const rows = JSON.parse(run.stdout) as { name: string; state: string; port: number; pid: number; version: string }[];
    expect(rows.map((r) => [r.name, r.state])).toEqual([
      ['postgres', 'running'],
      ['kafka', 'running'],
      ['connect', 'running'],
      ['store', 'running'],
      ['redis', 'running'],
    ]);
    expect(rows.map((r) => r.port)).toEqual([5432, 9092, 8083, 27017, 6379]);
  });
});
