import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { openClickHouse, type ClickHouseHandle } from '@meterline/clickhouse';
import { accessTopics, consumerGroupLag, createKafka, ensureTopics, invoiceTopics, rawPathTopics, streamTopics } from '@meterline/kafka';
import { fleetConfigSchema, type FleetConfig } from '@meterline/platform';
import { QuotaStore } from '@meterline/quotas';
import { freePort, startKafka, startRedis, uniqueIdentifier, waitFor, type KafkaBroker, type ManagedProcess, type RedisServer } from '@meterline/testing';
import { spawnApp } from '../child-app';
import { testLog } from '../raw-path';
import { shippedPricingDir } from '../stream';

/** The workers an operator runs, each its own process; the chaos kills them with SIGKILL. */
export const workers = ['clickhouse-sink', 'rollup-consumer', 'api', 'invoice-scheduler'] as const;
export type Worker = (typeof workers)[number];

const entries: Record<Worker, { entry: string; args: string[] }> = {
  'clickhouse-sink': { entry: 'apps/clickhouse-sink/src/main.ts', args: [] },
  'rollup-consumer': { entry: 'apps/rollup-consumer/src/main.ts', args: [] },
  api: { entry: 'apps/cli/src/main.ts', args: ['api'] },
  'invoice-scheduler': { entry: 'apps/cli/src/main.ts', args: ['invoice-scheduler'] },
};

export interface QuotaLimits {
  readonly tenants: readonly string[];
  /** Limit of each tenant's daily-total and monthly-total quota (total tokens). */
  readonly limit: bigint;
}

/**
 * A whole fleet on this machine, every part its own process and every part breakable: a
 * Kafka broker of its own (restarted on the same port and log dir), a redis-server (restarted
 * empty), ClickHouse served over HTTP by `meterline clickhouse serve` (stopped and started on
 * the same port and data dir), the four workers (SIGKILLed and started again), and the API's
 * spool on a tmpfs of its own that can be filled.
 */
export class ChaosFleet {
  readonly processes = new Map<string, ManagedProcess>();
  /** Every process that ever ran, for the memory samples and the failure output. */
  readonly history: ManagedProcess[] = [];
  #clickhouse: ManagedProcess | undefined;

  private constructor(
    readonly root: string,
    readonly broker: KafkaBroker,
    readonly redis: RedisServer,
    readonly env: Record<string, string>,
    readonly config: FleetConfig,
    readonly kafka: Kafka,
    readonly spool: SpoolDisk,
    readonly apiUrl: string,
    /** /readyz of each worker but the API (whose own port serves it). */
    readonly healthPorts: Record<Exclude<Worker, 'api'>, number>,
    readonly clickhousePort: number,
  ) {}

