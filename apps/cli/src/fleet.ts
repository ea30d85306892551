import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startHttpApi } from '@meterline/api';
import { ClickHouseSink, usageEventsStream } from '@meterline/clickhouse-sink';
import { UsageEventsTable, migrate, openClickHouse } from '@meterline/clickhouse';
import { createKafka, ensureTopics, rawPathTopics } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { Lifecycle, type FleetConfig, type Logger } from '@meterline/platform';
import { freePort, startKafka, startRedis } from '@meterline/testing';
import { startSampleTraffic } from './sample-traffic';

export interface FleetOptions {
  /** Sample events per second (0: none). */
  trafficRate: number;
  /** Start a local Kafka broker and Redis server (unless KAFKA_BROKERS / REDIS_URL are given). */
  localInfra: boolean;
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
      const redis = await startRedis();
      lifecycle.onStop('redis', () => redis.stop());
      log.info({ url: redis.url, pid: redis.pid }, 'redis started');
    }

    const kafka = createKafka({ brokers, clientId: config.kafka.clientId }, log);
    await ensureTopics(kafka, rawPathTopics(config.topics), log);

    const clickhouse = openClickHouse(config.clickhouse);
    lifecycle.onStop('clickhouse', () => clickhouse.close());
    await migrate(clickhouse, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
    const usage = new UsageEventsTable(clickhouse);
    log.info({ embedded: clickhouse.embedded, database: clickhouse.database, path: clickhouse.embedded ? resolve(config.clickhouse.chdbPath) : config.clickhouse.url }, 'clickhouse ready');

    const sink = new ClickHouseSink(kafka, usageEventsStream(usage, config.events), { groupId: config.sink.groupId, topic: config.topics.usageEvents, dlqTopic: config.topics.usageEventsDlq, flushRows: config.sink.flushRows, flushMs: config.sink.flushMs }, log);
    await sink.start();
    lifecycle.onStop('clickhouse-sink', () => sink.stop());

    const meter = createMeter({ kafka, topic: config.topics.usageEvents, spoolDir: config.producer.spoolDir, apiKeyPepper: config.producer.apiKeyPepper, limits: config.events, log });
    lifecycle.onStop('meter', () => meter.close());

    const api = await startHttpApi({ usage, meter, log, health: () => ({ sink: sink.stats(), meter: meter.stats() }) }, config.http.host, config.http.port);
    lifecycle.onStop('http-api', () => api.close());

    if (options.trafficRate > 0) {
      const traffic = startSampleTraffic(meter, options.trafficRate, log);
      lifecycle.onStop('sample-traffic', () => traffic.stop());
    }
    log.info(
      { api: api.url, try: [`npx meterline usage --tenant acme`, `curl ${api.url}/v1/usage/acme`, `curl ${api.url}/healthz`] },
      `meterline is running: live totals at ${api.url}/v1/usage (or: npx meterline usage --tenant acme). Ctrl-C drains and stops everything.`,
    );
    return lifecycle;
  } catch (error) {
    await lifecycle.stop();
    throw error;
  }
}
