import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KeyStore } from '@meterline/access';
import { apiApp } from '@meterline/api';
import { accessTopics } from '@meterline/kafka';
import { clickhouseSinkApp } from '@meterline/clickhouse-sink';
import { invoiceSchedulerApp } from '@meterline/invoice-scheduler';
import { rollupConsumerApp } from '@meterline/rollup-consumer';
import { freePort, spawnManaged, startClickHouseHttpServer, startKafka, startRedis, startSampleTraffic } from '@meterline/local';
import { createMeter } from '@meterline/producer';
import { Lifecycle, type FleetConfig, type Logger } from '@meterline/platform';
import { ProcessContext, type App } from '@meterline/runtime';

/** Every app of the fleet, in start order (stopped in reverse: the API drains first, the sinks last). */
export const fleetApps: readonly App[] = [clickhouseSinkApp, rollupConsumerApp, invoiceSchedulerApp, apiApp];

/** The local fleet's admin key file, in its data directory. */
export const ADMIN_KEY_FILE = 'admin-key';

export interface FleetOptions {
  /** Sample events per second (0: none). */
  trafficRate: number;
  /** Start a local Kafka broker (unless KAFKA_BROKERS is given). */
  localKafka: boolean;
  /** Start a local Redis server (unless REDIS_URL is given). */
  localRedis: boolean;
  /** Serve the embedded ClickHouse over HTTP on this port for outside tools (0: not). */
  clickhouseHttpPort: number;
  /** Each app as its own child process (`meterline <app>`), sharing ClickHouse over HTTP. */
  processes: boolean;
  dataDir: string;
}

/**
 * Every app in one process, for development and small installs: local Kafka and Redis (unless
 * configured), the embedded ClickHouse (one data directory, so one process; also served over
 * HTTP for outside tools), the apps' own wiring on one shared ProcessContext, and sample
 * traffic through the shim. SIGINT/SIGTERM drain the apps, then stop Redis and Kafka.
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
    const local = await startLocalInfrastructure(config, options, dataDir, lifecycle, log);
    const context = new ProcessContext(local, log, lifecycle);
    await ensureLocalAdminKey(context, dataDir);
    let clickhouseUrl: string | undefined;
    if (options.processes) {
      clickhouseUrl = local.clickhouse.url ?? (await serveEmbeddedClickHouse(context, { ...options, clickhouseHttpPort: options.clickhouseHttpPort || 8123 }, log));
      await startAppProcesses({ ...local, clickhouse: { ...local.clickhouse, url: clickhouseUrl } }, lifecycle, log);
    } else {
      await context.health.whileStarting(async () => {
        for (const app of fleetApps) await app.start(context);
      });
      clickhouseUrl = await serveEmbeddedClickHouse(context, options, log);
    }

    if (options.trafficRate > 0) {
      // A sample service with its own shim (and spool), as a real service would have.
      const meter = createMeter({ kafka: context.kafka(), topic: local.topics.usageEvents, spoolDir: join(local.producer.spoolDir, 'sample-traffic'), limits: local.events, log });
      lifecycle.onStop('sample-meter', () => meter.close());
      const traffic = startSampleTraffic(meter, options.trafficRate, log);
      lifecycle.onStop('sample-traffic', () => traffic.stop());
    }
    const api = `http://${local.http.host}:${local.http.port}`;
    log.info(
      { api, clickhouse: clickhouseUrl, try: ['npx meterline usage --tenant acme', `curl ${api}/v1/usage/acme`, 'npx meterline quota set --tenant acme --limit 10000000 --period month', `curl ${api}/readyz`] },
      `meterline is running: live totals at ${api}/v1/usage (or: npx meterline usage --tenant acme). Ctrl-C drains and stops everything.`,
    );
    return lifecycle;
  } catch (error) {
    await lifecycle.stop();
    throw error;
  }
}

/**
 * Every API route needs a key: a local fleet gets an admin key at its first start, its token in
 * `<data dir>/admin-key` (mode 600), which the CLI reads when METERLINE_API_KEY is unset.
 */
async function ensureLocalAdminKey(context: ProcessContext, dataDir: string): Promise<void> {
  const file = join(dataDir, ADMIN_KEY_FILE);
  if (existsSync(file)) return;
  const { config, log } = context;
  await context.ensureTopics(accessTopics(config.topics));
  const store = new KeyStore(context.kafka(), config.topics.apiKeys, config.access.pepper, log);
  try {
    const { token, record } = await store.create({ name: 'local admin (meterline start)', scopes: ['admin'] });
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    log.info({ file, key: record.id }, 'created an admin API key for this local fleet: its token is in the file');
  } finally {
    await store.close();
  }
}

