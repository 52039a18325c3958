import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { PipelineError } from '../errors.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean | number | string>;
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/**
 * A worker's small HTTP listener on 127.0.0.1: /metrics (Prometheus text), /healthz (the process
 * answers), /readyz (connected and assigned: what a load balancer or an orchestrator asks).
 */
export async function startMetricsListener(port: number, registry: Registry, readiness: () => Promise<Readiness>): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    };
    if (path === '/metrics') {
      registry.metrics().then((text) => reply(200, registry.contentType, text), (err: unknown) => reply(500, 'text/plain', String(err)));
    } else if (path === '/healthz') {
      reply(200, 'application/json', JSON.stringify({ status: 'ok' }));
    } else if (path === '/readyz') {
      readiness().then(
        (r) => reply(r.ready ? 200 : 503, 'application/json', JSON.stringify(r)),
        (err: unknown) => reply(503, 'application/json', JSON.stringify({ ready: false, checks: { error: String(err) } })),
      );
    } else reply(404, 'application/json', JSON.stringify({ error: 'not_found', message: 'try /metrics, /healthz or /readyz' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new PipelineError('CONFIG_INVALID', `metrics port 127.0.0.1:${port} is already in use`, {
              cause: err,
              hint: 'another worker on this machine holds it: give each worker its own --metrics-port (or METRICS_PORT), or 0 for any free port',
            })
          : err,
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
