import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { applyConnectorWithTopics, DEFAULT_CONNECTOR_FILES, loadConnectorFile } from '../../connectors/apply.js';
import { ConnectClient } from '../../connectors/connect-client.js';
import type { Settings } from '../config.js';
import { cdcTopic } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { appPool, superuserClient } from '../postgres/clients.js';
import { seedShop } from '../shop/load-generator.js';
import { CAPTURED_TABLES, dropShop, migrateShop } from '../shop/migrate.js';

/** A private shop (schema, publication, slot, connector, topics) for one benchmark run. */
export class BenchShop {
  readonly name = `bench_${randomBytes(4).toString('hex')}`;
  readonly connector = `${this.name}-source`;

  constructor(
    readonly settings: Settings,
    readonly log: Logger,
  ) {}

  topics(): string[] {
    return CAPTURED_TABLES.map((t) => cdcTopic(this.name, this.name, t));
  }

  async create(seed: { customers: number; products: number }): Promise<void> {
    const admin = superuserClient(this.settings);
    await admin.connect();
    try {
      await migrateShop(admin, { schema: this.name, publication: `${this.name}_pub`, appUser: this.settings.pg.appUser, debeziumUser: this.settings.pg.debeziumUser });
    } finally {
      await admin.end();
    }
    const pool = appPool(this.settings, 1);
    const client = await pool.connect();
    await seedShop(client, this.name, seed).finally(() => client.release());
    await pool.end();
    const base = loadConnectorFile(DEFAULT_CONNECTOR_FILES[0] as string);
    await applyConnectorWithTopics(
      {
        name: this.connector,
        config: {
          ...base.config,
          'topic.prefix': this.name,
          'slot.name': `${this.name}_slot`,
          'publication.name': `${this.name}_pub`,
          'table.include.list': CAPTURED_TABLES.map((t) => `${this.name}.${t}`).join(','),
        },
      },
      this.log,
    );
  }

  /** Waits until Debezium has stopped adding to the topics (the backlog is complete). */
  async waitForQuietTopics(kafka: Kafka, quietMs = 5000): Promise<number> {
    const admin = kafka.admin();
    await admin.connect();
    let last = -1;
    let since = Date.now();
    for (;;) {
      const total = await messageCount(kafka, this.topics());
      if (total !== last) {
        last = total;
        since = Date.now();
      } else if (Date.now() - since >= quietMs) break;
      await sleep(500);
    }
    await admin.disconnect();
    return last;
  }

  async dispose(): Promise<void> {
    await new ConnectClient(this.settings.connectUrl).delete(this.connector).catch(() => undefined);
    const admin = superuserClient(this.settings);
    await admin.connect();
    for (let i = 0; i < 40; i++) {
      const slot = await admin.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [`${this.name}_slot`]);
      if (slot.rowCount === 0) break;
      if (slot.rows[0]?.active === false) {
        await admin.query('SELECT pg_drop_replication_slot($1)', [`${this.name}_slot`]);
        break;
      }
      await sleep(250);
    }
    await dropShop(admin, this.name, `${this.name}_pub`);
    await admin.end();
  }
}

/** Records in the topics (end minus start offsets). */
export async function messageCount(kafka: Kafka, topics: string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let total = 0;
    for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) total += Number(p.high) - Number(p.low);
    return total;
  } finally {
    await admin.disconnect();
  }
}

/** Records a consumer group has not consumed yet across the topics. */
export async function groupLag(kafka: Kafka, groupId: string, topics: string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let lag = 0;
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
      for (const p of ends) {
        const done = Number(committed.find((c) => c.partition === p.partition)?.offset ?? -1);
        lag += Number(p.high) - (done < 0 ? Number(p.low) : done);
      }
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}
