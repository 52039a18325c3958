import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db, MongoClient } from 'mongodb';
import type pg from 'pg';
import { applyConnectorWithTopics, connectorForSchema } from '../../connectors/apply.js';
import type { ConnectorFile } from '../../connectors/config-schema.js';
import { ConnectClient } from '../../connectors/connect-client.js';
import { loadSettings, type Settings } from '../../pipeline/config.js';
import { cdcTopic, createKafka } from '../../pipeline/kafka/client.js';
import { createLogger, type Logger } from '../../pipeline/logger.js';
import { appPool, superuserClient } from '../../pipeline/postgres/clients.js';
import { groupLag, messageCount } from '../../pipeline/kafka/lag.js';
import { PROJECTIONS } from '../../projections/registry.js';
import { seedShop } from '../../pipeline/shop/load-generator.js';
import { verifyProjection } from '../../pipeline/verify/verify.js';
import type { VerifyReport } from '../../pipeline/verify/compare.js';
import { runWorker, type RunningWorker, type WorkerTarget } from '../../pipeline/worker/run-worker.js';
import { dropSlotWhenInactive } from '../../pipeline/postgres/slots.js';
import { CAPTURED_TABLES, dropShop, migrateShop, ROW_TABLES } from '../../pipeline/shop/migrate.js';
import { EVENT_AGGREGATES, eventTopic } from '../../schemas/events/registry.js';
import { connectMongo } from '../../pipeline/store/mongo.js';

