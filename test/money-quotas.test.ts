import { inject, describe, expect, it, vi } from 'vitest';
import { usageEventV2Defaults, alertId, quotaPeriod, type UsageEvent } from '@meterline/domain';
import type { QuotaAlertRecord } from '@meterline/contract';
import { QuotaChecker, type QuotaCheck } from '@meterline/quotas';
import { seededRandom, waitFor } from '@meterline/testing';
import { ReferencePrices } from './support/reference-prices';
import { streamRig, type StreamRig } from './support/stream';

// Quotas on money through the real pipeline: shim -> Kafka -> rollup consumer (pricing on the
// shipped books) -> apply-usage-batch-2.lua -> Redis counters -> quota-alerts, checkQuota.
// Expected crossings come from an independent price reference and bigint sums in event order
// (one tenant's events share a partition, so the consumer applies them in that order).
vi.setConfig({ testTimeout: 300_000 });

const brokers = inject('kafkaBrokers');
const EXACT = 2n ** 53n;

function call(tenant: string, at: number, i: number, provider: string, model: string, tokens: { input: number; cacheRead: number; output: number }): UsageEvent {
  return {
    ...usageEventV2Defaults(),
    event_id: `${tenant}-${at}-${i}`, occurred_at: at + i, tenant_id: tenant, project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
    provider, model, operation: 'chat', input_tokens: tokens.input, cache_read_tokens: tokens.cacheRead, cache_write_tokens: 0, output_tokens: tokens.output, reasoning_tokens: 0,
    latency_ms: 900, ttft_ms: 200, status_code: 200, error_type: null, metadata: {},
  };
}

/** Running sums of an amount over the events, in order. */
function runningSums(events: readonly UsageEvent[], amount: (e: UsageEvent) => bigint): bigint[] {
  let sum = 0n;
  return events.map((e) => (sum += amount(e)));
}

interface ExpectedAlert { quota_id: string; threshold_percent: number; used: string; crossed_at: number; limit: string; metric: string }

/** For each threshold, the first event whose running sum reaches limit * t / 100 (bigints only). */
function expectedAlerts(quotaId: string, metric: string, limit: bigint, thresholds: readonly number[], sums: readonly bigint[], events: readonly UsageEvent[], upTo = events.length): ExpectedAlert[] {
  const out: ExpectedAlert[] = [];
  for (const t of thresholds) {
    const i = sums.findIndex((s) => s * 100n >= limit * BigInt(t));
    if (i !== -1 && i < upTo) out.push({ quota_id: quotaId, threshold_percent: t, used: sums[i]!.toString(), crossed_at: events[i]!.occurred_at, limit: limit.toString(), metric });
  }
  return out;
}

const comparable = (alerts: readonly QuotaAlertRecord[]): ExpectedAlert[] =>
  alerts
    .map(({ quota_id, threshold_percent, used, crossed_at, limit, metric }) => ({ quota_id, threshold_percent, used, crossed_at, limit, metric }))
    .sort((a, b) => a.quota_id.localeCompare(b.quota_id) || a.threshold_percent - b.threshold_percent);

