import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from '../../pipeline/config.js';
import type { KafkaMessage } from '../../pipeline/kafka/client.js';

const FixtureSchema = z.object({
  topic: z.string(),
  partition: z.number(),
  offset: z.number(),
  key: z.unknown(),
  value: z.unknown(),
});
export type Fixture = z.infer<typeof FixtureSchema>;

/** A Debezium event captured from the real stack (test/fixtures/debezium/README.md). */
export function loadFixture(name: string): Fixture {
  return FixtureSchema.parse(JSON.parse(readFileSync(join(PROJECT_ROOT, 'test', 'fixtures', 'debezium', `${name}.json`), 'utf8')));
}

/** The fixture as kafkajs hands it to eachBatch: key and value as the bytes on the wire. */
export function asMessage(fixture: Fixture, overrides: Partial<{ key: Buffer | null; value: Buffer | null }> = {}): KafkaMessage {
  const message: KafkaMessage = {
    key: Buffer.from(JSON.stringify(fixture.key)),
    value: fixture.value === null ? null : Buffer.from(JSON.stringify(fixture.value)),
    offset: String(fixture.offset),
    timestamp: '0',
    attributes: 0,
    headers: {},
  };
  return { ...message, ...overrides };
}
