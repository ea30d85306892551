import type { Admin, Kafka } from 'kafkajs';
import { Redis } from 'ioredis';
import { migrate, openClickHouse, type ClickHouseHandle } from '@meterline/clickhouse';
import { createKafka, ensureTopics, type TopicSpec } from '@meterline/kafka';
import { Health, Lifecycle, type FleetConfig, type Logger } from '@meterline/platform';
import { PriceBookStore } from '@meterline/pricing';
import { withScripts, type ScriptedRedis } from '@meterline/redis';

/**
 * What the apps of one process share: configuration, logger, lifecycle, readiness checks, and
 * one client per dependency (one Kafka client, one Redis connection, one ClickHouse handle:
 * the embedded engine can be opened once per process). A client is created on first use and
 * registers its stop and its readiness check then, so it is stopped after every component
 * that asked for it (the lifecycle stops in reverse order).
 */
export class ProcessContext {
  readonly lifecycle: Lifecycle;
  readonly health = new Health();
  #kafka: Kafka | undefined;
  #admin: Admin | undefined;
  #redis: ScriptedRedis | undefined;
  #clickhouse: Promise<ClickHouseHandle> | undefined;
  #prices: PriceBookStore | undefined;
  readonly #topics = new Set<string>();

  constructor(readonly config: FleetConfig, readonly log: Logger, lifecycle?: Lifecycle) {
    this.lifecycle = lifecycle ?? new Lifecycle(log);
  }

  kafka(): Kafka {
    if (this.#kafka) return this.#kafka;
    const kafka = createKafka(this.config.kafka, this.log);
    this.#kafka = kafka;
    this.health.add('kafka', async () => {
      this.#admin ??= kafka.admin();
      await this.#admin.connect();
      const cluster = await this.#admin.describeCluster();
      if (cluster.brokers.length === 0) throw new Error('no brokers in the cluster metadata');
    });
    this.lifecycle.onStop('kafka-admin', async () => {
      await this.#admin?.disconnect();
    });
    return kafka;
  }

  /** Creates or grows the topics (once per name and process). */
  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    const missing = specs.filter((spec) => !this.#topics.has(spec.topic));
    if (missing.length === 0) return;
    await ensureTopics(this.kafka(), missing, this.log);
    for (const spec of missing) this.#topics.add(spec.topic);
  }

  redis(): ScriptedRedis {
    if (this.#redis) return this.#redis;
    const connection = new Redis(this.config.redis.url);
    const redis = withScripts(connection);
    this.#redis = redis;
    redis.on('error', (error: Error) => this.log.debug({ err: error.message }, 'redis connection error (ioredis reconnects)'));
    this.health.add('redis', async () => {
      if (connection.status !== 'ready') throw new Error(`connection ${connection.status}`);
      await redis.ping();
    });
    this.lifecycle.onStop('redis-client', async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
    return redis;
  }

  /** The ClickHouse handle, migrations applied (once per process). */
  clickhouse(): Promise<ClickHouseHandle> {
    this.#clickhouse ??= this.#openClickHouse();
    return this.#clickhouse;
  }

  async #openClickHouse(): Promise<ClickHouseHandle> {
    const handle = openClickHouse(this.config.clickhouse);
    this.lifecycle.onStop('clickhouse-client', () => handle.close());
    this.health.add('clickhouse', async () => {
      const result = await handle.client.query({ query: 'SELECT 1 AS ok', format: 'JSONEachRow' });
      await result.json();
    });
    await migrate(handle, this.log, { rawTtlMonths: this.config.clickhouse.rawTtlMonths });
    this.log.debug({ embedded: handle.embedded, database: handle.database }, 'clickhouse ready');
    return handle;
  }

  /** Price books from METERLINE_PRICING_DIR, reloaded when the files change. */
  prices(): PriceBookStore {
    if (this.#prices) return this.#prices;
    const prices = new PriceBookStore(this.config.pricing.dir, this.log).watch();
    this.#prices = prices;
    this.lifecycle.onStop('price-books', () => Promise.resolve(prices.close()));
    return prices;
  }
}
