import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Db } from 'mongodb';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import { customerViews } from '../../projections/customer-views.js';
import { orderViews } from '../../projections/order-views.js';
import { PROJECTIONS } from '../../projections/registry.js';
import { componentsOf, Namespace } from '../store/generations.js';
import { isPipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import { formatLsn, parseLsn, type AppliedPosition } from './applied-position.js';
import type { DocumentCache } from './document-cache.js';
import { openApiDocument } from './openapi.js';
import { isStoreUnavailable, ReadModel, TornReadError } from './read-models.js';

export interface ReadServerDeps {
  db: Db;
  cache?: DocumentCache;
  /** Read-your-writes; without it X-Min-Lsn is refused with 400. */
  applied?: AppliedPosition;
  log: Logger;
}

const IdParams = z.object({
  id: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a positive integer')
    .transform(Number)
    .pipe(z.number().int().positive()),
});
/** Deeper pages cost the store a skip over every document before them: a bound, not a scan on demand. */
export const MAX_PAGE_DEPTH = 10_000;
const PageQuery = z
  .object({
    page: z.coerce.number().int().min(1).default(1),
    pageSize: z.coerce.number().int().min(1).max(100).default(20),
  })
  .refine((q) => (q.page - 1) * q.pageSize < MAX_PAGE_DEPTH, {
    message: `pages start below document ${MAX_PAGE_DEPTH}: page times pageSize too large`,
    path: ['page'],
  });
const ConsistencyHeaders = z.object({
  'x-min-lsn': z.string().optional(),
  'x-max-wait-ms': z.coerce.number().int().min(0).max(30_000).default(5_000),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new HttpError(
      400,
      'bad_request',
      `${what}: ${r.error.issues.map((i) => `${i.path.join('.') || '(value)'} ${i.message}`).join('; ')}`,
    );
  return r.data;
}

/**
 * The read API over the shop's read models (OpenAPI at /openapi.json): documents through the
 * Redis cache and the typed reader, read-your-writes by commit LSN, and its own metrics and
 * health. Store down: 503 with Retry-After. Redis down: served from the store.
 */
export function buildReadServer(deps: ReadServerDeps): FastifyInstance {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cdc_read_' });
  const requests = new Counter({
    name: 'cdc_read_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'cdc_read_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const cacheResults = new Counter({
    name: 'cdc_read_cache_lookups_total',
    help: 'Document lookups by cache result',
    labelNames: ['collection', 'result'],
    registers: [registry],
  });
  const rywWait = new Histogram({
    name: 'cdc_read_your_writes_wait_seconds',
    help: 'Time a read waited for its X-Min-Lsn',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });

  // One namespace for both: they belong to one component and switch generation together.
  const namespace = new Namespace(deps.db, componentsOf(PROJECTIONS));
  const models = {
    orders: new ReadModel(deps.db, orderViews, deps.cache, namespace),
    customers: new ReadModel(deps.db, customerViews, deps.cache, namespace),
  };
  const app = Fastify({ logger: false });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    requests.inc({ route, status: String(reply.statusCode) });
    duration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof HttpError) return reply.status(err.status).send({ error: err.error, message: err.message });
    if (err instanceof TornReadError) {
      deps.log.warn(
        { collection: err.collection, id: err.id, event: 'torn_read' },
        'document kept reading torn; answered 503',
      );
      return reply
        .status(503)
        .header('Retry-After', '1')
        .send({ error: 'torn_read', message: `${err.message}; retry shortly` });
    }
    if (isStoreUnavailable(err)) {
      return reply
        .status(503)
        .header('Retry-After', '5')
        .send({ error: 'store_unavailable', message: 'the document store does not answer; retry shortly' });
    }
    const message = isPipelineError(err) ? err.describe() : String(err);
    deps.log.error({ err: message, event: 'read_failed' }, 'read failed');
    return reply
      .status(500)
      .send({ error: 'internal', message: isPipelineError(err) ? err.message : 'internal error' });
  });

  /** Applies X-Min-Lsn: waits for the projections to apply past it, then says how fresh the answer is. */
  async function consistency(req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const headers = parse(ConsistencyHeaders, req.headers, 'headers');
    const wanted = headers['x-min-lsn'];
    if (wanted === undefined) return false;
    const lsn = parseLsn(wanted);
    if (lsn === undefined)
      throw new HttpError(400, 'bad_request', `X-Min-Lsn "${wanted}" is not an LSN such as 0/16B3748`);
    if (deps.applied === undefined)
      throw new HttpError(400, 'bad_request', 'this service was started without read-your-writes (no --group/--slot)');
    const started = performance.now();
    const { fresh, applied } = await deps.applied.waitFor(lsn, headers['x-max-wait-ms']);
    rywWait.observe({ outcome: fresh ? 'fresh' : 'stale' }, (performance.now() - started) / 1000);
    reply.header('X-Read-Consistency', fresh ? 'fresh' : 'stale').header('X-Applied-Lsn', formatLsn(applied));
    return true;
  }

  async function one(model: ReadModel, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const { id } = parse(IdParams, req.params, 'path');
    // After a read-your-writes wait, read the pointer again: the position may sit in a just-switched generation.
    const waited = await consistency(req, reply);
    const served = await model.get(id, waited);
    cacheResults.inc({ collection: model.projection.collection, result: served.cache });
    reply.header('ETag', `"${served.rev}"`).header('X-Cache', served.cache);
    if (served.found === null) throw new HttpError(404, 'not_found', `${model.projection.name} has no document ${id}`);
    reply.header('X-Stored-Version', String(served.found.storedVersion));
    return served.found.doc;
  }

  app.get('/orders/:id', (req, reply) => one(models.orders, req, reply));
  app.get('/customers/:id', (req, reply) => one(models.customers, req, reply));
  app.get('/customers/:id/orders', async (req, reply) => {
    const { id } = parse(IdParams, req.params, 'path');
    const { page, pageSize } = parse(PageQuery, req.query, 'query');
    const waited = await consistency(req, reply);
    const customer = await models.customers.get(id, waited);
    if (customer.found === null) throw new HttpError(404, 'not_found', `customer_views has no document ${id}`);
    const { total, docs } = await models.orders.page({ customerId: id }, { placedAt: -1, _id: -1 }, page, pageSize);
    return { customerId: id, page, pageSize, total, orders: docs };
  });

  app.get('/openapi.json', async () => openApiDocument());
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const store = await deps.db.command({ ping: 1 }).then(
      () => 'up',
      () => 'down',
    );
    const redis = deps.cache === undefined ? 'disabled' : deps.cache.redis.status === 'ready' ? 'up' : 'down';
    // Kafka only serves read-your-writes, which degrades to stale answers: it does not decide readiness.
    const readYourWrites =
      deps.applied === undefined ? 'disabled' : deps.applied.kafkaConnected ? 'up' : 'kafka_unavailable';
    return reply.status(store === 'up' ? 200 : 503).send({ store, redis, readYourWrites });
  });
  app.get('/metrics', async (_req, reply) =>
    reply.header('Content-Type', registry.contentType).send(await registry.metrics()),
  );
  return app;
}
