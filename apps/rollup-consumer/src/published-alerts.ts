import type { Kafka, KafkaMessage } from 'kafkajs';
import { quotaAlertCodec, type QuotaAlertRecord } from '@meterline/contract';
import { headerText } from '@meterline/kafka';

/**
 * Alert ids already on the alerts topic since `sinceMs`. Only used after an interrupted
 * publish (rare), so reading the low-volume alerts topic from that time is affordable.
 */
export async function findPublishedAlertIds(kafka: Kafka, topic: string, sinceMs: number): Promise<Set<string>> {
  return new Set((await readAlertMessagesSince(kafka, topic, sinceMs)).flatMap((m) => {
    const id = headerText(m, 'meterline-alert-id');
    return id === undefined ? [] : [id];
  }));
}

/** Alerts published on `topic` since `sinceMs`, decoded. */
export async function readAlertsSince(kafka: Kafka, topic: string, sinceMs: number): Promise<QuotaAlertRecord[]> {
  const codec = quotaAlertCodec();
  return (await readAlertMessagesSince(kafka, topic, sinceMs)).flatMap((m) => (m.value === null ? [] : [codec.decode(m.value)]));
}

async function readAlertMessagesSince(kafka: Kafka, topic: string, sinceMs: number): Promise<KafkaMessage[]> {
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
  const messages: KafkaMessage[] = [];
  if (remaining.size === 0) return messages;
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
          messages.push(message);
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
  return messages;
}
