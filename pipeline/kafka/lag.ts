import type { Kafka } from 'kafkajs';

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
