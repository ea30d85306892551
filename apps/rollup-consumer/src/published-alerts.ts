import type { Kafka } from 'kafkajs';
import { headerText } from '@meterline/kafka';

/**
 * Alert ids already on the alerts topic since `sinceMs`. Only used after an interrupted
 * publish (rare), so reading the low-volume alerts topic from that time is affordable.
 */
export async function findPublishedAlertIds(kafka: Kafka, topic: string, sinceMs: number): Promise<Set<string>> {
  const admin = kafka.admin();
  await admin.connect();
  let starts: { partition: number; offset: string }[];
  let ends: { partition: number; offset: string }[];
  try {
    starts = await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const remaining = new Map<number, bigint>();
  for (const end of ends) {
    const start = BigInt(starts.find((s) => s.partition === end.partition)?.offset ?? end.offset);
    const startOffset = start < 0n ? BigInt(end.offset) : start;
    if (BigInt(end.offset) > startOffset) remaining.set(end.partition, BigInt(end.offset));
  }
  const ids = new Set<string>();
  if (remaining.size === 0) return ids;
  const consumer = kafka.consumer({ groupId: `meterline-alert-scan-${process.pid}-${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`scanning ${topic} for published alerts timed out`)), 60_000);
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const start of starts) if (remaining.has(start.partition)) consumer.seek({ topic, partition: start.partition, offset: start.offset });
      });
      void consumer.run({
        eachMessage: ({ partition, message }) => {
          const id = headerText(message, 'meterline-alert-id');
          if (id !== undefined) ids.add(id);
          const end = remaining.get(partition);
          if (end !== undefined && BigInt(message.offset) + 1n >= end) remaining.delete(partition);
          if (remaining.size === 0) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return ids;
}
