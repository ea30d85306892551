import type { Kafka } from 'kafkajs';

/**
 * Messages of `topic` a consumer group has not committed yet (0: it has committed everything).
 * Used by tests, benchmarks and the invoice period close to know a consumer caught up.
 */
export async function consumerGroupLag(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    let lag = 0;
    for (const end of ends) {
      const done = Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1');
      lag += Number(end.offset) - Math.max(0, done);
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}
