import { rawPathTopics, streamTopics } from '@meterline/kafka';
import { QuotaBook } from '@meterline/quotas';
import type { App } from '@meterline/runtime';
import { rollupConsumerFromConfig } from './wire';

/**
 * `usage-events` -> hourly rollups, quota counters and alerts in Redis, exactly once;
 * publishes `usage-rollups` and `quota-alerts`. ClickHouse is read only to rebuild the Redis
 * state after a loss.
 */
export const rollupConsumerApp: App = {
  name: 'rollup-consumer',
  healthPort: 8789,
  async start(context) {
    const { config, log, lifecycle, health } = context;
    const kafka = context.kafka();
    await context.ensureTopics([...rawPathTopics(config.topics), ...streamTopics(config.topics)]);
    const redis = context.redis();
    const clickhouse = await context.clickhouse();
    const prices = context.prices();

    const quotas = new QuotaBook(kafka, config.topics.quotaDefinitions, redis, log);
    await quotas.start();
    lifecycle.onStop('quota-book', () => quotas.stop());

    const consumer = rollupConsumerFromConfig({ kafka, redis, quotas, prices, clickhouse, config, log });
    await consumer.start();
    lifecycle.onStop('rollup-consumer', () => consumer.stop());
    health.add('rollup-consumer', () => consumer.assertReady());
  },
};
