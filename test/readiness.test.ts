import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it, vi } from 'vitest';
import { freePort, startRedis, uniqueIdentifier, uniqueName, waitFor, type ManagedProcess } from '@meterline/testing';
import { spawnApp } from './support/child-app';
import { shippedPricingDir } from './support/stream';

// /readyz of a worker process follows its dependencies: Redis and ClickHouse stopped under a
// running rollup consumer are named as the failing checks, and it is ready again when they return.
vi.setConfig({ testTimeout: 300_000 });

const brokers = inject('kafkaBrokers');

interface ReadyBody { status: string; failing?: string[]; checks: Record<string, { ok: boolean; error?: string }> }

it('readiness names the dependency that is down (Redis, then ClickHouse) and recovers; liveness stays up', async () => {
  const chdbPath = mkdtempSync(join(tmpdir(), 'meterline-ready-chdb-'));
  const [clickhousePort, healthPort] = [await freePort(), await freePort()];
  const redis = await startRedis();
  const topic = uniqueName('ready-events');
  const env: Record<string, string> = {
    KAFKA_BROKERS: brokers.join(','),
    REDIS_URL: redis.url,
    CLICKHOUSE_URL: `http://127.0.0.1:${clickhousePort}`,
    CLICKHOUSE_DATABASE: uniqueIdentifier('ready'),
    METERLINE_TOPIC_USAGE_EVENTS: topic,
    METERLINE_TOPIC_USAGE_ROLLUPS: `${topic}-rollups`,
    METERLINE_TOPIC_QUOTA_ALERTS: `${topic}-alerts`,
    METERLINE_TOPIC_QUOTA_DEFINITIONS: `${topic}-quotas`,
    METERLINE_TOPIC_PRICING_ALERTS: `${topic}-pricing-alerts`,
    METERLINE_ROLLUP_GROUP: `${topic}-rollup`,
    METERLINE_SINK_GROUP: `${topic}-sink`,
    METERLINE_USAGE_EVENTS_PARTITIONS: '2',
    METERLINE_PRICING_DIR: shippedPricingDir,
    METERLINE_HEALTH_PORT: String(healthPort),
  };
  const serveClickHouse = () => spawnApp('apps/cli/src/main.ts', ['clickhouse', 'serve', '--port', String(clickhousePort)], { METERLINE_CHDB_PATH: chdbPath }, 'clickhouse');
  const readyz = async (): Promise<{ status: number; body: ReadyBody | undefined }> => {
    try {
      const response = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
      return { status: response.status, body: (await response.json()) as ReadyBody };
    } catch {
      return { status: 0, body: undefined };
    }
  };
  const waitReady = (what: string, ok: (r: Awaited<ReturnType<typeof readyz>>) => boolean) => waitFor(readyz, ok, { what, timeoutMs: 90_000, intervalMs: 250 });

  let clickhouse: ManagedProcess = await serveClickHouse();
  let consumer: ManagedProcess | undefined;
  try {
    await waitFor(() => fetch(`http://127.0.0.1:${clickhousePort}/ping`).then((r) => r.ok).catch(() => false), Boolean, { what: 'clickhouse serve', timeoutMs: 60_000, intervalMs: 200 });
    consumer = await spawnApp('apps/rollup-consumer/src/main.ts', [], env, 'rollup-consumer');

    const ready = await waitReady('the rollup consumer to be ready', (r) => r.status === 200);
    expect(Object.keys(ready.body!.checks).sort()).toEqual(['clickhouse', 'kafka', 'redis', 'rollup-consumer']);
    expect((await fetch(`http://127.0.0.1:${healthPort}/livez`)).status).toBe(200);

    await redis.kill();
    const noRedis = await waitReady('readiness to fail on Redis', (r) => r.status === 503);
    expect(noRedis.body!.failing).toEqual(['redis']);
    expect(noRedis.body!.checks.redis!.error).toBeTruthy();
    expect((await fetch(`http://127.0.0.1:${healthPort}/livez`)).status).toBe(200);
    await redis.restart();
    await waitReady('readiness to return with Redis', (r) => r.status === 200);

    await clickhouse.stop();
    const noClickHouse = await waitReady('readiness to fail on ClickHouse', (r) => r.status === 503);
    expect(noClickHouse.body!.failing).toEqual(['clickhouse']);
    clickhouse = await serveClickHouse();
    await waitReady('readiness to return with ClickHouse', (r) => r.status === 200);

    const exit = await consumer.stop(60_000);
    expect(exit.code).toBe(0);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- rollup-consumer ---\n${consumer?.outputTail(4_000) ?? ''}`, { cause: error });
  } finally {
    if (consumer?.isRunning()) await consumer.kill();
    await clickhouse.stop();
    await redis.stop();
  }
});