/**
 * Each app as `meterline <app>` in a child process of its own process group (a terminal's
 * Ctrl-C reaches only this process, which stops the apps in reverse order, then the
 * infrastructure), its output on this terminal. A child that exits by itself stops the fleet.
 */
async function startAppProcesses(config: FleetConfig, lifecycle: Lifecycle, log: Logger): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    REDIS_URL: config.redis.url,
    CLICKHOUSE_URL: config.clickhouse.url,
    METERLINE_SPOOL_DIR: config.producer.spoolDir,
    METERLINE_INVOICE_DIR: config.invoices.dir,
  };
  for (const app of fleetApps) {
    const child = await spawnManaged(process.execPath, [...process.execArgv, process.argv[1] ?? 'apps/cli/src/main.ts', app.name], { name: app.name, env, outputFile: 'inherit' });
    let stopping = false;
    lifecycle.onStop(app.name, async () => {
      stopping = true;
      const exit = await child.stop(60_000);
      if (exit.code !== 0) log.warn({ app: app.name, ...exit }, 'app process did not exit cleanly');
    });
    void child.exited.then((exit) => {
      if (stopping) return;
      log.error({ app: app.name, ...exit }, 'app process exited: stopping the fleet');
      void lifecycle.stop().then(() => process.exit(1));
    });
    log.info({ app: app.name, pid: child.pid }, 'app process started');
  }
}

/** Starts Kafka and Redis where the configuration names none; returns the config pointing at them. */
async function startLocalInfrastructure(config: FleetConfig, options: FleetOptions, dataDir: string, lifecycle: Lifecycle, log: Logger): Promise<FleetConfig> {
  let { brokers } = config.kafka;
  let { url: redisUrl } = config.redis;
  if (options.localKafka) {
    // Ports are remembered so a restart reopens the same broker data (unread events survive).
    const portsFile = join(dataDir, 'kafka-ports.json');
    const remembered = existsSync(portsFile) ? (JSON.parse(readFileSync(portsFile, 'utf8')) as { port: number; controllerPort: number }) : { port: await freePort(), controllerPort: await freePort() };
    writeFileSync(portsFile, JSON.stringify(remembered));
    log.info('starting Kafka (the first run fetches the broker jars with Maven)');
    const broker = await startKafka({ dataDir: join(dataDir, 'kafka'), port: remembered.port, controllerPort: remembered.controllerPort });
    lifecycle.onStop('kafka', () => broker.stop());
    brokers = broker.brokers;
    log.info({ brokers, pid: broker.pid }, 'kafka started');
  }
  if (options.localRedis) {
    const redisServer = await startRedis({ dir: join(dataDir, 'redis'), persist: true });
    lifecycle.onStop('redis', () => redisServer.stop());
    redisUrl = redisServer.url;
    log.info({ url: redisServer.url, pid: redisServer.pid }, 'redis started');
  }
  return { ...config, kafka: { ...config.kafka, brokers }, redis: { url: redisUrl } };
}

/**
 * The embedded ClickHouse is held by this process; outside tools (curl, clickhouse-client
 * --protocol http, Grafana) reach it over HTTP. Another port is taken if the preferred one is
 * in use. Returns the URL, or undefined when ClickHouse is a server or the port is 0.
 */
async function serveEmbeddedClickHouse(context: ProcessContext, options: FleetOptions, log: Logger): Promise<string | undefined> {
  const { clickhouse } = context.config;
  if (clickhouse.url !== undefined || options.clickhouseHttpPort === 0) return undefined;
  await context.clickhouse(); // migrated here once, before any app process starts
  const serve = (port: number) => startClickHouseHttpServer({ chdbPath: clickhouse.chdbPath, port, log });
  const server = await serve(options.clickhouseHttpPort).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    log.info({ port: options.clickhouseHttpPort }, 'port in use: ClickHouse HTTP on another port');
    return serve(0);
  });
  context.lifecycle.onStop('clickhouse-http', () => server.close());
  log.info({ url: server.url }, 'embedded ClickHouse served over HTTP (local convenience, 127.0.0.1 only)');
  return server.url;
}
