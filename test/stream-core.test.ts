import { inject, describe, expect, it, vi } from 'vitest';

// Each run moves 200,000 events through Kafka, Redis and ClickHouse on two cores.
vi.setConfig({ testTimeout: 360_000 });
import { usageEventV2Defaults, type UsageEvent } from '@meterline/domain';
import { alertId, quotaPeriod } from '@meterline/domain';
import { QuotaChecker } from '@meterline/quotas';
import { redisKeys, streamLayout } from '@meterline/redis';
import { waitFor, type ManagedProcess } from '@meterline/testing';
import { ClickHouseSink, usageEventsStream } from '@meterline/clickhouse-sink';
import { UsageEventsTable, reconcileUsage } from '@meterline/clickhouse';
import { ensureTopics } from '@meterline/kafka';
import { spawnApp } from './support/child-app';
import { faultRandom } from './support/fault-seed';
import { testLog } from './support/raw-path';
import { HOUR, generateStream, hourlyReference, streamRig, totalTokensOf, type StreamRig } from './support/stream';

const brokers = inject('kafkaBrokers');
const tenants = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];
// One dataset for every run in this file: 200,000 events over 48 h of event time, 5% up to
// 3 h late, 2% sent twice.
const stream = generateStream({ events: 200_000, tenants, seed: 5 });

/** Like waitFor, but returns the last value instead of throwing: the caller's assertions say what differs. */
async function waitForOrLast<T>(probe: () => Promise<T>, done: (value: T) => boolean, options: { what: string; timeoutMs: number; intervalMs: number }): Promise<T> {
  try {
    return await waitFor(probe, done, options);
  } catch {
    return probe();
  }
}

async function defineQuotas(rig: StreamRig, limit: bigint): Promise<void> {
  for (const tenant of tenants) {
    await rig.quotaStore.set({ tenant_id: tenant, quota_id: 'daily-total', metric: 'total_tokens', period: 'day', limit: limit.toString(), enforcement: 'soft' });
    await rig.quotaStore.set({ tenant_id: tenant, quota_id: 'monthly-total', metric: 'total_tokens', period: 'month', limit: limit.toString(), enforcement: 'soft' });
  }
}

async function recordAll(rig: StreamRig, events: readonly UsageEvent[], pauseEvery = 20_000, onPause?: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < events.length; i++) {
    rig.meter.record(events[i]!);
    if (i % pauseEvery === pauseEvery - 1) {
      await rig.meter.flush();
      await onPause?.(i);
    }
  }
  await rig.meter.flush();
}

