import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPipelineError } from '../../pipeline/errors.js';
import { createLogger } from '../../pipeline/logger.js';
import { ensureDebianPackages } from '../../pipeline/stack/install.js';
import { stackStatus, stackUp } from '../../pipeline/stack/stack.js';

const log = createLogger('stack-errors', 'silent');

async function rejection(promise: Promise<unknown>) {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => {
      if (!isPipelineError(err)) throw err;
      return err;
    },
  );
}

describe('stack errors name the component and what to do', () => {
  let server: Server;
  let port: number;
  const home = mkdtempSync(join(tmpdir(), 'cdc-stack-test-'));

  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(home, { recursive: true, force: true });
  });

  test('a port held by another process is refused before anything starts', async () => {
    const env = { ...process.env, CDC_STACK_HOME: home, REDIS_PORT: String(port) };
    const err = await rejection(stackUp(log, ['redis'], env));
    expect(err.code).toBe('PORT_IN_USE');
    expect(err.message).toContain(`port ${port}`);
    expect(err.message).toMatch(/redis cannot start/);
    expect(err.message).toMatch(/held by node \(pid \d+\)/);
    expect(err.hint).toMatch(/another port/);
  });

  test('a binary that cannot be installed is reported as missing, with the package named', async () => {
    const err = await rejection(Promise.resolve().then(() => ensureDebianPackages(log, [{ binary: '/nonexistent/cdc-tool', packages: ['cdc-no-such-package'] }])));
    expect(err.code).toBe('MISSING_BINARY');
    expect(err.message).toContain('cdc-no-such-package');
  });

  // Under CDC_TEST_STACK=docker the services run in containers, not as native processes.
  const nativeOnly = process.env['CDC_TEST_STACK'] === 'docker' ? test.skip : test;

  nativeOnly('status reports every component of the running stack with its port, pid and version', () => {
    const rows = stackStatus(log);
    expect(rows.map((r) => r.name)).toEqual(['postgres', 'kafka', 'connect', 'store', 'redis']);
    for (const row of rows) {
      expect(row.state).toBe('running');
      expect(row.pid).toBeGreaterThan(0);
      expect(row.rssMiB).toBeGreaterThan(0);
    }
    expect(rows.find((r) => r.name === 'kafka')?.version).toBe('4.3.1');
    expect(rows.find((r) => r.name === 'connect')?.version).toBe('connect 4.3.1, debezium 3.6.1.Final');
  });
});