  static async start(quotas: QuotaLimits, options: { partitions?: number; spoolBytes?: number; extraEnv?: Record<string, string> } = {}): Promise<ChaosFleet> {
    const root = mkdtempSync(join(tmpdir(), 'meterline-chaos-'));
    const broker = await startKafka({ dataDir: join(root, 'kafka'), heapMb: 512 });
    const redis = await startRedis({ dir: join(root, 'redis') });
    const [clickhousePort, apiPort] = [await freePort(), await freePort()];
    const healthPorts = { 'clickhouse-sink': await freePort(), 'rollup-consumer': await freePort(), 'invoice-scheduler': await freePort() };
    const pricingDir = join(root, 'pricing');
    cpSync(shippedPricingDir, pricingDir, { recursive: true });
    const spool = SpoolDisk.create(join(root, 'spool'), options.spoolBytes ?? 8 * 1024 * 1024);
    const invoiceDir = join(root, 'invoices');
    mkdirSync(invoiceDir);
    const env: Record<string, string> = {
      KAFKA_BROKERS: broker.brokers.join(','),
      REDIS_URL: redis.url,
      CLICKHOUSE_URL: `http://127.0.0.1:${clickhousePort}`,
      CLICKHOUSE_DATABASE: uniqueIdentifier('chaos'),
      METERLINE_PRICING_DIR: pricingDir,
      METERLINE_USAGE_EVENTS_PARTITIONS: String(options.partitions ?? 4),
      METERLINE_HTTP_PORT: String(apiPort),
      METERLINE_SPOOL_DIR: spool.dir,
      METERLINE_INVOICE_DIR: invoiceDir,
      METERLINE_INVOICE_CRON: '*/5 * * * * *',
      METERLINE_INVOICE_CATCH_UP_TIMEOUT: '60s',
      METERLINE_ALLOWED_LATENESS: '2h',
      METERLINE_SINK_FLUSH_MS: '250ms',
      LOG_LEVEL: 'info',
      ...options.extraEnv,
    };
    const config = fleetConfigSchema.parse(env);
    const kafka = createKafka({ brokers: broker.brokers, clientId: 'chaos-harness' }, testLog);
    const fleet = new ChaosFleet(root, broker, redis, env, config, kafka, spool, `http://127.0.0.1:${apiPort}`, healthPorts, clickhousePort);
    await fleet.startClickHouse();
    const migrate = await spawnApp('apps/cli/src/main.ts', ['migrate'], env, 'migrate');
    const migrated = await migrate.exited;
    if (migrated.code !== 0) throw new Error(`migrate failed (${migrated.code}):\n${migrate.outputTail()}`);
    // Topics and quota definitions before any worker: the rollup consumer counts from the first event.
    await ensureTopics(kafka, [...rawPathTopics(config.topics), ...streamTopics(config.topics), ...invoiceTopics(config.topics), ...accessTopics(config.topics)], testLog);
    const store = new QuotaStore(kafka, config.topics.quotaDefinitions, testLog);
    try {
      for (const tenant of quotas.tenants) {
        for (const [quota_id, period] of [['daily-total', 'day'], ['monthly-total', 'month']] as const) {
          await store.set({ tenant_id: tenant, quota_id, metric: 'total_tokens', period, limit: quotas.limit.toString(), enforcement: 'soft' });
        }
      }
    } finally {
      await store.close();
    }
    for (const worker of workers) await fleet.startWorker(worker);
    return fleet;
  }

  /** A key for the load (events:write) and the checks (usage:read), made by the operator's CLI. */
  async createKey(): Promise<string> {
    const keys = await spawnApp('apps/cli/src/main.ts', ['keys', 'create', '--name', 'chaos-load', '--scopes', 'events:write,usage:read', '--json'], { ...this.env, LOG_LEVEL: 'warn' }, 'keys');
    const exit = await keys.exited;
    if (exit.code !== 0) throw new Error(`keys create failed:\n${keys.outputTail()}`);
    return (JSON.parse(keys.outputTail().trim().split('\n').at(-1)!) as { token: string }).token;
  }

  /** Starts a worker and waits until it is ready: the next fault never lands on a worker still starting. */
  async startWorker(worker: Worker): Promise<void> {
    const { entry, args } = entries[worker];
    const env = worker === 'api' ? this.env : { ...this.env, METERLINE_HEALTH_PORT: String(this.healthPorts[worker]) };
    const child = await spawnApp(entry, args, env, worker);
    this.#track(worker, child);
    await this.#ready(worker === 'api' ? `${this.apiUrl}/readyz` : `http://127.0.0.1:${this.healthPorts[worker]}/readyz`, child);
  }

  /** kill -9: no drain, no commit, no flush. */
  async killWorker(worker: Worker): Promise<void> {
    await this.#kill(this.processes.get(worker));
  }

  async startClickHouse(): Promise<void> {
    const child = await spawnApp('apps/cli/src/main.ts', ['clickhouse', 'serve', '--port', String(this.clickhousePort)], { METERLINE_CHDB_PATH: join(this.root, 'chdb') }, 'clickhouse');
    this.#clickhouse = child;
    this.#track('clickhouse', child);
    await waitFor(() => fetch(`${this.env.CLICKHOUSE_URL}/ping`).then((r) => r.text()).catch(() => ''), (text) => text === 'Ok.\n', { what: 'meterline clickhouse serve', timeoutMs: 60_000, intervalMs: 100 });
  }

  /** ClickHouse unavailable: the server process is gone (SIGKILL), its port refuses connections. */
  async stopClickHouse(): Promise<void> {
    await this.#kill(this.#clickhouse);
  }

  /** Redis restarted with its data gone (nothing persisted): the stream state must be rebuilt. */
  async restartRedisEmpty(): Promise<void> {
    await this.redis.restart();
  }

  /** A broker crash (SIGKILL, no controlled shutdown), then a start on the same port and log dir. */
  async crashKafka(): Promise<void> {
    await this.broker.kill();
  }

