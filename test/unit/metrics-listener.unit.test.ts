import { Registry } from 'prom-client';
import { PipelineError } from '../../pipeline/errors.js';
import { startMetricsListener } from '../../pipeline/metrics/http-listener.js';

describe('metrics listener', () => {
  test('a port another worker holds fails the start with a hint, not a crash', async () => {
    const registry = new Registry();
    const ready = async () => ({ ready: true, checks: {} });
    const first = await startMetricsListener(0, registry, ready);
    try {
      const port = Number(new URL(first.url).port);
      const clash = startMetricsListener(port, registry, ready);
      await expect(clash).rejects.toBeInstanceOf(PipelineError);
      await expect(clash).rejects.toMatchObject({ code: 'CONFIG_INVALID', hint: expect.stringContaining('--metrics-port') });
      const health = await fetch(`${first.url}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      await first.close();
    }
  });
});
