import type { Admin, Kafka, ITopicConfig } from 'kafkajs';
import { retry, type Logger } from '@meterline/platform';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  /** Extra topic configs, e.g. cleanup.policy=compact. */
  configs?: Record<string, string>;
}

/** The topics of the raw path, from configuration. */
export function rawPathTopics(topics: { usageEvents: string; usageEventsDlq: string; usageEventsPartitions: number }): TopicSpec[] {
  return [
    { topic: topics.usageEvents, numPartitions: topics.usageEventsPartitions },
    // The DLQ is read by people and replay tools, not at volume.
    { topic: topics.usageEventsDlq, numPartitions: 1, configs: { 'retention.ms': String(30 * 86_400_000) } },
  ];
}

/**
 * Waits until every partition of the topics answers an offsets request. A leader is elected
 * before createTopics returns, but the broker may refuse requests for a moment after
 * ("not the leader for that topic-partition"), which would fail the start of this worker or
 * of one that starts beside it, as another process creates the topics.
 */
async function untilServed(admin: Admin, topics: readonly string[]): Promise<void> {
  for (const topic of topics) {
    // KafkaJS wraps the broker's answer in a non-retriable "retries exceeded" error after its
    // own few retries: every error is retried here, a bounded number of times.
    await retry(() => admin.fetchTopicOffsets(topic), { maxAttempts: 30, retriable: () => true, policy: { initialMs: 100, maxMs: 1_000, multiplier: 2 } });
  }
}

/**
 * Creates missing topics and grows partition counts that are too small; never shrinks or
 * deletes. Safe to run on every start.
 */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[], log: Logger): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing: ITopicConfig[] = specs
      .filter((spec) => !existing.has(spec.topic))
      .map((spec) => ({
        topic: spec.topic,
        numPartitions: spec.numPartitions,
        replicationFactor: -1,
        configEntries: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
      }));
    if (missing.length > 0) {
      // Another process creating the same topics at the same moment makes KafkaJS's wait for
      // leaders fail with a retriable "does not host this topic-partition": try again.
      await retry(() => admin.createTopics({ topics: missing, waitForLeaders: true }), { maxAttempts: 10, policy: { initialMs: 100, maxMs: 1_000, multiplier: 2 } });
      log.info({ topics: missing.map((t) => `${t.topic}(${t.numPartitions})`) }, 'created topics');
    }
    await untilServed(admin, specs.map((spec) => spec.topic));
    const present = specs.filter((spec) => existing.has(spec.topic));
    if (present.length === 0) return;
    const metadata = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
    const grow = present.flatMap((spec) => {
      const current = metadata.topics.find((t) => t.name === spec.topic)?.partitions.length ?? 0;
      return current < spec.numPartitions ? [{ topic: spec.topic, count: spec.numPartitions, from: current }] : [];
    });
    if (grow.length > 0) {
      await admin.createPartitions({ topicPartitions: grow.map(({ topic, count }) => ({ topic, count })) });
      log.warn({ grow }, 'grew topic partitions (keys move to new partitions from now on)');
    }
  } finally {
    await admin.disconnect();
  }
}
