import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { messageCount } from '../kafka/lag.js';
import { applyConnectorWithTopics, connectorForSchema } from '../../connectors/apply.js';
import { ConnectClient } from '../../connectors/connect-client.js';
import type { Settings } from '../config.js';
import { cdcTopic, createKafka } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { appPool, superuserClient } from '../postgres/clients.js';
import { seedShop } from '../shop/load-generator.js';
import { dropSlotWhenInactive } from '../postgres/slots.js';
import { CAPTURED_TABLES, dropShop, migrateShop, ROW_TABLES } from '../shop/migrate.js';
import { EVENT_AGGREGATES, eventTopic } from '../../schemas/events/registry.js';

/** A private shop (schema, publication, slot, connector, topics) for one benchmark run. */
export class BenchShop {
  readonly name = `bench_${randomBytes(4).toString('hex')}`;
  readonly connector = `${this.name}-source`;

  constructor(
    readonly settings: Settings,
    readonly log: Logger,
  ) {}

  topics(): string[] {
    return [...ROW_TABLES.map((t) => cdcTopic(this.name, this.name, t)), ...EVENT_AGGREGATES.map((a) => eventTopic(this.name, a))];
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
    const connector = connectorForSchema({
      name: this.connector,
      schema: this.name,
      topicPrefix: this.name,
      slot: `${this.name}_slot`,
      publication: `${this.name}_pub`,
      tables: CAPTURED_TABLES,
    });
    await applyConnectorWithTopics(connector, this.log);
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

  /**
   * Removes everything the shop made: connector, slot, schema, and its Kafka topics (heartbeat and
   * dead-letter topics too) and consumer groups, whose names all contain the shop's. Topics left
   * behind pile up: a 1,000,000-event backlog is about 1.5 GB, and this machine's broker once held
   * 476 topics of finished runs.
   */
  async dispose(): Promise<void> {
    await new ConnectClient(this.settings.connectUrl).delete(this.connector).catch(() => undefined);
    const kafka = createKafka(this.settings.kafkaBrokers, `${this.name}-dispose`, this.log);
    const kadmin = kafka.admin();
    await kadmin.connect();
    try {
      const topics = (await kadmin.listTopics()).filter((t) => t.includes(this.name));
      if (topics.length > 0) await kadmin.deleteTopics({ topics });
      const groups = (await kadmin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.includes(this.name));
      if (groups.length > 0) await kadmin.deleteGroups(groups);
    } finally {
      await kadmin.disconnect();
    }
    const admin = superuserClient(this.settings);
    await admin.connect();
    await dropSlotWhenInactive(admin, `${this.name}_slot`);
    await dropShop(admin, this.name, `${this.name}_pub`);
    await admin.end();
  }
}