async function recordAndSettle(rig: StreamRig, events: readonly UsageEvent[]): Promise<void> {
  for (const e of events) rig.meter.record(e);
  await rig.meter.flush();
  // The consumer commits only after the outbox (rollups and alerts) is published: lag 0 means
  // every alert of these events is on the topic.
  await waitFor(() => rig.groupLag(rig.groupId, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the rollup consumer to commit everything', timeoutMs: 120_000, intervalMs: 200 });
}

function statusOf(check: QuotaCheck, quotaId: string) {
  const status = check.quotas.find((q) => q.quota_id === quotaId);
  if (!status) throw new Error(`checkQuota has no ${quotaId}: ${JSON.stringify(check.quotas.map((q) => q.quota_id))}`);
  return status;
}

describe('money quotas in the stream', () => {
  it('a USD-per-month charge quota ($100, hard) crosses 50/80/100%: one alert per threshold with the exact used and limit; checkQuota reports the exact remaining', async () => {
    const rig = await streamRig(brokers, 2);
    try {
      const tenant = 'money-a'; // list prices: the rate card, no overrides
      const limit = 100n * 10n ** 12n; // $100 in pico-USD
      await rig.quotaStore.set({ tenant_id: tenant, quota_id: 'monthly-usd', metric: 'charge_pico_usd', period: 'month', limit: limit.toString(), enforcement: 'hard' });
      await rig.startConsumer();
      const at = Date.now();
      const checker = new QuotaChecker(rig.redis, { definitionsTtlMs: 0, clock: () => at + 1_000 });
      const random = seededRandom(41);
      const events = Array.from({ length: 120 }, (_, i) => call(tenant, at, i, 'openai', 'gpt-4o', {
        input: 100_000 + Math.floor(random() * 300_000), cacheRead: Math.floor(random() * 100_000), output: 20_000 + Math.floor(random() * 130_000),
      }));
      const reference = new ReferencePrices(rig.pricingDir);
      const sums = runningSums(events, (e) => reference.price(e).charge!);
      const k80 = sums.findIndex((s) => s * 100n >= limit * 80n);
      const k100 = sums.findIndex((s) => s >= limit);
      expect(k80).toBeGreaterThan(0);
      expect(k100).toBeGreaterThan(k80);

      // Up to the event that crosses 80%: two alerts, and checkQuota's remaining to the pico.
      await recordAndSettle(rig, events.slice(0, k80 + 1));
      const first = await rig.readAlerts();
      expect(comparable(first)).toEqual(expectedAlerts('monthly-usd', 'charge_pico_usd', limit, [50, 80, 100], sums, events, k80 + 1));
      expect(first.map((a) => a.threshold_percent).sort((a, b) => a - b)).toEqual([50, 80]);
      let status = statusOf(await checker.checkQuota(tenant), 'monthly-usd');
      expect(status).toMatchObject({ used: sums[k80], remaining: limit - sums[k80]!, exceeded: false, allowed: true, limit });

      // The rest: the 100% alert once, at the crossing event; the hard quota now refuses.
      await recordAndSettle(rig, events.slice(k80 + 1));
      const all = await rig.readAlerts();
      const period = quotaPeriod({ period: 'month', time_zone: 'UTC' }, at);
      expect(comparable(all)).toEqual(expectedAlerts('monthly-usd', 'charge_pico_usd', limit, [50, 80, 100], sums, events));
      expect(all.map((a) => a.alert_id).sort()).toEqual([50, 80, 100].map((t) => alertId(tenant, 'monthly-usd', period.label, t)).sort());
      expect(all.every((a) => a.tenant_id === tenant && a.enforcement === 'hard' && a.period_label === period.label)).toBe(true);
      expect(all.find((a) => a.threshold_percent === 100)!.crossed_at).toBe(events[k100]!.occurred_at);
      const check = await checker.checkQuota(tenant);
      status = statusOf(check, 'monthly-usd');
      expect(status).toMatchObject({ used: sums.at(-1), remaining: 0n, exceeded: true, allowed: false });
      expect(check.allowed).toBe(false);
    } finally {
      await rig.close();
    }
  });

  it('limits past 2^53 pico-USD (> $9,007): thresholds compared exactly (just below, exactly at, just above), alerts once, counters and checkQuota exact', async () => {
    const rig = await streamRig(brokers, 2);
    try {
      const tenant = 'money-b'; // list prices
      const at = Date.now();
      const random = seededRandom(43);
      // Big calls on an expensive model: $3,000-$11,000 each, so a few events pass 2^53 pico.
      const events = Array.from({ length: 16 }, (_, i) => call(tenant, at, i, 'anthropic', 'claude-opus-4', {
        input: 5_000_000 + Math.floor(random() * 25_000_000), cacheRead: Math.floor(random() * 10_000_000), output: 30_000_000 + Math.floor(random() * 80_000_000),
      }));
      const reference = new ReferencePrices(rig.pricingDir);
      const charges = runningSums(events, (e) => reference.price(e).charge!);
      const costs = runningSums(events, (e) => reference.price(e).cost!);

      // 'charge-above': the limit is one pico above the running charge after event k (past
      // 2^55), so event k leaves the counter just below it and event k + 1 crosses it. As
      // doubles the two are equal: a comparison in Lua numbers would alert at event k.
      const k = charges.findIndex((s) => s >= 2n ** 55n);
      expect(k).toBeGreaterThan(0);
      expect(k).toBeLessThan(events.length - 2);
      const aboveLimit = charges[k]! + 1n;
      expect(Number(aboveLimit)).toBe(Number(charges[k]!));
      // 'cost-exact': the limit is exactly the running cost after event j (past 2^54).
      const j = costs.findIndex((s) => s >= 2n ** 54n);
      const exactLimit = costs[j]!;
      // 'charge-headroom': never reached; its remaining is a difference of numbers past 2^53.
      const headroomLimit = 2n ** 62n + 12_345n;
      expect([aboveLimit, exactLimit, headroomLimit].every((l) => l > EXACT)).toBe(true);
      const quotas = [
        { quota_id: 'charge-above', metric: 'charge_pico_usd', limit: aboveLimit, sums: charges },
        { quota_id: 'cost-exact', metric: 'cost_pico_usd', limit: exactLimit, sums: costs },
        { quota_id: 'charge-headroom', metric: 'charge_pico_usd', limit: headroomLimit, sums: charges },
      ] as const;
      for (const q of quotas) await rig.quotaStore.set({ tenant_id: tenant, quota_id: q.quota_id, metric: q.metric, period: 'month', limit: q.limit.toString(), enforcement: 'soft' });
      await rig.startConsumer();
      const checker = new QuotaChecker(rig.redis, { definitionsTtlMs: 0, clock: () => at + 1_000 });
      const expected = (upTo: number): ExpectedAlert[] =>
        quotas.flatMap((q) => expectedAlerts(q.quota_id, q.metric, q.limit, [50, 80, 100], q.sums, events, upTo)).sort((a, b) => a.quota_id.localeCompare(b.quota_id) || a.threshold_percent - b.threshold_percent);

      // Through event k: 'charge-above' is one pico short of its limit.
      await recordAndSettle(rig, events.slice(0, k + 1));
      expect(comparable(await rig.readAlerts())).toEqual(expected(k + 1));
      let check = await checker.checkQuota(tenant);
      expect(statusOf(check, 'charge-above')).toMatchObject({ used: charges[k], remaining: 1n, exceeded: false });
      expect(statusOf(check, 'charge-headroom')).toMatchObject({ used: charges[k], remaining: headroomLimit - charges[k]! });

      // The rest: event k + 1 crosses 'charge-above', event j reaches 'cost-exact' exactly.
      await recordAndSettle(rig, events.slice(k + 1));
      const alerts = await rig.readAlerts();
      expect(comparable(alerts)).toEqual(expected(events.length));
      expect(alerts.find((a) => a.quota_id === 'charge-above' && a.threshold_percent === 100)).toMatchObject({ used: charges[k + 1]!.toString(), crossed_at: events[k + 1]!.occurred_at });
      expect(alerts.find((a) => a.quota_id === 'cost-exact' && a.threshold_percent === 100)).toMatchObject({ used: exactLimit.toString(), crossed_at: events[j]!.occurred_at });
      expect(alerts.filter((a) => a.quota_id === 'charge-headroom')).toEqual([]);
      expect(new Set(alerts.map((a) => a.alert_id)).size).toBe(alerts.length);
      check = await checker.checkQuota(tenant);
      expect(statusOf(check, 'charge-above')).toMatchObject({ used: charges.at(-1), remaining: 0n, exceeded: true });
      expect(statusOf(check, 'cost-exact')).toMatchObject({ used: costs.at(-1), remaining: 0n, exceeded: true });
      expect(statusOf(check, 'charge-headroom')).toMatchObject({ used: charges.at(-1), remaining: headroomLimit - charges.at(-1)!, exceeded: false });
      expect(charges.at(-1)! > 2n ** 56n).toBe(true);
    } finally {
      await rig.close();
    }
  });
});