  async startKafkaAgain(): Promise<void> {
    await this.broker.restart();
  }

  openClickHouse(): ClickHouseHandle {
    return openClickHouse({ url: this.env.CLICKHOUSE_URL!, database: this.env.CLICKHOUSE_DATABASE!, chdbPath: '' });
  }

  /** Consumer-group lag of every stream stage: 0 everywhere means every sent event went all the way. */
  async lags(): Promise<Record<string, number>> {
    const { topics, sink, rollups } = this.config;
    const entries = await Promise.all([
      ['raw sink', sink.groupId, topics.usageEvents],
      ['rollup consumer', rollups.groupId, topics.usageEvents],
      ['rollup sink', rollups.sinkGroupId, topics.usageRollups],
    ].map(async ([what, group, topic]) => [what!, await consumerGroupLag(this.kafka, group!, topic!)] as const));
    return Object.fromEntries(entries);
  }

  /** Every process that exited without being asked to (a crash the chaos did not cause). */
  unexpectedExits(): string[] {
    return [...this.processes.values()].filter((p) => !p.isRunning() && !this.#killed.has(p)).map((p) => `${p.name} exited (${JSON.stringify(p.exitInfo)}):\n${p.outputTail(3_000)}`);
  }

  readonly #killed = new Set<ManagedProcess>();

  async #kill(child: ManagedProcess | undefined): Promise<void> {
    if (child === undefined) return;
    this.#killed.add(child);
    await child.kill();
  }

  outputTails(bytes = 2_000): string {
    return [...this.processes.values()].map((p) => `--- ${p.name} (pid ${p.pid}) ---\n${p.outputTail(bytes)}`).join('\n');
  }

  async stop(): Promise<void> {
    for (const worker of [...workers].reverse()) {
      const child = this.processes.get(worker);
      if (child?.isRunning()) await child.stop(30_000);
    }
    if (this.#clickhouse?.isRunning()) await this.#clickhouse.stop(10_000);
    await Promise.allSettled([this.broker.stop(), this.redis.stop()]);
    this.spool.release();
    rmSync(this.root, { recursive: true, force: true });
  }

  #track(name: string, child: ManagedProcess): void {
    this.processes.set(name, child);
    this.history.push(child);
  }

  async #ready(url: string, child: ManagedProcess): Promise<void> {
    await waitFor(
      async () => {
        if (!child.isRunning()) throw new Error(`${child.name} exited: ${child.outputTail(2_000)}`);
        return (await fetch(url).catch(() => undefined))?.status ?? 0;
      },
      (status) => status === 200,
      { what: `${child.name} ready (${url})`, timeoutMs: 180_000, intervalMs: 200 },
    );
  }
}

/**
 * The API's spool directory on a tmpfs of its own (`mount -t tmpfs -o size=...`, as root), so
 * "disk full" is the kernel's ENOSPC. fill() writes a file over the free space; drain() deletes it.
 */
export class SpoolDisk {
  readonly #filler: string;

  private constructor(readonly dir: string, readonly mounted: boolean) {
    this.#filler = join(dir, '.chaos-filler');
  }

  static create(dir: string, bytes: number): SpoolDisk {
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
      return new SpoolDisk(dir, true);
    } catch (error) {
      throw new Error(`the chaos suite mounts a tmpfs for the spool's disk-full fault and needs root (uid ${process.getuid?.()}): ${(error as Error).message}`, { cause: error });
    }
  }

  /** Fills the tmpfs to the last byte: the meter's next spool append gets ENOSPC. */
  fill(): void {
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    try {
      for (;;) {
        writeFileSync(this.#filler, chunk, { flag: 'a' });
        written += chunk.length;
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    }
    // The last partial chunk: byte by byte is too slow; 4 KiB pages are the tmpfs unit.
    try {
      for (;;) writeFileSync(this.#filler, Buffer.alloc(4096), { flag: 'a' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    }
    void written;
  }

  drain(): void {
    rmSync(this.#filler, { force: true });
  }

  /** Spool segments left on disk (the meter's files; the filler excluded). */
  segments(): string[] {
    return readdirSync(this.dir).filter((f) => f !== '.chaos-filler');
  }

  release(): void {
    if (!this.mounted) return;
    try {
      execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' });
    } catch {
      // already unmounted
    }
  }
}
