// rollup-consumer as its own process: parse config once, build adapters, run, drain on SIGTERM.
import { Redis } from 'ioredis';
import { migrate, openClickHouse } from '@meterline/clickhouse';
import { createKafka, ensureTopics, rawPathTopics, streamTopics } from '@meterline/kafka';
import { Lifecycle, createLogger, fleetConfigSchema, loadConfigOrExit } from '@meterline/platform';
import { PriceBookStore } from '@meterline/pricing';
import { QuotaBook } from '@meterline/quotas';
import { withScripts } from '@meterline/redis';
import { rollupConsumerFromConfig } from './wire';

const config = loadConfigOrExit(fleetConfigSchema);
const log = createLogger({ ...config.log, name: 'rollup-consumer' });
const lifecycle = new Lifecycle(log);
lifecycle.stopOnSignals();

const kafka = createKafka(config.kafka, log);
await ensureTopics(kafka, [...rawPathTopics(config.topics), ...streamTopics(config.topics)], log);
const redis = withScripts(new Redis(config.redis.url));
  redis.on('error', (error: Error) => log.warn({ err: error.message }, 'redis connection error (ioredis reconnects)'));
lifecycle.onStop('redis', async () => {
  await redis.quit();
});
// ClickHouse is read only to rebuild the Redis state after a loss.
const clickhouse = openClickHouse(config.clickhouse);
lifecycle.onStop('clickhouse', () => clickhouse.close());
await migrate(clickhouse, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });

const quotas = new QuotaBook(kafka, config.topics.quotaDefinitions, redis, log);
await quotas.start();
lifecycle.onStop('quota-book', () => quotas.stop());

const prices = new PriceBookStore(config.pricing.dir, log).watch();
lifecycle.onStop('price-books', () => Promise.resolve(prices.close()));

const consumer = rollupConsumerFromConfig({ kafka, redis, quotas, prices, clickhouse, config, log });
await consumer.start();
lifecycle.onStop('rollup-consumer', () => consumer.stop());
