import { applyConnectorWithTopics, connectorForSchema } from '../../connectors/apply.js';
import { ConnectClient } from '../../connectors/connect-client.js';
import type { Settings } from '../config.js';
import { cdcTopic, createKafka } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { superuserClient } from '../postgres/clients.js';
import { dropSlotWhenInactive } from '../postgres/slots.js';
import { CAPTURED_TABLES, dropShop, migrateShop, ROW_TABLES } from '../shop/migrate.js';
import { connectMongo } from '../store/mongo.js';
import { EVENT_AGGREGATES, eventTopic } from '../../schemas/events/registry.js';

/**
 * A private copy of the sample shop on the running stack, every name derived from one: its schema,
 * publication, slot, connector, topic prefix, consumer group and store database. A drill runs on
 * one, so it never touches the shop a demo or a team's workers use.
 */
export interface ShopCopy {
  name: string;
  schema: string;
  topicPrefix: string;
  publication: string;
  slot: string;
  connector: string;
  groupId: string;
  database: string;
}

export function shopCopy(name: string): ShopCopy {
  return {
    name,
    schema: name,
    topicPrefix: name,
    publication: `${name}_pub`,
    slot: `${name}_slot`,
    connector: `${name}-source`,
    groupId: `${name}-group`,
    database: name,
  };
}

/** The topics a copy's workers read (row topics and event topics). */
export function copyTopics(copy: ShopCopy): string[] {
  return [
    ...ROW_TABLES.map((t) => cdcTopic(copy.topicPrefix, copy.schema, t)),
    ...EVENT_AGGREGATES.map((a) => eventTopic(copy.topicPrefix, a)),
  ];
}

export async function createShopCopy(settings: Settings, copy: ShopCopy, log: Logger): Promise<void> {
  const admin = superuserClient(settings);
  await admin.connect();
  try {
    await migrateShop(admin, {
      schema: copy.schema,
      publication: copy.publication,
      appUser: settings.pg.appUser,
      debeziumUser: settings.pg.debeziumUser,
    });
  } finally {
    await admin.end();
  }
  const file = connectorForSchema({
    name: copy.connector,
    schema: copy.schema,
    topicPrefix: copy.topicPrefix,
    slot: copy.slot,
    publication: copy.publication,
    tables: CAPTURED_TABLES,
  });
  await applyConnectorWithTopics(file, log);
}

/** Removes everything a copy created: connector, slot (which would pin WAL), schema, topics, groups, database. */
export async function dropShopCopy(settings: Settings, copy: ShopCopy, log: Logger): Promise<void> {
  await new ConnectClient(settings.connectUrl).delete(copy.connector);
  const admin = superuserClient(settings);
  await admin.connect();
  try {
    await dropSlotWhenInactive(admin, copy.slot);
    await dropShop(admin, copy.schema, copy.publication);
  } finally {
    await admin.end();
  }
  const kafka = createKafka(settings.kafkaBrokers, `${copy.name}-cleanup`, log);
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  try {
    const topics = (await kafkaAdmin.listTopics()).filter(
      (t) => t.startsWith(`${copy.topicPrefix}.`) || t.endsWith(`.${copy.topicPrefix}`),
    );
    if (topics.length > 0) await kafkaAdmin.deleteTopics({ topics });
    await kafkaAdmin.deleteGroups([copy.groupId]).catch(() => undefined);
  } finally {
    await kafkaAdmin.disconnect();
  }
  const mongo = await connectMongo(settings.mongoUrl);
  try {
    await mongo.db(copy.database).dropDatabase();
  } finally {
    await mongo.close();
  }
}
