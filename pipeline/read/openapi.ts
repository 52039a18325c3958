import { toJsonSchema } from '../../schemas/documents/json-schema.js';
import { CustomerViewV2 } from '../../schemas/documents/customer-view.js';
import { OrderViewV2 } from '../../schemas/documents/order-view.js';

const error = { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } };

const consistencyHeaders = {
  'X-Read-Consistency': { description: 'with X-Min-Lsn: `fresh` (applied past it) or `stale` (the wait ran out; the data may predate your write)', schema: { type: 'string', enum: ['fresh', 'stale'] } },
  'X-Applied-Lsn': { description: 'how far the projections had applied the source when the read was served', schema: { type: 'string' } },
  ETag: { description: 'the document revision (`_rev`)', schema: { type: 'string' } },
  'X-Stored-Version': { description: 'the `schemaVersion` the document is stored at (the body is always upcast to the current one)', schema: { type: 'string' } },
  'X-Cache': { description: '`hit` or `miss` (Redis)', schema: { type: 'string' } },
};

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
const minLsn = {
  name: 'X-Min-Lsn',
  in: 'header',
  required: false,
  description: 'read-your-writes: the LSN of your commit (`SELECT pg_current_wal_lsn()` after COMMIT); the answer waits until the projections applied past it',
  schema: { type: 'string', example: '0/16B3748' },
};
const maxWait = { name: 'X-Max-Wait-Ms', in: 'header', required: false, description: 'how long to wait for X-Min-Lsn (default 5000, at most 30000)', schema: { type: 'integer' } };

function responses(schema: Record<string, unknown>): Record<string, unknown> {
  return {
    200: { description: 'the document, upcast to the current version and validated', headers: consistencyHeaders, content: { 'application/json': { schema } } },
    400: { description: 'bad id or header', content: { 'application/json': { schema: error } } },
    404: { description: 'no such document', content: { 'application/json': { schema: error } } },
    503: {
      description: 'the document store is unavailable, or the document kept reading torn (a store that tears under a busy writer); retry after Retry-After seconds',
      headers: { 'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer' } } },
      content: { 'application/json': { schema: error } },
    },
  };
}

/** The read API as OpenAPI 3.1, its document schemas generated from zod. */
export function openApiDocument(): Record<string, unknown> {
  const order = toJsonSchema(OrderViewV2, 'OrderView');
  const customer = toJsonSchema(CustomerViewV2, 'CustomerView');
  delete order['$schema'];
  delete customer['$schema'];
  return {
    openapi: '3.1.0',
    info: { title: 'cdc-projector read API', version: '1', description: 'The shop read models, served from the store with Redis in front of hot documents.' },
    paths: {
      '/orders/{id}': { get: { summary: 'one order_views document', parameters: [idParam, minLsn, maxWait], responses: responses({ $ref: '#/components/schemas/OrderView' }) } },
      '/customers/{id}': { get: { summary: 'one customer_views document', parameters: [idParam, minLsn, maxWait], responses: responses({ $ref: '#/components/schemas/CustomerView' }) } },
      '/customers/{id}/orders': {
        get: {
          summary: "a customer's orders, newest first, paged",
          parameters: [idParam, { name: 'page', in: 'query', description: '(page - 1) * pageSize must stay below 10,000 (400 otherwise)', schema: { type: 'integer', minimum: 1, default: 1 } }, { name: 'pageSize', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } }, minLsn, maxWait],
          responses: responses({ type: 'object', properties: { customerId: { type: 'integer' }, page: { type: 'integer' }, pageSize: { type: 'integer' }, total: { type: 'integer' }, orders: { type: 'array', items: { $ref: '#/components/schemas/OrderView' } } } }),
        },
      },
      '/healthz': { get: { summary: 'alive', responses: { 200: { description: 'the process serves requests' } } } },
      '/readyz': { get: { summary: 'ready: the store answers', responses: { 200: { description: 'ready' }, 503: { description: 'the store does not answer' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text exposition format' } } } },
    },
    components: { schemas: { OrderView: order, CustomerView: customer } },
  };
}
