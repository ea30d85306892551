import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QuotaAlertRecord } from '@meterline/contract';
import { redisKeys, RedisPipelineError } from '@meterline/redis';
import { startRedis, uniqueName, type RedisServer } from '@meterline/testing';
import { markAlertsSending, trimOutboxes } from './outbox';

// The outbox's "sending" marks must be written before alerts are published: a mark that fails
// silently, then a crash, republishes the alert. Against a real redis-server, a failed mark
// or trim surfaces as an error instead of being swallowed.

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const alert = (tenant: string, id: string): QuotaAlertRecord => ({
  alert_id: id, tenant_id: tenant, quota_id: 'q', metric: 'requests', period_label: '2026-12', period_start: 0, period_end: 1,
  threshold_percent: 80, limit: '10', used: '8', enforcement: 'soft', crossed_at: 1,
});

describe('outbox marks', () => {
  it('writes a "sending" mark per alert', async () => {
    const [a, b] = [uniqueName('tenant-a'), uniqueName('tenant-b')];
    await markAlertsSending(redis, [alert(a, 'a1'), alert(b, 'b1')], 1234);
    expect(await redis.hget(redisKeys.alertsSending(a), 'a1')).toBe('1234');
    expect(await redis.hget(redisKeys.alertsSending(b), 'b1')).toBe('1234');
  });

  it('throws when one tenant\'s mark fails, naming hset', async () => {
    const [ok, broken] = [uniqueName('tenant-ok'), uniqueName('tenant-broken')];
    await redis.set(redisKeys.alertsSending(broken), 'not a hash');
    const error = await markAlertsSending(redis, [alert(ok, 'o1'), alert(broken, 'x1')], 1).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(RedisPipelineError);
    expect((error as RedisPipelineError).failures.map((f) => [f.index, f.command])).toEqual([[1, 'hset']]);
    expect((error as RedisPipelineError).message).toMatch(/marking quota alerts sending: .*WRONGTYPE/);
  });

  it('throws when a trim fails instead of reporting the outbox drained', async () => {
    const tenant = uniqueName('tenant-trim');
    await redis.rpush(redisKeys.outbox(tenant, 0), 'e1', 'e2', 'e3');
    await redis.set(redisKeys.outbox(tenant, 1), 'not a list');
    const error = await trimOutboxes(redis, [{ tenantId: tenant, partition: 0, published: 2 }, { tenantId: tenant, partition: 1, published: 1 }], []).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(RedisPipelineError);
    expect((error as RedisPipelineError).failures.map((f) => f.command)).toEqual(['ltrim']);
    expect(await redis.lrange(redisKeys.outbox(tenant, 0), 0, -1)).toEqual(['e3']);
  });
});
