import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageEventV2Defaults, parseQuotaDefinition, quotaPeriod, type EventMoney, type QuotaDefinition, type UsageEvent } from '@meterline/domain';
import { redisKeys, streamLayout, withScripts, type ScriptedRedis } from '@meterline/redis';
import { startRedis, type RedisServer } from '@meterline/testing';
import { planTenantBatch, type OffsetEvent } from './plan-batch';

// apply-usage-batch-2.lua against a real redis-server: money quota thresholds at and above
// 2^53, where a Lua number (a double) can no longer tell neighbouring integers apart, so the
// script compares the counter's exact decimal string. Each case walks a counter to just below,
// exactly at and just above a threshold and checks which event alerts, with what `used`.

const EXACT = 2n ** 53n;
const NOW = Date.now();

let server: RedisServer;
let redis: ScriptedRedis;

beforeAll(async () => {
  server = await startRedis();
  redis = withScripts(new Redis(server.url));
  await redis.set(redisKeys.epoch(), String(NOW));
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

/** Whether a double holds `n` exactly: the cases below are about the ones it does not. */
const exactInDouble = (n: bigint): boolean => BigInt(Number(n)) === n;

function event(tenant: string, i: number): UsageEvent {
  return {
    ...usageEventV2Defaults(),
    event_id: `${tenant}-${i}`, occurred_at: NOW + i, tenant_id: tenant, project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
    provider: 'openai', model: 'gpt-4o', operation: 'chat', input_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 1, reasoning_tokens: 0,
    latency_ms: null, ttft_ms: null, status_code: 200, error_type: null, metadata: {},
  };
}

function quota(tenant: string, limit: bigint, thresholds: number[]): QuotaDefinition {
  return parseQuotaDefinition({ tenant_id: tenant, quota_id: 'usd', metric: 'charge_pico_usd', period: 'month', limit: limit.toString(), thresholds, enforcement: 'soft', updated_at: 1 });
}

interface AlertEntry { th: string; u: string; o: string }

/**
 * Applies events charged `amounts` (pico-USD) in order: one script call for all of them, or
 * one call per event. Returns the alerts the outbox got and the counter's final value.
 */
async function apply(tenant: string, def: QuotaDefinition, amounts: readonly bigint[], callPerEvent: boolean): Promise<{ applied: number; alerts: AlertEntry[]; used: string | null }> {
  const events: OffsetEvent[] = amounts.map((_, i) => ({ offset: String(i), event: event(tenant, i) }));
  const charge = new Map(events.map(({ event: e }, i) => [e.event_id, amounts[i]!]));
  const price = (e: UsageEvent): EventMoney => ({
    costPico: 0n, chargePico: charge.get(e.event_id)!, cacheSavingsPico: 0n, costPriced: true, chargePriced: true,
    costVersion: 'test/cost@1', chargeVersion: 'test/charge@1', unpriced: null,
  });
  const options = { allowedLatenessMs: 7_200_000, dedupWindowSeconds: 86_400, price };
  let applied = 0;
  for (const batch of callPerEvent ? events.map((e) => [e]) : [events]) {
    const plan = planTenantBatch(tenant, 0, batch, [def], options);
    applied += (await redis.applyUsageBatch([...plan.keys, ...plan.args]))[0]!;
  }
  const outbox = await redis.lrange(redisKeys.outbox(tenant, 0), 0, -1);
  const alerts = outbox.map((raw) => JSON.parse(raw) as { t: string } & AlertEntry).filter((entry) => entry.t === 'a').map(({ th, u, o }) => ({ th, u, o }));
  const used = await redis.hget(redisKeys.quotaCounter(tenant, def.quota_id, quotaPeriod(def, NOW).start), streamLayout.quotaCounter.used);
  return { applied, alerts, used };
}

/** The alerts a reference computed with bigints expects: the first event whose running sum reaches ceil(limit * t / 100). */
function expectedAlerts(limit: bigint, thresholds: readonly number[], amounts: readonly bigint[]): AlertEntry[] {
  const out: AlertEntry[] = [];
  let used = 0n;
  const pending = [...thresholds];
  amounts.forEach((amount, i) => {
    used += amount;
    for (const t of [...pending]) {
      if (used * 100n >= limit * BigInt(t)) {
        out.push({ th: String(t), u: used.toString(), o: String(i) });
        pending.splice(pending.indexOf(t), 1);
      }
    }
  });
  return out;
}

describe('apply-usage-batch-2.lua: money thresholds at and beyond 2^53', () => {
  // Each case: a limit (100% = the limit), amounts walking the counter to it. The comment
  // says why a comparison in doubles would get it wrong.
  const cases: { name: string; limit: bigint; thresholds: number[]; amounts: bigint[] }[] = [
    // double(2^53 + 1) is 2^53: a counter at 2^53 would look like it reached the limit.
    { name: 'limit 2^53 + 1: just below, exactly at, just above', limit: EXACT + 1n, thresholds: [100], amounts: [EXACT, 1n, 1n] },
    // The counter jumps over the limit in one event (2^53 - 1 -> 2^53 + 2).
    { name: 'limit 2^53 + 1: jumped over by one event', limit: EXACT + 1n, thresholds: [100], amounts: [EXACT - 1n, 3n] },
    // Spacing of doubles near 2^62 is 1,024: limit - 1 and limit are the same double.
    { name: 'limit 2^62 + 5: just below, exactly at, just above', limit: 2n ** 62n + 5n, thresholds: [100], amounts: [2n ** 62n + 4n, 1n, 1n] },
    // Decimal strings of different lengths (16 vs 17 digits), both past 2^53 only for the limit.
    { name: 'limit 10^16: counter grows from 16 to 17 digits', limit: 10n ** 16n, thresholds: [100], amounts: [10n ** 16n - 1n, 1n, 1n] },
    // A small counter against a threshold past 2^53, and the 50% threshold (below 2^53) in doubles.
    { name: 'limit 2^53 + 2 with 50%: small counter, then both thresholds in one event', limit: EXACT + 2n, thresholds: [50, 100], amounts: [5n, EXACT - 4n, 1n] },
    // Summed in Lua up to 2^53 - 1 (50% crossed there), then added in Redis from 2^53 on.
    { name: 'limit 2^53 + 1 with 50%: a counter that leaves Lua sums mid-call', limit: EXACT + 1n, thresholds: [50, 100], amounts: [2n ** 52n, 2n ** 52n - 3n, 1n, 1n, 1n, 1n, 1n] },
    // The largest limit: counters near 2^63 - 1 (a Redis int64).
    { name: 'limit 2^63 - 1 with 99/100%', limit: 2n ** 63n - 1n, thresholds: [99, 100], amounts: [2n ** 63n - 3n, 1n, 1n] },
  ];

  for (const [n, c] of cases.entries()) {
    for (const callPerEvent of [false, true]) {
      it(`${c.name} (${callPerEvent ? 'one call per event' : 'one call'})`, async () => {
        const tenant = `t${n}-${callPerEvent ? 'each' : 'one'}`;
        const def = quota(tenant, c.limit, c.thresholds);
        const { applied, alerts, used } = await apply(tenant, def, c.amounts, callPerEvent);
        expect(applied).toBe(c.amounts.length);
        expect(used).toBe(c.amounts.reduce((a, b) => a + b, 0n).toString());
        expect(alerts).toEqual(expectedAlerts(c.limit, c.thresholds, c.amounts));
      });
    }
  }

  it('the cases are ones a comparison in doubles gets wrong', () => {
    // Just below the limit, the counter and the limit are the same double (cases 1 and 3).
    expect(Number(EXACT) >= Number(EXACT + 1n)).toBe(true);
    expect(Number(2n ** 62n + 4n) >= Number(2n ** 62n + 5n)).toBe(true);
    expect(exactInDouble(EXACT + 1n) || exactInDouble(2n ** 62n + 5n)).toBe(false);
  });

  it('a counter stops at 2^63 - 1 instead of failing the script: every event still counts in the rollup, the 100% alert comes once', async () => {
    const tenant = 'saturated';
    const max = 2n ** 63n - 1n;
    const def = quota(tenant, max, [100]);
    const { applied, alerts, used } = await apply(tenant, def, [max - 2n, 5n, 7n], false);
    expect(applied).toBe(3);
    expect(used).toBe(max.toString());
    expect(alerts).toEqual([{ th: '100', u: max.toString(), o: '1' }]);
    const [rollup] = await redis.keys(`${redisKeys.outbox(tenant, 0).replace(/outbox:0$/, '')}r:0:*`);
    expect(await redis.hget(rollup!, streamLayout.rollup.requests)).toBe('3');
    // The next call applies normally.
    const next = planTenantBatch(tenant, 0, [{ offset: '3', event: event(tenant, 3) }], [def], { allowedLatenessMs: 7_200_000, dedupWindowSeconds: 86_400, price: () => ({ costPico: 0n, chargePico: 1n, cacheSavingsPico: 0n, costPriced: true, chargePriced: true, costVersion: 'c', chargeVersion: 'h', unpriced: null }) });
    expect((await redis.applyUsageBatch([...next.keys, ...next.args]))[0]).toBe(1);
    expect(await redis.hget(redisKeys.quotaCounter(tenant, def.quota_id, quotaPeriod(def, NOW).start), streamLayout.quotaCounter.used)).toBe(max.toString());
  });

  it('a threshold alerts once per period: replaying the same events (same offsets) changes nothing', async () => {
    const tenant = 'replayed';
    const def = quota(tenant, EXACT + 1n, [100]);
    const first = await apply(tenant, def, [EXACT, 1n, 1n], false);
    const again = await apply(tenant, def, [EXACT, 1n, 1n], false);
    expect(again.applied).toBe(0);
    expect(again.used).toBe(first.used);
    expect(again.alerts).toEqual(first.alerts);
    expect(first.alerts).toEqual([{ th: '100', u: (EXACT + 1n).toString(), o: '1' }]);
  });
});