export function randomName(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/**
 * A private copy of the shop for one test file: its own schema, publication, replication slot,
 * connector, topics (prefix), consumer group and store database, all randomly named, so test files
 * run side by side without seeing each other. Built from the repository's connector file, so the
 * config under test is the one that ships.
 */
export class ShopEnv {
  readonly name = randomName();
  readonly schema = this.name;
  readonly topicPrefix = this.name;
  readonly publication = `${this.name}_pub`;
  readonly slot = `${this.name}_slot`;
  readonly connectorName = `${this.name}-source`;
  readonly groupId = `${this.name}-group`;
  readonly mongoDatabase = this.name;
  readonly settings: Settings = loadSettings();

  /** `mongoUrl`: run this environment's projections on another store than the stack's. */
  constructor(readonly mongoUrl: string = loadSettings().mongoUrl) {}
  readonly log: Logger = createLogger(this.name, process.env['LOG_LEVEL'] ?? 'warn');
  readonly connect = new ConnectClient(this.settings.connectUrl);
  pool!: pg.Pool;
  mongo!: MongoClient;
  private readonly workers: RunningWorker[] = [];
  private readonly groups = new Set<string>([this.groupId]);
  private readonly databases = new Set<string>([this.mongoDatabase]);
  readonly kafka = createKafka(this.settings.kafkaBrokers, this.name, this.log);

  /** A projector worker on this environment; stopped by dispose() if the test does not. */
  async startWorker(overrides: Partial<WorkerTarget> = {}): Promise<RunningWorker> {
    const target = { topicPrefix: this.topicPrefix, schema: this.schema, groupId: this.groupId, mongoDatabase: this.mongoDatabase, mongoUrl: this.mongoUrl, metricsPort: 0, ...overrides };
    this.groups.add(target.groupId);
    this.databases.add(target.mongoDatabase);
    const worker = await runWorker(target, this.log);
    let stopped = false;
    const handle: RunningWorker = {
      metricsUrl: worker.metricsUrl,
      storeTimings: () => worker.storeTimings(),
      endExclusive: () => worker.endExclusive(),
      stop: async () => {
        if (!stopped) await worker.stop();
        stopped = true;
      },
    };
    this.workers.push(handle);
    return handle;
  }

  /** The topics of these tables, and (by default) the outbox's event topics. */
  topics(tables: readonly string[] = ROW_TABLES, events = tables === ROW_TABLES): string[] {
    return [...tables.map((t) => this.topic(t)), ...(events ? EVENT_AGGREGATES.map((a) => eventTopic(this.topicPrefix, a)) : [])];
  }

  /** Waits until Debezium has written at least `records` records to a table's topic. */
  async published(table: string, records: number): Promise<void> {
    await eventually(() => messageCount(this.kafka, [this.topic(table)]), (n) => n >= records);
  }

  /**
   * Waits until the group has consumed everything now in the given topics. Only what Debezium has
   * already published: right after writing rows, wait for them first (`published`, `converged`).
   */
  async drained(groupId = this.groupId, tables: readonly string[] = ROW_TABLES, timeoutMs = 60_000): Promise<void> {
    await eventually(() => groupLag(this.kafka, groupId, this.topics(tables)), (lag) => lag === 0, timeoutMs);
  }

  /** Verifies every projection until both agree with Postgres (Debezium and the workers catch up). */
  async converged(timeoutMs = 90_000, database = this.mongoDatabase): Promise<VerifyReport[]> {
    const admin = superuserClient(this.settings);
    await admin.connect();
    try {
      const db = this.mongo.db(database);
      const verifyAll = async () => Promise.all(PROJECTIONS.map((p) => verifyProjection(admin, this.schema, db, p)));
      const clean = (reports: VerifyReport[]) => reports.every((r) => r.missing + r.unexpected + r.different === 0);
      return await eventually(verifyAll, clean, timeoutMs);
    } finally {
      await admin.end();
    }
  }

  get db(): Db {
    return this.mongo.db(this.mongoDatabase);
  }

  topic(table: string): string {
    return cdcTopic(this.topicPrefix, this.schema, table);
  }

  /** The shipped connector file, pointed at this environment's schema, slot, publication, topics. */
  connectorFile(overrides: Record<string, string> = {}): ConnectorFile {
    return connectorForSchema({
      name: this.connectorName,
      schema: this.schema,
      topicPrefix: this.topicPrefix,
      slot: this.slot,
      publication: this.publication,
      tables: CAPTURED_TABLES,
      overrides: { 'topic.creation.default.partitions': '3', 'heartbeat.interval.ms': '1000', ...overrides },
    });
  }

  /** `holdBack`: migrations a test applies later, while the pipeline runs. */
  async createSchema(seed = { customers: 5, products: 5 }, holdBack: readonly string[] = []): Promise<void> {
    await this.migrate(holdBack);
    this.pool = appPool(this.settings, 4);
    const client = await this.pool.connect();
    await seedShop(client, this.schema, seed).finally(() => client.release());
    this.mongo = await connectMongo(this.mongoUrl);
  }

  async migrate(holdBack: readonly string[] = []): Promise<string[]> {
    const admin = superuserClient(this.settings);
    await admin.connect();
    try {
      return await migrateShop(admin, { schema: this.schema, publication: this.publication, appUser: this.settings.pg.appUser, debeziumUser: this.settings.pg.debeziumUser, holdBack });
    } finally {
      await admin.end();
    }
  }

  async startConnector(overrides: Record<string, string> = {}): Promise<void> {
    await applyConnectorWithTopics(this.connectorFile(overrides), this.log);
  }

  async sql<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
    return (await this.pool.query<R>(text.replaceAll('$schema', `"${this.schema}"`), params)).rows;
  }

  /** Removes everything the environment created, including the replication slot (which pins WAL). */
  async dispose(): Promise<void> {
    for (const w of this.workers) await w.stop().catch(() => undefined);
    await this.connect.delete(this.connectorName).catch(() => undefined);
    const admin = superuserClient(this.settings);
    await admin.connect();
    try {
      await dropSlotWhenInactive(admin, this.slot);
      await dropShop(admin, this.schema, this.publication);
    } finally {
      await admin.end();
    }
    const kafkaAdmin = this.kafka.admin();
    await kafkaAdmin.connect();
    const topics = (await kafkaAdmin.listTopics()).filter((t) => t.startsWith(`${this.topicPrefix}.`) || t.endsWith(`.${this.topicPrefix}`));
    if (topics.length > 0) await kafkaAdmin.deleteTopics({ topics }).catch(() => undefined);
    // Rebuilds name their groups after the live one (`<group>.replay.g<N>...`).
    const replays = (await kafkaAdmin.listGroups().catch(() => ({ groups: [] }))).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${this.groupId}.`));
    await kafkaAdmin.deleteGroups([...this.groups, ...replays]).catch(() => undefined);
    await kafkaAdmin.disconnect();
    for (const database of this.databases) await this.mongo?.db(database).dropDatabase().catch(() => undefined);
    await this.mongo?.close();
    await this.pool?.end();
  }
}

/** Polls until `probe` returns a value that passes `done`, or fails with the last value seen. */
export async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await sleep(200);
    last = await probe();
  }
  return last;
}
