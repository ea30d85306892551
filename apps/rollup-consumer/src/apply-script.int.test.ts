import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageEventV2Defaults, parseQuotaDefinition, quotaPeriod, type EventMoney, type QuotaDefinition, type UsageEvent } from '@meterline/domain';
import { redisKeys, streamLayout, tenantPrefix, withScripts, type ScriptedRedis } from '@meterline/redis';
import { startRedis, type RedisServer } from '@meterline/testing';
import { planTenantBatch, type OffsetEvent } from './plan-batch';

// apply-usage-batch-2.lua against a real redis-server, on the paths where it does not simply
// take the caller's sums: events it takes back from a group (duplicates in the set or in the
// call, replays after a crash), the event holding a group's maximum among them, a price
// version only a duplicate had, and groups summed event by event because their hour is late.
// Each case reads the rollup hash and the quota counter back and compares them with what the
// counted events alone add up to.

const HOUR = 3_600_000;
// Two days into this month: every event of a case falls in one month, whose counter expires
// in the future (a past period's counter would expire at once).
const now = new Date();
const HOUR_START = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 3, 5);

let server: RedisServer;
let redis: ScriptedRedis;

beforeAll(async () => {
  server = await startRedis();
  redis = withScripts(new Redis(server.url));
  await redis.set(redisKeys.epoch(), String(Date.now()));
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

function event(tenant: string, id: string, change: Partial<UsageEvent> = {}): UsageEvent {
  return {
    ...usageEventV2Defaults(),
    event_id: id, occurred_at: HOUR_START + 60_000, tenant_id: tenant, project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
    provider: 'openai', model: 'gpt-4o', operation: 'chat', input_tokens: 10, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 5, reasoning_tokens: 0,
    latency_ms: 100, ttft_ms: 20, status_code: 200, error_type: null, metadata: {}, ...change,
  };
}

const requestsQuota = (tenant: string): QuotaDefinition => parseQuotaDefinition({ tenant_id: tenant, quota_id: 'requests', metric: 'requests', period: 'month', limit: '1000000', enforcement: 'soft', updated_at: 1 });

/** Prices an event by its metadata.version (none: unpriced); cost 1,000,001 pico-USD. */
const price = (e: UsageEvent): EventMoney => {
  const version = e.metadata.version;
  return version === undefined
    ? { costPico: 0n, chargePico: 0n, cacheSavingsPico: 0n, costPriced: false, chargePriced: false, costVersion: null, chargeVersion: null, unpriced: null }
    : { costPico: 1_000_001n, chargePico: 2_000_002n, cacheSavingsPico: 0n, costPriced: true, chargePriced: true, costVersion: version, chargeVersion: version, unpriced: null };
};

async function apply(tenant: string, batch: OffsetEvent[]): Promise<number[]> {
  const plan = planTenantBatch(tenant, 0, batch, [requestsQuota(tenant)], { allowedLatenessMs: HOUR, dedupWindowSeconds: 86_400, price });
  return redis.applyUsageBatch([...plan.keys, ...plan.args]);
}

/** The rollup hash of the default dims at an hour, and the requests counter of that month. */
async function state(tenant: string, hour = HOUR_START): Promise<{ rollup: Record<string, string>; requests: string | null }> {
  const rollup = await redis.hgetall(`${tenantPrefix(tenant)}r:0:${hour}:${JSON.stringify(['', 'openai', 'gpt-4o', 'chat'])}`);
  const requests = await redis.hget(redisKeys.quotaCounter(tenant, 'requests', quotaPeriod(requestsQuota(tenant), HOUR_START).start), streamLayout.quotaCounter.used);
  return { rollup, requests };
}

const at = (offset: number, e: UsageEvent): OffsetEvent => ({ offset: String(offset), event: e });

describe('apply-usage-batch-2.lua: what it takes back from a group, and late groups', () => {
  it('a duplicate holding the maxima and the only use of a price version counts nowhere', async () => {
    const t = 'dup-max';
    await apply(t, [at(0, event(t, 'a', { latency_ms: 900, ttft_ms: 300, metadata: { version: 'v-dup' }, error_type: 'timeout', status_code: 504 }))]);
    // The next call re-sends 'a' (in the set) among three new events, one of them twice.
    const reply = await apply(t, [
      at(1, event(t, 'b', { latency_ms: 200, ttft_ms: null })),
      at(2, event(t, 'a', { latency_ms: 900, ttft_ms: 300, metadata: { version: 'v-dup' }, error_type: 'timeout', status_code: 504 })),
      at(3, event(t, 'c', { latency_ms: null, ttft_ms: 50, metadata: { version: 'v-c' } })),
      at(4, event(t, 'c', { latency_ms: null, ttft_ms: 50, metadata: { version: 'v-c' } })),
    ]);
    expect(reply.slice(0, 3)).toEqual([2, 2, 0]); // applied, duplicates, replayed
    const { rollup, requests } = await state(t);
    expect(requests).toBe('3');
    expect(rollup).toMatchObject({ req: '3', in: '30', out: '15', err: '1', 'e:timeout': '1', 's:5xx': '1', 's:2xx': '2', latu: '1100000', latn: '2', latumax: '900000', ttftu: '350000', ttftn: '2', ttftumax: '300000', cph: '2', cpl: '2', upc: '1', 'vc:v-dup': '1', 'vc:v-c': '1' });

    // An id seen in another group (same hour) re-sent with other dimensions: it counts nowhere,
    // so neither its maxima nor its price version reach this group.
    const t2 = 'dup-max-2';
    await apply(t2, [at(0, event(t2, 'x', { latency_ms: 50, ttft_ms: 5 })), at(1, event(t2, 'd', { provider: 'anthropic' }))]);
    await apply(t2, [at(2, event(t2, 'z', { latency_ms: 60, ttft_ms: 6 })), at(3, event(t2, 'd', { latency_ms: 70, ttft_ms: 7, metadata: { version: 'v-ghost' } }))]);
    const second = await state(t2);
    expect(second.rollup).toMatchObject({ req: '2', latu: '110000', latumax: '60000', ttftu: '11000', ttftumax: '6000', upc: '2' });
    expect(second.rollup['vc:v-ghost']).toBeUndefined();
  });

  it('a replayed prefix (offsets at or below the watermark) is skipped, the rest counts once', async () => {
    const t = 'replay';
    const events = Array.from({ length: 15 }, (_, i) => at(i, event(t, `r${i}`, { input_tokens: i, latency_ms: i === 7 ? 5_000 : 10 })));
    await apply(t, events.slice(0, 10));
    const reply = await apply(t, events.slice(5));
    expect(reply.slice(0, 3)).toEqual([5, 0, 5]);
    const { rollup, requests } = await state(t);
    expect(requests).toBe('15');
    expect(rollup).toMatchObject({ req: '15', in: String((14 * 15) / 2), latumax: '5000000', latu: String((5_000 + 14 * 10) * 1_000) });
  });

  it('carries the v2 buckets, units and fractional latency (whole microseconds) through fast groups, take-backs and corrections', async () => {
    const t = 'v2';
    const v2 = (id: string, change: Partial<UsageEvent> = {}): UsageEvent =>
      event(t, id, { cache_write_1h_tokens: 100, audio_input_tokens: 7, audio_output_tokens: 3, image_input_tokens: 50, image_output_tokens: 1, units: { web_search: 2, web_fetch: 1 }, latency_ms: 1_000.125, ttft_ms: 0.5, ...change });
    await apply(t, [at(0, v2('a'))]);
    // 'a' again (a duplicate holding the latency maximum is taken back), two new events.
    await apply(t, [at(1, v2('a', { latency_ms: 1_000.125 })), at(2, v2('b', { latency_ms: 999.999, units: { web_search: 1 } })), at(3, v2('c', { units: {}, latency_ms: null }))]);
    const { rollup } = await state(t);
    expect(rollup).toMatchObject({
      req: '3', cw1: '300', ai: '21', ao: '9', ii: '150', io: '3', 'u:web_search': '3', 'u:web_fetch': '1',
      latu: String(1_000_125 + 999_999), latn: '2', latumax: '1000125', ttftu: '1500', ttftn: '3', ttftumax: '500',
    });
    // A later event closes the hour: an event of it becomes a correction carrying its own buckets and units.
    await apply(t, [at(4, v2('later', { occurred_at: HOUR_START + 3 * HOUR })), at(5, v2('closed', { latency_ms: 0.001, units: { code_execution: 4 } }))]);
    const outbox = (await redis.lrange(redisKeys.outbox(t, 0), 0, -1)).map((raw) => JSON.parse(raw) as { t: string; f: Record<string, string | number> });
    expect(outbox.find((entry) => entry.t === 'c')).toMatchObject({ f: { req: 1, cw1: 100, ai: 7, ao: 3, ii: 50, io: 1, 'u:code_execution': 4, latu: 1, latumax: 1, ttftu: 500 } });
  });

  it('a group whose hour is late is summed event by event: late events counted, closed hours become corrections', async () => {
    const t = 'late';
    await apply(t, [at(0, event(t, 'early'))]);
    // An event 3 h later moves the watermark's event time: the first hour is then closed (lateness 1 h).
    const reply = await apply(t, [
      at(1, event(t, 'later', { occurred_at: HOUR_START + 3 * HOUR + 1 })),
      at(2, event(t, 'closed', { latency_ms: 777 })),
      at(3, event(t, 'next-hour', { occurred_at: HOUR_START + 2 * HOUR + 5 })),
    ]);
    expect(reply.slice(0, 5)).toEqual([3, 0, 0, 1, 2]); // applied, duplicates, replayed, corrections, late
    const outbox = (await redis.lrange(redisKeys.outbox(t, 0), 0, -1)).map((raw) => JSON.parse(raw) as { t: string; h: string; f: Record<string, string | number> });
    const correction = outbox.find((entry) => entry.t === 'c');
    expect(correction).toMatchObject({ h: String(HOUR_START), f: { req: 1, late: 1, latumax: 777_000 } });
    const late = await state(t, HOUR_START + 2 * HOUR);
    expect(late.rollup).toMatchObject({ req: '1', late: '1' });
    expect((await state(t)).requests).toBe('4');
  });
});
