import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startHttpApi } from '@meterline/api';
import { ClickHouseSink, usageEventsStream, usageRollupsStream } from '@meterline/clickhouse-sink';
import { UsageEventsTable, UsageRollupsTable, migrate, openClickHouse, reconcileUsage } from '@meterline/clickhouse';
import { createKafka, ensureTopics, rawPathTopics, streamTopics } from '@meterline/kafka';
import { QuotaBook, QuotaChecker } from '@meterline/quotas';
import { withScripts } from '@meterline/redis';
import { rollupConsumerFromConfig } from '@meterline/rollup-consumer';
import { createMeter } from '@meterline/producer';
import { Lifecycle, type FleetConfig, type Logger } from '@meterline/platform';
import { PriceBookStore } from '@meterline/pricing';
import { freePort, startKafka, startRedis } from '@meterline/testing';
import { startSampleTraffic } from './sample-traffic';

export interface FleetOptions {
  /** Sample events per second (0: none). */
  trafficRate: number;
  /** Start a local Kafka broker (unless KAFKA_BROKERS is given). */
  localInfra: boolean;
  /** Start a local Redis server (unless REDIS_URL is given). */
  localRedis: boolean;
  dataDir: string;
}

/**
 * Every app in one process, for development and small installs: local Kafka and Redis (unless
 * configured), the embedded ClickHouse (one data directory, so one process), the sink, the
 * HTTP API and sample traffic through the shim. Stops in reverse order on SIGINT/SIGTERM.
 */
export async function runFleet(config: FleetConfig, options: FleetOptions, log: Logger): Promise<Lifecycle> {
  const lifecycle = new Lifecycle(log);
  lifecycle.stopOnSignals(() => {
    log.info('fleet stopped');
    process.exit(0);
  });
  try {
    const dataDir = resolve(options.dataDir);
    mkdirSync(dataDir, { recursive: true });
    let brokers = config.kafka.brokers;
    let redisUrl = config.redis.url;
    if (options.localInfra) {
      // Ports are remembered so a restart reopens the same broker data (unread events survive).
      const portsFile = join(dataDir, 'kafka-ports.json');
      const remembered = existsSync(portsFile) ? (JSON.parse(readFileSync(portsFile, 'utf8')) as { port: number; controllerPort: number }) : { port: await freePort(), controllerPort: await freePort() };
      writeFileSync(portsFile, JSON.stringify(remembered));
      log.info('starting Kafka (first run fetches the broker jars with Maven)');
      const broker = await startKafka({ dataDir: join(dataDir, 'kafka'), port: remembered.port, controllerPort: remembered.controllerPort });
      lifecycle.onStop('kafka', () => broker.stop());
      brokers = broker.brokers;
      log.info({ brokers, pid: broker.pid }, 'kafka started');
    }
    if (options.localRedis) {
      const redisServer = await startRedis();
      lifecycle.onStop('redis', () => redisServer.stop());
      redisUrl = redisServer.url;
      log.info({ url: redisServer.url, pid: redisServer.pid }, 'redis started');
    }

    const kafka = createKafka({ brokers, clientId: config.kafka.clientId }, log);
    await ensureTopics(kafka, [...rawPathTopics(config.topics), ...streamTopics(config.topics)], log);
    const redis = withScripts(new Redis(redisUrl));
    redis.on('error', (error: Error) => log.warn({ err: error.message }, 'redis connection error (ioredis reconnects)'));
    lifecycle.onStop('redis-client', async () => {
      await redis.quit();
    });

    const clickhouse = openClickHouse(config.clickhouse);
    lifecycle.onStop('clickhouse', () => clickhouse.close());
    await migrate(clickhouse, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
    const usage = new UsageEventsTable(clickhouse);
    log.info({ embedded: clickhouse.embedded, database: clickhouse.database, path: clickhouse.embedded ? resolve(config.clickhouse.chdbPath) : config.clickhouse.url }, 'clickhouse ready');

    const sink = new ClickHouseSink(kafka, usageEventsStream(usage, config.events), { groupId: config.sink.groupId, topic: config.topics.usageEvents, dlqTopic: config.topics.usageEventsDlq, flushRows: config.sink.flushRows, flushMs: config.sink.flushMs }, log);
    await sink.start();
    lifecycle.onStop('clickhouse-sink', () => sink.stop());

    const rollups = new UsageRollupsTable(clickhouse);
    const rollupSink = new ClickHouseSink(kafka, usageRollupsStream(rollups), { groupId: config.rollups.sinkGroupId, topic: config.topics.usageRollups, dlqTopic: `${config.topics.usageRollups}.dlq`, flushRows: config.sink.flushRows, flushMs: config.sink.flushMs }, log);
    await rollupSink.start();
    lifecycle.onStop('clickhouse-sink-rollups', () => rollupSink.stop());

    const quotas = new QuotaBook(kafka, config.topics.quotaDefinitions, redis, log);
    await quotas.start();
    lifecycle.onStop('quota-book', () => quotas.stop());
    const prices = new PriceBookStore(config.pricing.dir, log).watch();
    lifecycle.onStop('price-books', () => Promise.resolve(prices.close()));
    const rollupConsumer = rollupConsumerFromConfig({ kafka, redis, quotas, prices, clickhouse, config, log });
    await rollupConsumer.start();
    lifecycle.onStop('rollup-consumer', () => rollupConsumer.stop());

    const meter = createMeter({ kafka, topic: config.topics.usageEvents, spoolDir: config.producer.spoolDir, apiKeyPepper: config.producer.apiKeyPepper, limits: config.events, log });
    lifecycle.onStop('meter', () => meter.close());

    const api = await startHttpApi(
      {
        usage,
        meter,
        log,
        quotas: new QuotaChecker(redis),
        reconcile: (tenant, from, to) => reconcileUsage(clickhouse, tenant, from, to),
        health: () => ({ sink: sink.stats(), rollupSink: rollupSink.stats(), rollups: rollupConsumer.stats(), meter: meter.stats() }),
      },
      config.http.host,
      config.http.port,
    );
    lifecycle.onStop('http-api', () => api.close());

    if (options.trafficRate > 0) {
      const traffic = startSampleTraffic(meter, options.trafficRate, log);
      lifecycle.onStop('sample-traffic', () => traffic.stop());
    }
    log.info(
      { api: api.url, try: [`npx meterline usage --tenant acme`, `curl ${api.url}/v1/usage/acme`, `npx meterline quota set --tenant acme --limit 10000000 --period month`, `curl ${api.url}/v1/quotas/acme/check`, `curl ${api.url}/healthz`] },
      `meterline is running: live totals at ${api.url}/v1/usage (or: npx meterline usage --tenant acme). Ctrl-C drains and stops everything.`,
    );
    return lifecycle;
  } catch (error) {
    await lifecycle.stop();
    throw error;
  }
}
