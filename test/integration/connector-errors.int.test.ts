import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPipelineError, type PipelineError } from '../../pipeline/errors.js';
import { ShopEnv } from '../support/shop-env.js';

async function failure(promise: Promise<unknown>): Promise<PipelineError> {
  try {
    await promise;
  } catch (err) {
    if (isPipelineError(err)) return err;
    throw err;
  }
  throw new Error('expected a PipelineError, got success');
}

describe('connectors apply refuses a bad connector with a clear error', () => {
  const env = new ShopEnv();

  beforeAll(async () => env.createSchema({ customers: 1, products: 1 }));
  afterAll(async () => env.dispose());

  // The secrets file must be readable by Connect: a native process here, not a container.
  const nativeOnly = process.env['CDC_TEST_STACK'] === 'docker' ? test.skip : test;

  nativeOnly('a wrong password is caught by Connect validation before anything is created', async () => {
    // The file config provider reads secrets from the stack's secrets folder, never from the JSON.
    const dir = join(env.settings.stackHome, 'secrets');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${env.name}.properties`);
    writeFileSync(file, 'pg.password=certainly-not-the-password\n', { mode: 0o600 });

    const err = await failure(env.startConnector({ 'database.password': `\${file:${file}:pg.password}` }));
    expect(err.code).toBe('CONNECTOR_CONFIG_INVALID');
    expect(err.message).toMatch(/password authentication failed for user "debezium"/);
    expect(await env.connect.status(env.connectorName)).toBeUndefined();
  });

  test('a connector that fails at run time is reported with its task error', async () => {
    const err = await failure(env.startConnector({ 'publication.name': `${env.name}_missing_pub` }));
    expect(err.code).toBe('CONNECTOR_FAILED');
    expect(String(err.cause)).toMatch(/publication/i);
    await env.connect.delete(env.connectorName);
  });
});
