import { ConnectClient } from '../../connectors/connect-client.js';
import type { Settings } from '../config.js';

/**
 * The MongoDB Kafka sink connector 2.0.1 as the benchmark's peer: its Debezium Postgres CDC
 * handler, reading the same topic, writing the same store (another database), in the same Connect
 * worker, one task, polling as many records at a time as our worker's chunk.
 */
export function sinkConnectorConfig(settings: Settings, opts: { topic: string; database: string; collection: string; maxPollRecords: number }): Record<string, string> {
  return {
    'connector.class': 'com.mongodb.kafka.connect.MongoSinkConnector',
    'tasks.max': '1',
    topics: opts.topic,
    'connection.uri': settings.mongoUrl,
    database: opts.database,
    collection: opts.collection,
    'change.data.capture.handler': 'com.mongodb.kafka.connect.sink.cdc.debezium.rdbms.postgres.PostgresHandler',
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': 'false',
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.schemas.enable': 'false',
    'consumer.override.max.poll.records': String(opts.maxPollRecords),
    'consumer.override.auto.offset.reset': 'earliest',
    // Keep going past records the store rejects (they are logged); the output comparison counts them.
    'errors.tolerance': 'all',
    'errors.log.enable': 'true',
  };
}

/** The first line of a failed task's trace, if the sink's task has failed. */
export async function sinkFailure(settings: Settings, name: string): Promise<string | undefined> {
  const status = await new ConnectClient(settings.connectUrl).status(name).catch(() => undefined);
  const failed = status?.tasks.find((t) => t.state === 'FAILED');
  return failed === undefined ? undefined : (failed.trace ?? 'FAILED').split('\n').find((l) => l.includes('Caused by')) ?? 'task FAILED';
}

/** Connect names a sink connector's consumer group after it. */
export function sinkGroup(name: string): string {
  return `connect-${name}`;
}

export async function startSink(settings: Settings, name: string, config: Record<string, string>): Promise<void> {
  const client = new ConnectClient(settings.connectUrl);
  await client.putConfig(name, config);
  await client.waitRunning(name, 60_000);
}

export async function deleteSink(settings: Settings, name: string): Promise<void> {
  await new ConnectClient(settings.connectUrl).delete(name).catch(() => undefined);
}
