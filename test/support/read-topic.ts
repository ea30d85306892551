import type { Kafka, KafkaMessage } from 'kafkajs';
import { uniqueName } from '@meterline/testing';

/** Reads `expected` messages of `topic` from the beginning with a fresh group (fails after 60 s). */
export async function readMessages(kafka: Kafka, topic: string, expected: number): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const messages: KafkaMessage[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${messages.length} of ${expected} messages of ${topic}`)), 60_000);
      void consumer.run({
        eachMessage: ({ message }) => {
          messages.push(message);
          if (messages.length >= expected) {
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

/** Every message on `topic` now (all partitions, from the beginning). */
export async function readTopic(kafka: Kafka, topic: string): Promise<KafkaMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const expected = ends.reduce((n, e) => n + Number(e.offset), 0);
  return expected === 0 ? [] : readMessages(kafka, topic, expected);
}
