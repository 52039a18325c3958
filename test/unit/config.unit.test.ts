import { loadSettings, parseEnv } from '../../pipeline/config.js';
import { PipelineError } from '../../pipeline/errors.js';

describe('configuration from the environment', () => {
  test('defaults give the native stack on 127.0.0.1', () => {
    const s = loadSettings({ CDC_STACK_HOME: '/tmp/none' });
    expect(s.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(s.connectUrl).toBe('http://127.0.0.1:8083');
    expect(s.mongoUrl).toBe('mongodb://127.0.0.1:27017');
    expect(s.pg).toMatchObject({ host: '127.0.0.1', port: 5432, database: 'shop' });
  });

  test('ports are overridable', () => {
    expect(loadSettings({ CDC_STACK_HOME: '/tmp/none', KAFKA_PORT: '19092' }).kafkaBrokers).toEqual(['127.0.0.1:19092']);
  });

  test('rejects a port that is not a port, naming the variable', () => {
    let err: unknown;
    try {
      parseEnv({ KAFKA_PORT: '90920' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe('CONFIG_INVALID');
    expect((err as PipelineError).message).toMatch(/KAFKA_PORT/);
  });

  test('rejects a Mongo URL of another scheme', () => {
    expect(() => parseEnv({ MONGO_URL: 'http://x' })).toThrow(/MONGO_URL/);
  });

  test('settings are frozen', () => {
    expect(Object.isFrozen(loadSettings({ CDC_STACK_HOME: '/tmp/none' }))).toBe(true);
  });
});
