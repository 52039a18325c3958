import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { PipelineError } from '../pipeline/errors.js';

const TaskState = z.object({ id: z.number(), state: z.string(), worker_id: z.string(), trace: z.string().optional() });
export const ConnectorStatusSchema = z.object({
  name: z.string(),
  connector: z.object({ state: z.string(), worker_id: z.string(), trace: z.string().optional() }),
  tasks: z.array(TaskState),
});
export type ConnectorStatus = z.infer<typeof ConnectorStatusSchema>;

const ValidateResponseSchema = z.object({
  error_count: z.number(),
  configs: z.array(z.object({ value: z.object({ name: z.string(), errors: z.array(z.string()) }).nullable() })),
});

/** The Kafka Connect REST API; every response is parsed, never trusted. */
export class ConnectClient {
  constructor(private readonly baseUrl: string) {}

  private async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (cause) {
      throw new PipelineError('CONNECT_UNREACHABLE', `Kafka Connect at ${this.baseUrl} did not answer ${method} ${path}`, {
        cause,
        retriable: true,
        hint: 'start the stack (cdc stack up) or set CONNECT_HOST/CONNECT_PORT',
      });
    }
    const text = await res.text();
    return { status: res.status, json: text === '' ? null : (JSON.parse(text) as unknown) };
  }

  /** Connect's own validation: types, allowed values, and for Debezium a test connection. */
  async validate(name: string, config: Record<string, string>): Promise<{ key: string; errors: string[] }[]> {
    const cls = config['connector.class'] ?? '';
    // The endpoint insists on "name" in the body; a wrong password is reported under database.hostname.
    const { status, json } = await this.request('PUT', `/connector-plugins/${encodeURIComponent(cls)}/config/validate`, { ...config, name });
    if (status !== 200) {
      throw new PipelineError('CONNECTOR_CONFIG_INVALID', `Connect refused to validate the config (HTTP ${status})`, {
        cause: JSON.stringify(json),
        hint: `is the plugin ${cls} on Connect's plugin.path? (cdc stack status; GET /connector-plugins)`,
      });
    }
    const parsed = parseResponse(ValidateResponseSchema, json, 'validate');
    return parsed.configs.flatMap((c) => (c.value !== null && c.value.errors.length > 0 ? [{ key: c.value.name, errors: c.value.errors }] : []));
  }

  async putConfig(name: string, config: Record<string, string>): Promise<void> {
    const { status, json } = await this.request('PUT', `/connectors/${encodeURIComponent(name)}/config`, config);
    if (status !== 200 && status !== 201) {
      throw new PipelineError('CONNECTOR_FAILED', `Connect rejected connector ${name} (HTTP ${status})`, { cause: JSON.stringify(json) });
    }
  }

  async status(name: string): Promise<ConnectorStatus | undefined> {
    const { status, json } = await this.request('GET', `/connectors/${encodeURIComponent(name)}/status`);
    if (status === 404) return undefined;
    return parseResponse(ConnectorStatusSchema, json, 'connector status');
  }

  async list(): Promise<string[]> {
    const { json } = await this.request('GET', '/connectors');
    return parseResponse(z.array(z.string()), json, 'connector list');
  }

  async restart(name: string): Promise<void> {
    const { status, json } = await this.request('POST', `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=false`);
    if (status >= 300) throw new PipelineError('CONNECTOR_FAILED', `restart of ${name} refused (HTTP ${status})`, { cause: JSON.stringify(json) });
  }

  async delete(name: string): Promise<void> {
    const { status, json } = await this.request('DELETE', `/connectors/${encodeURIComponent(name)}`);
    if (status >= 300 && status !== 404) throw new PipelineError('CONNECTOR_FAILED', `delete of ${name} refused (HTTP ${status})`, { cause: JSON.stringify(json) });
  }

  /**
   * Waits until the connector and every task are RUNNING. A FAILED state ends the wait at once with
   * the task's stack trace, which is where Debezium explains itself.
   */
  async waitRunning(name: string, timeoutMs: number): Promise<ConnectorStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: ConnectorStatus | undefined;
    while (Date.now() < deadline) {
      // A conflict (409) while the group rebalances is transient.
      last = await this.status(name).catch(() => undefined);
      if (last !== undefined) {
        const failed = [last.connector, ...last.tasks].find((s) => s.state === 'FAILED');
        if (failed !== undefined) {
          throw new PipelineError('CONNECTOR_FAILED', `connector ${name} FAILED`, {
            cause: firstLines(failed.trace ?? 'no trace'),
            hint: 'fix the cause above, then run cdc connectors apply again (or cdc connectors restart)',
          });
        }
        if (last.connector.state === 'RUNNING' && last.tasks.length > 0 && last.tasks.every((t) => t.state === 'RUNNING')) return last;
      }
      await sleep(250);
    }
    throw new PipelineError('TIMEOUT', `connector ${name} not RUNNING after ${timeoutMs} ms`, {
      context: { last },
      hint: 'read the Connect log: cdc stack logs connect',
    });
  }
}

function parseResponse<S extends z.ZodType>(schema: S, json: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new PipelineError('CONNECT_UNREACHABLE', `Kafka Connect answered ${what} with an unexpected shape`, {
      cause: parsed.error,
      hint: 'is the service on CONNECT_PORT really Kafka Connect 4.x?',
    });
  }
  return parsed.data;
}

function firstLines(trace: string): string {
  return trace.split('\n').slice(0, 6).join('\n');
}
