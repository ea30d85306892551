import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQuotaDefinition, quotaPeriod, type QuotaDefinition } from '@meterline/domain';
import { redisKeys, streamLayout } from '@meterline/redis';
import { startRedis, uniqueName, type RedisServer } from '@meterline/testing';
import { QuotaChecker, mirrorQuota } from '@meterline/quotas';

// checkQuota against a real redis-server: the definitions mirror and the counters as the rollup
// consumer leaves them, all counters read by read-quota-counters-n.lua in one command.

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

function quota(tenant: string, fields: Record<string, unknown>): QuotaDefinition {
  return parseQuotaDefinition({ tenant_id: tenant, metric: 'total_tokens', enforcement: 'soft', updated_at: NOW, ...fields });
}

async function store(definitions: readonly QuotaDefinition[], used: ReadonlyMap<string, string>): Promise<void> {
  for (const d of definitions) {
    await mirrorQuota(redis, d);
    const counter = used.get(d.quota_id);
    if (counter !== undefined) await redis.hset(redisKeys.quotaCounter(d.tenant_id, d.quota_id, quotaPeriod(d, NOW).start), streamLayout.quotaCounter.used, counter);
  }
}

describe('QuotaChecker.checkQuota', () => {
  it('reads every applying counter in one command: used, remaining, reset time, and a missing counter as nothing used', async () => {
    const tenant = uniqueName('tenant');
    const daily = quota(tenant, { quota_id: 'daily', period: 'day', limit: '1000', enforcement: 'hard' });
    const monthly = quota(tenant, { quota_id: 'monthly', period: 'month', limit: '100000' });
    const fresh = quota(tenant, { quota_id: 'fresh', period: 'month', limit: '50' });
    // Past 2^53: the counter's decimal string must reach the status exactly.
    const huge = quota(tenant, { quota_id: 'huge', period: 'month', limit: '90071992547409930' });
    await store([daily, monthly, fresh, huge], new Map([['daily', '400'], ['monthly', '99999'], ['huge', '9007199254740993']]));

    const checker = new QuotaChecker(redis, { clock: () => NOW });
    const check = await checker.checkQuota(tenant);

    expect(check.allowed).toBe(true);
    const byId = new Map(check.quotas.map((q) => [q.quota_id, q]));
    expect(byId.get('daily')).toMatchObject({ used: 400n, remaining: 600n, exceeded: false, resets_at: quotaPeriod(daily, NOW).end });
    expect(byId.get('monthly')).toMatchObject({ used: 99_999n, remaining: 1n, exceeded: false, resets_at: quotaPeriod(monthly, NOW).end });
    expect(byId.get('fresh')).toMatchObject({ used: 0n, remaining: 50n, exceeded: false });
    expect(byId.get('huge')).toMatchObject({ used: 9_007_199_254_740_993n, remaining: 81_064_793_292_668_937n });
    expect(check.quotas).toHaveLength(4);
  });

  it('a used-up hard quota refuses; a quota narrowed to another project is not read', async () => {
    const tenant = uniqueName('tenant');
    const hard = quota(tenant, { quota_id: 'hard', period: 'day', limit: '10', enforcement: 'hard' });
    const otherProject = quota(tenant, { quota_id: 'other-project', period: 'day', limit: '10', enforcement: 'hard', scope: { project_id: 'p-other' } });
    await store([hard, otherProject], new Map([['hard', '10'], ['other-project', '500']]));

    const checker = new QuotaChecker(redis, { clock: () => NOW });
    const check = await checker.checkQuota(tenant, { project_id: 'p-main' });

    expect(check.allowed).toBe(false);
    expect(check.quotas.map((q) => [q.quota_id, q.used, q.exceeded])).toEqual([['hard', 10n, true]]);
    const other = await checker.checkQuota(tenant, { project_id: 'p-other' });
    expect(other.quotas.map((q) => [q.quota_id, q.used]).sort()).toEqual([
      ['hard', 10n],
      ['other-project', 500n],
    ]);
  });

  it('a tenant without quotas is allowed, with nothing read', async () => {
    const checker = new QuotaChecker(redis, { clock: () => NOW });
    expect(await checker.checkQuota(uniqueName('tenant'))).toEqual(expect.objectContaining({ allowed: true, quotas: [] }));
  });
});
