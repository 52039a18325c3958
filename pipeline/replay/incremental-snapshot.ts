import { z } from 'zod';
import type pg from 'pg';
import type { Consumer } from '../kafka/client.js';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ident } from '../postgres/sql.js';

/**
 * A Debezium incremental snapshot, asked for through the signal table: the connector re-reads the
 * named tables in primary-key chunks and writes the rows as `op: r` events into their usual topics,
 * interleaved with live changes (its watermarks keep the two consistent). Debezium then reports
 * COMPLETED on its notification topic, under the signal's id.
 */
export async function requestSnapshot(client: pg.ClientBase, schema: string, tables: readonly string[], id: string): Promise<void> {
  const data = JSON.stringify({ 'data-collections': tables.map((t) => `${schema}.${t}`), type: 'incremental' });
  await client.query(`INSERT INTO ${ident(schema)}.debezium_signal (id, type, data) VALUES ($1, 'execute-snapshot', $2)`, [id, data]);
}

const Notification = z.object({
  id: z.string(),
  aggregate_type: z.string(),
  type: z.string(),
  additional_data: z.record(z.string(), z.string()).optional(),
});

/** Watches the notification topic for one snapshot's outcome. */
export class SnapshotWatcher {
  completed = false;
  failure: PipelineError | undefined;

  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    private readonly id: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ message }) => {
        let raw: unknown;
        try {
          raw = JSON.parse(message.value?.toString('utf8') ?? 'null');
        } catch {
          return;
        }
        const n = Notification.safeParse(raw);
        if (!n.success || n.data.id !== this.id || n.data.aggregate_type !== 'Incremental Snapshot') return;
        this.log.info({ event: 'snapshot_notification', type: n.data.type, data: n.data.additional_data }, 'incremental snapshot progress');
        if (n.data.type === 'COMPLETED') this.completed = true;
        if (n.data.type === 'ABORTED') {
          this.failure = new PipelineError('CONNECTOR_FAILED', `Debezium aborted the incremental snapshot ${this.id}`, { hint: 'see the connector log (cdc stack logs connect); run cdc replay --restart to ask for a new one' });
        }
      },
    });
  }

  /** Throws if Debezium gave up on the snapshot. */
  done(): boolean {
    if (this.failure !== undefined) throw this.failure;
    return this.completed;
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