/** A ClickHouse map of counts as numbers, keys sorted (the reference's key order is arrival order). */
function numbers(map: Record<string, string | number>): Record<string, number> {
  const entries: [string, number][] = Object.entries(map).map(([k, v]) => [k, Number(v)]);
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Every hourly rollup in ClickHouse and every day and month counter in Redis equal the reference. */
async function expectExact(rig: StreamRig, distinct: readonly UsageEvent[]): Promise<void> {
  await waitFor(() => rig.groupLag(rig.groupId, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the rollup consumer to commit everything', timeoutMs: 240_000 });
  const reference = hourlyReference(distinct);
  const expected = [...reference.values()].map((r) => ({ ...r, errors_by_class: numbers(r.errors_by_class), requests_by_status_class: numbers(r.requests_by_status_class) })).sort((a, b) => (a.key < b.key ? -1 : 1));
  const actual = await waitForOrLast(
    async () => (await rig.rollups.hourly()).map((r) => ({
      key: [r.tenant_id, r.hour, r.project_id, r.provider, r.model, r.operation].join('|'),
      requests: Number(r.requests), input_tokens: Number(r.input_tokens), cache_read_tokens: Number(r.cache_read_tokens), cache_write_tokens: Number(r.cache_write_tokens),
      output_tokens: Number(r.output_tokens), reasoning_tokens: Number(r.reasoning_tokens), errors: Number(r.errors),
      errors_by_class: numbers(r.errors_by_class), requests_by_status_class: numbers(r.requests_by_status_class),
      latency_ms_sum: Number(r.latency_ms_sum), latency_ms_max: Number(r.latency_ms_max), latency_count: Number(r.latency_count),
      ttft_ms_sum: Number(r.ttft_ms_sum), ttft_ms_max: Number(r.ttft_ms_max), ttft_count: Number(r.ttft_count),
    })),
    (rows) => rows.reduce((n, r) => n + r.requests, 0) === distinct.length,
    { what: 'every rollup in ClickHouse', timeoutMs: 60_000, intervalMs: 500 },
  );
  // On a mismatch, name the groups that differ (the full lists are thousands of rows).
  const actualByKey = new Map(actual.map((r) => [r.key, r]));
  const mismatched = expected.filter((e) => JSON.stringify(actualByKey.get(e.key)) !== JSON.stringify(e)).slice(0, 10).map((e) => ({ expected: e, actual: actualByKey.get(e.key) }));
  expect(mismatched).toEqual([]);
  expect(actual.length).toBe(expected.length);
  expect([...actual].sort((a, b) => (a.key < b.key ? -1 : 1))).toEqual(expected);

  // Day and month counters in Redis.
  const counters = new Map<string, bigint>();
  for (const event of distinct) {
    for (const [quota, period] of [['daily-total', 'day'], ['monthly-total', 'month']] as const) {
      const key = redisKeys.quotaCounter(event.tenant_id, quota, quotaPeriod({ period, time_zone: 'UTC' }, event.occurred_at).start);
      counters.set(key, (counters.get(key) ?? 0n) + totalTokensOf(event));
    }
  }
  const keys = [...counters.keys()];
  const used = await Promise.all(keys.map((key) => rig.redis.hget(key, streamLayout.quotaCounter.used)));
  expect(Object.fromEntries(keys.map((key, i) => [key, used[i]]))).toEqual(Object.fromEntries(keys.map((key) => [key, counters.get(key)!.toString()])));
}

describe('stream core: hourly rollups and quota counters, exactly once', () => {
  it('200,000 events over 48 h, 5% late, 2% duplicated: every hourly rollup and counter equals the reference', async () => {
    const rig = await streamRig(brokers);
    try {
      await defineQuotas(rig, 10n ** 15n);
      const consumer = await rig.startConsumer();
      await rig.startRollupSink();
      await recordAll(rig, stream.arrivals);
      await expectExact(rig, stream.distinct);
      const stats = consumer.stats();
      expect(stats.applied).toBe(stream.distinct.length);
      expect(stats.duplicates).toBe(stream.arrivals.length - stream.distinct.length);
      expect(stats.late).toBeGreaterThan(0);
      expect(stats.corrections).toBeGreaterThan(0);
      // The partitions of a fetch are applied together, not one section per partition.
      expect(stats.sections).toBeGreaterThan(0);
      expect(stats.sections).toBeLessThan(stats.batches);
    } finally {
      await rig.close();
    }
  });

  it('stays exact with the rollup consumer SIGKILLed at 5 random moments; no alert missing or doubled', async () => {
    const rig = await streamRig(brokers);
    // Limits sized so that tenants cross thresholds during the run: alerts happen under the kills.
    const perTenantMonth = new Map<string, bigint>();
    for (const e of stream.distinct) perTenantMonth.set(e.tenant_id, (perTenantMonth.get(e.tenant_id) ?? 0n) + totalTokensOf(e));
    const limit = [...perTenantMonth.values()].reduce((a, b) => (a < b ? a : b)) / 2n;
    let child: ManagedProcess | undefined;
    try {
      await defineQuotas(rig, limit);
      await rig.startRollupSink();
      child = await spawnApp('apps/rollup-consumer/src/main.ts', [], rig.childEnv(), 'rollup-consumer');
      const killAt = new Set([1, 3, 5, 6, 8].map((n) => n * 20_000 - 1));
      const faults = faultRandom('rollup-consumer kills');
      let kills = 0;
      await recordAll(rig, stream.arrivals, 20_000, async (i) => {
        if (!killAt.has(i)) return;
        await new Promise((r) => setTimeout(r, faults.between(200, 1_000)));
        await child!.kill();
        kills++;
        child = await spawnApp('apps/rollup-consumer/src/main.ts', [], rig.childEnv(), 'rollup-consumer');
      });
      expect(kills).toBe(5);
      await expectExact(rig, stream.distinct);

      // Alerts: exactly the crossings the reference predicts, each once.
      const expectedAlerts = new Set<string>();
      const used = new Map<string, bigint>();
      for (const e of stream.distinct) {
        for (const [quota, period] of [['daily-total', 'day'], ['monthly-total', 'month']] as const) {
          const p = quotaPeriod({ period, time_zone: 'UTC' }, e.occurred_at);
          const key = `${e.tenant_id}|${quota}|${p.label}`;
          const total = (used.get(key) ?? 0n) + totalTokensOf(e);
          used.set(key, total);
          for (const t of [50, 80, 100]) if (total * 100n >= limit * BigInt(t)) expectedAlerts.add(alertId(e.tenant_id, quota, p.label, t));
        }
      }
      const alerts = await waitFor(() => rig.readAlerts(), (a) => a.length >= expectedAlerts.size, { what: 'all alerts', timeoutMs: 60_000 });
      expect(alerts.length).toBe(expectedAlerts.size);
      expect(new Set(alerts.map((a) => a.alert_id))).toEqual(expectedAlerts);
    } finally {
      if (child?.isRunning()) await child.stop(20_000);
      await rig.close();
    }
  });

  it('two consumer instances in one group, one killed during load: exact', async () => {
    const rig = await streamRig(brokers);
    const children: ManagedProcess[] = [];
    try {
      await defineQuotas(rig, 10n ** 15n);
      await rig.startRollupSink();
      children.push(await spawnApp('apps/rollup-consumer/src/main.ts', [], rig.childEnv(), 'rollup-a'));
      children.push(await spawnApp('apps/rollup-consumer/src/main.ts', [], rig.childEnv(), 'rollup-b'));
      await recordAll(rig, stream.arrivals, 50_000, async (i) => {
        if (i === 99_999) await children[1]!.kill();
      });
      expect(children[1]!.isRunning()).toBe(false);
      await expectExact(rig, stream.distinct);
    } finally {
      for (const child of children) if (child.isRunning()) await child.stop(20_000);
      await rig.close();
    }
  });

  it('a monthly quota crossing 50, 80 and 100% gives exactly three alerts; a hard quota then says not allowed', async () => {
    const rig = await streamRig(brokers, 2);
    try {
      await rig.quotaStore.set({ tenant_id: 'acme', quota_id: 'monthly-tokens', metric: 'total_tokens', period: 'month', limit: '10000000', thresholds: [50, 80, 100], enforcement: 'hard' });
      await rig.startConsumer();
      const checker = new QuotaChecker(rig.redis, { definitionsTtlMs: 0 });
      const now = Date.now();
      const call = (i: number, tokens: number): UsageEvent => ({
        ...usageEventV2Defaults(),
        event_id: `q-${i}`, occurred_at: now - 1_000 + i, tenant_id: 'acme', project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
        provider: 'openai', model: 'gpt-4o', operation: 'chat', input_tokens: tokens, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0,
        latency_ms: 100, ttft_ms: null, status_code: 200, error_type: null, metadata: {},
      });
      // 4.9M, then 0.2M (crosses 50%), 3M (crosses 80%), 2M (crosses 100%), then more.
      const amounts = [4_900_000, 200_000, 3_000_000, 2_000_000, 500_000, 100_000];
      let before = await checker.checkQuota('acme');
      expect(before.allowed).toBe(true);
      for (const [i, tokens] of amounts.entries()) rig.meter.record(call(i, tokens));
      await rig.meter.flush();
      await waitFor(() => rig.groupLag(rig.groupId, rig.topics.usageEvents), (lag) => lag === 0, { what: 'consumer caught up' });
      // Alerts are published before their batch is committed: at lag 0 every alert is on the topic.
      const all = await rig.readAlerts();
      expect(all.map((a) => a.threshold_percent).sort((a, b) => a - b)).toEqual([50, 80, 100]);
      expect(all.every((a) => a.tenant_id === 'acme' && a.quota_id === 'monthly-tokens' && a.limit === '10000000')).toBe(true);
      const at100 = all.find((a) => a.threshold_percent === 100)!;
      expect(at100.used).toBe('10100000');
      expect(at100.crossed_at).toBe(now - 1_000 + 3);
      before = await checker.checkQuota('acme');
      expect(before.allowed).toBe(false);
      expect(before.quotas[0]).toMatchObject({ quota_id: 'monthly-tokens', used: 10_700_000n, remaining: 0n, exceeded: true, allowed: false });
      expect(before.quotas[0]!.resets_at).toBe(quotaPeriod({ period: 'month', time_zone: 'UTC' }, now).end);
    } finally {
      await rig.close();
    }
  });
});

it('Redis restarted without persistence, then flushed, mid-run: the state is rebuilt and exact at the end', async () => {
  const rig = await streamRig(brokers);
  const rawGroup = `${rig.groupId}-raw`;
  const rawSink = new ClickHouseSink(rig.kafka, usageEventsStream(new UsageEventsTable(rig.handle), {}, rig.prices), { groupId: rawGroup, topic: rig.topics.usageEvents, dlqTopic: `${rig.topics.usageEvents}.dlq`, flushRows: 5_000, flushMs: 200, sessionTimeoutMs: 10_000 }, testLog);
  try {
    await ensureTopics(rig.kafka, [{ topic: `${rig.topics.usageEvents}.dlq`, numPartitions: 1 }], testLog);
    await rawSink.start();
    await defineQuotas(rig, 10n ** 15n);
    const consumer = await rig.startConsumer(rawGroup);
    await rig.startRollupSink();
    await recordAll(rig, stream.arrivals, 20_000, async (i) => {
      if (i === 79_999) await rig.redisServer.restart(); // loses everything: no persistence
      if (i === 139_999) {
        // The first loss is rebuilt (the events recorded since the restart reveal it) before
        // the second, so each loss is seen and rebuilt on its own.
        await waitFor(() => consumer.stats().rebuilds, (rebuilds) => rebuilds >= 1, { what: 'the rebuild after the Redis restart', timeoutMs: 60_000 });
        await rig.redis.flushall();
      }
    });
    await expectExact(rig, stream.distinct);
    expect(consumer.stats().rebuilds).toBeGreaterThanOrEqual(2);

    // Reconciliation: raw events and rollups agree; a forced difference is reported.
    await waitFor(() => rig.groupLag(rawGroup, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the raw sink to catch up' });
    const from = stream.distinct.reduce((m, e) => Math.min(m, e.occurred_at), Number.POSITIVE_INFINITY);
    const to = stream.distinct.reduce((m, e) => Math.max(m, e.occurred_at), 0) + 1;
    const clean = await reconcileUsage(rig.handle, 'acme', from, to);
    expect(clean.differences).toEqual([]);
    expect(Number(clean.raw_events)).toBe(stream.distinct.filter((e) => e.tenant_id === 'acme').length);
    const stray = { ...stream.distinct.find((e) => e.tenant_id === 'acme')!, event_id: 'stray-raw-only', input_tokens: 7 };
    await new UsageEventsTable(rig.handle).insert([{ ...stray, source_partition: 0, source_offset: '999999999' }], 'stray');
    const dirty = await reconcileUsage(rig.handle, 'acme', from, to);
    expect(dirty.differences).toContainEqual(expect.objectContaining({ measure: 'requests', provider: stray.provider, model: stray.model }));
    expect(dirty.differences).toContainEqual(expect.objectContaining({ measure: 'input_tokens' }));
  } finally {
    await rawSink.stop();
    await rig.close();
  }
});

export { HOUR };
