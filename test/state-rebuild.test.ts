import { createHash } from 'node:crypto';
import { inject, describe, expect, it, vi } from 'vitest';
import { parseQuotaDefinition, type QuotaDefinition } from '@meterline/domain';
import { ClickHouseSink, usageEventsStream } from '@meterline/clickhouse-sink';
import { UsageEventsTable, quoteIdentifier } from '@meterline/clickhouse';
import { ensureTopics } from '@meterline/kafka';
import { MeterlineError } from '@meterline/platform';
import { Lease, redisKeys, streamLayout, type ScriptedRedis } from '@meterline/redis';
import { rebuildStreamState, type RebuildDeps } from '@meterline/rollup-consumer';
import { waitFor } from '@meterline/testing';
import { testLog } from './support/raw-path';
import { ALLOWED_LATENESS_MS, HOUR, generateStream, streamRig, type StreamRig } from './support/stream';

// The Redis-loss rebuild reads only what the stream can still read (dedup window, open hours,
// quota periods in force, quota totals of closed hours from the rollups), under a lease.
vi.setConfig({ testTimeout: 300_000 });

const brokers = inject('kafkaBrokers');
const DAY = 86_400_000;
const WINDOW_S = 86_400;

function deps(rig: StreamRig, rawSinkGroupId: string, quotas: QuotaDefinition[], overrides: Partial<RebuildDeps> = {}): RebuildDeps {
  return {
    kafka: rig.kafka, redis: rig.redis, clickhouse: rig.handle, log: testLog, topic: rig.topics.usageEvents, groupId: rig.groupId, rawSinkGroupId,
    rollupsTopic: rig.topics.usageRollups, rollupSinkGroupId: rig.rollupSinkGroupId, alertsTopic: rig.topics.quotaAlerts,
    allowedLatenessMs: ALLOWED_LATENESS_MS, dedupWindowSeconds: WINDOW_S, quotas: () => quotas, price: (event) => rig.prices.price(event), ...overrides,
  };
}

const quota = (fields: Record<string, unknown>): QuotaDefinition => parseQuotaDefinition({ enforcement: 'soft', updated_at: 0, ...fields });

/**
 * Everything of the stream state the stream reads, normalised where a rebuild may differ without
 * changing a decision: alert flags by presence (the value is the crossing offset or "rebuilt"),
 * watermark offsets apart (the rebuild sets the cut), `late` of open rollups (a metric the
 * rebuild recounts), TTLs by presence. Not state: the outbox (published), definitions' mirror.
 */
async function snapshot(redis: ScriptedRedis): Promise<{ state: Record<string, unknown>; offsets: Record<string, number> }> {
  const state: Record<string, unknown> = {};
  const offsets: Record<string, number> = {};
  const t = streamLayout.tenantKeys;
  let cursor = '0';
  const keys: string[] = [];
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${streamLayout.root}:{*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  for (const key of keys.sort()) {
    const name = key.slice(key.indexOf('}:') + 2);
    if (name.startsWith(t.outbox) || name === t.alertsSending || name === t.quotaDefinitions) continue;
    const ttl = (await redis.pttl(key)) > 0;
    if (name.startsWith(t.watermark)) {
      const wm = await redis.hgetall(key);
      offsets[key] = Number(wm[streamLayout.watermark.offset]);
      state[key] = { maxts: wm[streamLayout.watermark.maxEventTime], ttl };
    } else if (name.startsWith(t.quotaCounter)) {
      const fields = await redis.hgetall(key);
      state[key] = { ttl, ...Object.fromEntries(Object.entries(fields).map(([f, v]) => [f, f.startsWith(streamLayout.quotaCounter.alertFlagPrefix) ? 'flagged' : v])) };
    } else if (name.startsWith(t.rollup)) {
      const { [streamLayout.rollup.late]: _late, ...fields } = await redis.hgetall(key);
      state[key] = { ttl, ...fields };
    } else if (name.startsWith(t.seen)) state[key] = { ttl, members: (await redis.smembers(key)).sort() };
    else if (name.startsWith(t.openHours)) state[key] = { ttl, members: await redis.zrange(key, '0', '-1', 'WITHSCORES') };
    else state[key] = { unexpected: await redis.type(key) };
  }
  // Field order as Redis lists it differs between writers: sort for comparison.
  const sorted = (value: unknown): unknown => (value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([x], [y]) => (x < y ? -1 : 1))) : value);
  return { state: Object.fromEntries(Object.entries(state).map(([k, v]) => [k, sorted(v)])), offsets };
}

async function setOffsets(rig: StreamRig, groupId: string, topic: string, offsets: ReadonlyMap<number, bigint>): Promise<void> {
  const admin = rig.kafka.admin();
  await admin.connect();
  try {
    await admin.setOffsets({ groupId, topic, partitions: [...offsets].map(([partition, offset]) => ({ partition, offset: offset.toString() })) });
  } finally {
    await admin.disconnect();
  }
}

describe('Redis state rebuild', () => {
  it('through the pipeline: what Redis held before the loss, it holds after the rebuild', async () => {
    const rig = await streamRig(brokers, 3);
    const rawGroup = `${rig.groupId}-raw`;
    const rawSink = new ClickHouseSink(rig.kafka, usageEventsStream(new UsageEventsTable(rig.handle), {}, rig.prices), { groupId: rawGroup, topic: rig.topics.usageEvents, dlqTopic: `${rig.topics.usageEvents}.dlq`, flushRows: 5_000, flushMs: 200, sessionTimeoutMs: 10_000 }, testLog);
    try {
      const tenants = ['acme', 'globex', 'initech'];
      const stream = generateStream({ events: 30_000, tenants, seed: 16 });
      // A third of the calls through one API key, for a quota the rollups cannot answer.
      const key = createHash('sha256').update('key-1').digest('hex');
      for (const [i, event] of stream.distinct.entries()) if (i % 3 === 0) event.api_key_hash = key;
      const model = stream.distinct[0]!.model;
      const quotas = tenants.flatMap((tenant) => [
        quota({ tenant_id: tenant, quota_id: 'daily-tokens', metric: 'total_tokens', period: 'day', limit: '5000000', thresholds: [50, 80, 100] }),
        quota({ tenant_id: tenant, quota_id: 'monthly-requests', metric: 'requests', period: 'month', limit: '1000000000' }),
        quota({ tenant_id: tenant, quota_id: 'monthly-cost', metric: 'cost_pico_usd', period: 'month', limit: '1000000000000000' }),
        quota({ tenant_id: tenant, quota_id: 'search-daily', metric: 'prompt_tokens', period: 'day', scope: { project_id: 'search' }, limit: '1000000000' }),
        quota({ tenant_id: tenant, quota_id: 'model-daily', metric: 'completion_tokens', period: 'day', scope: { model }, limit: '1000000000' }),
        quota({ tenant_id: tenant, quota_id: 'key-daily', metric: 'total_tokens', period: 'day', scope: { api_key_hash: key }, limit: '1000000000' }),
        quota({ tenant_id: tenant, quota_id: 'kolkata-daily', metric: 'requests', period: 'day', time_zone: 'Asia/Kolkata', limit: '1000000000' }),
      ]);
      for (const q of quotas) await rig.quotaStore.set({ ...q, limit: q.limit.toString() });
      await ensureTopics(rig.kafka, [{ topic: `${rig.topics.usageEvents}.dlq`, numPartitions: 1 }], testLog);
      await rawSink.start();
      await rig.startConsumer(rawGroup);
      await rig.startRollupSink();
      // Quotas apply from when the consumer sees them: wait for the definitions' mirror.
      await waitFor(() => Promise.all(tenants.map((t) => rig.redis.hlen(redisKeys.quotaDefinitions(t)))), (n) => n.every((c) => c === quotas.length / tenants.length), { what: 'quota definitions mirrored' });
      for (const event of stream.arrivals) rig.meter.record(event);
      await rig.meter.flush();
      for (const [group, topic] of [[rig.groupId, rig.topics.usageEvents], [rawGroup, rig.topics.usageEvents], [rig.rollupSinkGroupId, rig.topics.usageRollups]] as const) {
        await waitFor(() => rig.groupLag(group, topic), (lag) => lag === 0, { what: `${group} caught up`, timeoutMs: 240_000 });
      }
      const before = await snapshot(rig.redis);
      // The stream built every kind of state this test means to compare.
      const kinds = new Set(Object.keys(before.state).map((k) => k.slice(k.indexOf('}:') + 2).replace(/[:\d].*$/, '')));
      expect([...kinds].sort()).toEqual(['open', 'q', 'r', 'seen', 'wm']);
      expect(Object.values(before.state).some((v) => Object.values(v as object).includes('flagged'))).toBe(true);
      // Counters of every quota, those from raw sums (API key, Kolkata days) among them.
      for (const id of ['daily-tokens', 'monthly-requests', 'monthly-cost', 'search-daily', 'model-daily', 'key-daily', 'kolkata-daily']) {
        expect(Object.keys(before.state).filter((k) => k.includes(`:q:${id}:`)).length).toBeGreaterThan(0);
      }

      await rig.redis.flushall();
      const summary = await rebuildStreamState(deps(rig, rawGroup, quotas));
      expect(summary).toBeDefined();
      // Every quota kind was rebuilt from its source: rollup hours, raw quarter hours (API key, Kolkata).
      expect(summary!.rollupSlots).toBeGreaterThan(0);
      expect(summary!.rawSlots).toBeGreaterThan(0);
      const after = await snapshot(rig.redis);
      const differing = Object.keys({ ...before.state, ...after.state }).filter((k) => JSON.stringify(before.state[k]) !== JSON.stringify(after.state[k]));
      expect(differing.slice(0, 5).map((k) => ({ key: k, before: before.state[k], after: after.state[k] }))).toEqual([]);
      expect(after.state).toEqual(before.state);
      // Watermark offsets: the rebuild puts the cut (every offset below it applied); the stream's
      // were each tenant's last offset, at or below it.
      const committed = rig.kafka.admin();
      await committed.connect();
      const [offsets] = await committed.fetchOffsets({ groupId: rig.groupId, topics: [rig.topics.usageEvents] });
      await committed.disconnect();
      for (const [key, offset] of Object.entries(after.offsets)) {
        const partition = Number(key.slice(key.lastIndexOf(':') + 1));
        const cut = Number(offsets!.partitions.find((p) => p.partition === partition)!.offset);
        expect(offset).toBe(cut - 1);
        expect(before.offsets[key]).toBeLessThanOrEqual(cut - 1);
      }
      expect(await rig.redis.exists(redisKeys.epoch())).toBe(1);
    } finally {
      await rawSink.stop();
      await rig.close();
    }
  });

  it('bounded: old raw events are not read (deleted, yet counters exact from the rollups); a dead holder\'s lease is taken over', async () => {
    const rig = await streamRig(brokers, 2);
    const rawGroup = `${rig.groupId}-raw`;
    try {
      const db = quoteIdentifier(rig.handle.database);
      const now = Date.now();
      const from = now - 30 * DAY;
      const events = 40_000;
      const step = Math.floor((now - 60_000 - from) / events);
      // A month of two tenants (one partition each), ingested when they happened (to the minute).
      await rig.handle.client.command({
        query: `INSERT INTO ${db}.usage_events (event_id_input, occurred_at, tenant_id, project_id, provider, model, operation, input_tokens, output_tokens,
                  latency_ms, status_code, source_partition, source_offset_input, ingested_at, cost_price_version, charge_price_version_input)
                SELECT concat('e-', toString(number)), fromUnixTimestamp64Milli(toInt64(${from} + number * ${step}), 'UTC'), concat('tenant-', toString(number % 2)),
                       ['search', 'chat'][1 + intDiv(number, 7) % 2], 'openai', 'gpt-4o', 'chat', 100 + number % 900, 10 + number % 50,
                       100 + number % 700, 200, number % 2, intDiv(number, 2), toStartOfMinute(fromUnixTimestamp64Milli(toInt64(${from} + number * ${step} + 20000), 'UTC')), '', ''
                FROM numbers(${events})`,
      });
      // The rollups the stream would have published for them (one cumulative row per hour).
      await rig.handle.client.command({
        query: `INSERT INTO ${db}.usage_rollups_hourly (kind, tenant_id, project_id, provider, model, operation, hour, source_partition, correction_offset, version,
                  requests, input_tokens, output_tokens, latency_ms_sum, latency_ms_max, latency_count)
                SELECT 'cumulative', tenant_id, ifNull(project_id, ''), provider, model, operation, toStartOfHour(occurred_at), source_partition, -1, max(source_offset),
                       count(), sum(input_tokens), sum(output_tokens), sum(latency_ms), max(latency_ms), count(latency_ms)
                FROM ${db}.usage_events GROUP BY ALL`,
      });
      const cut = new Map([[0, BigInt(events / 2)], [1, BigInt(events / 2)]]);
      await setOffsets(rig, rig.groupId, rig.topics.usageEvents, cut);
      await setOffsets(rig, rawGroup, rig.topics.usageEvents, cut);
      const quotas = ['tenant-0', 'tenant-1'].flatMap((tenant) => [
        quota({ tenant_id: tenant, quota_id: 'daily', metric: 'total_tokens', period: 'day', limit: '1000000000' }),
        quota({ tenant_id: tenant, quota_id: 'monthly', metric: 'requests', period: 'month', limit: '1000000000' }),
        quota({ tenant_id: tenant, quota_id: 'search-monthly', metric: 'prompt_tokens', period: 'month', scope: { project_id: 'search' }, limit: '1000' }),
      ]);
      // An independent reference from the raw rows, before the old ones go.
      const reference = new Map<string, string>();
      for (const [quotaId, period, amount, where] of [['daily', 'toStartOfDay', 'sum(input_tokens + output_tokens)', 'true'], ['monthly', 'toStartOfMonth', 'count()', 'true'], ['search-monthly', 'toStartOfMonth', 'sum(input_tokens)', `project_id = 'search'`]] as const) {
        const rows = await (await rig.handle.client.query({ query: `SELECT tenant_id, toUnixTimestamp(toDateTime(${period}(occurred_at), 'UTC')) * 1000 AS start, toString(${amount}) AS used FROM ${db}.usage_events FINAL WHERE ${where} GROUP BY tenant_id, start`, format: 'JSONEachRow' })).json<{ tenant_id: string; start: string; used: string }>();
        const end = (start: number): number => (quotaId === 'daily' ? start + DAY : Date.UTC(new Date(start).getUTCFullYear(), new Date(start).getUTCMonth() + 1, 1));
        for (const r of rows) if (end(Number(r.start)) + 35 * DAY > now) reference.set(redisKeys.quotaCounter(r.tenant_id, quotaId, Number(r.start)), r.used);
      }
      const count = async (where: string): Promise<number> => Number((await (await rig.handle.client.query({ query: `SELECT count() AS n FROM ${db}.usage_events FINAL WHERE ${where}`, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);
      const lastAt = from + (events - 1) * step;
      // Open hours: hour + 1h + lateness after the last event (both tenants end within a step).
      const openFrom = Math.floor((lastAt - step - ALLOWED_LATENESS_MS - HOUR) / HOUR) * HOUR + HOUR;
      const openEvents = await count(`occurred_at >= fromUnixTimestamp64Milli(${openFrom}, 'UTC')`);
      const inWindow = await count(`(toUnixTimestamp(ingested_at) + 60) * 1000 > ${now - WINDOW_S * 1000}`);
      // What the rebuild may not need: closed hours ingested before the dedup window.
      await rig.handle.client.command({ query: `DELETE FROM ${db}.usage_events WHERE occurred_at < fromUnixTimestamp64Milli(${openFrom}, 'UTC') AND (toUnixTimestamp(ingested_at) + 60) * 1000 <= ${now - WINDOW_S * 1000 - 120_000}`, clickhouse_settings: { mutations_sync: '1' } });
      const left = await count('true');
      expect(left).toBeLessThan(events / 10);

      // A holder that died mid-rebuild: its lease stops being renewed, its partial writes stay.
      const dead = (await Lease.tryAcquire(rig.redis, redisKeys.rebuildLease(), { ttlMs: 1_000 }))!;
      dead.stopRenewing();
      await rig.redis.hset(redisKeys.quotaCounter('tenant-0', 'daily', 0), 'used', '42');
      const both = await Promise.all([0, 1].map(() => rebuildStreamState(deps(rig, rawGroup, quotas, { clock: () => now, timeouts: { leaseTtlMs: 1_000, pollMs: 50 } }))));
      // The two waiters: one took the lapsed lease over and rebuilt, the other waited for it.
      expect(both.filter((s) => s === undefined)).toHaveLength(1);
      const summary = both.find((s) => s !== undefined)!;
      expect(summary.openHourEvents).toBe(openEvents);
      // One read from the earliest first open hour: at most an hour of the other tenant's rows more.
      expect(summary.openHourRowsRead).toBeGreaterThanOrEqual(openEvents);
      expect(summary.openHourRowsRead).toBeLessThanOrEqual(openEvents + Math.ceil(HOUR / step));
      expect(summary.dedupIds).toBe(inWindow);
      expect(summary.openHourEvents + summary.dedupIds).toBeLessThan(events / 10);
      expect(await rig.redis.exists(redisKeys.quotaCounter('tenant-0', 'daily', 0))).toBe(0);
      await expect(dead.confirm()).rejects.toMatchObject({ code: 'LEASE_LOST' });

      const keys = [...reference.keys()];
      const used = await Promise.all(keys.map((k) => rig.redis.hget(k, streamLayout.quotaCounter.used)));
      expect(Object.fromEntries(keys.map((k, i) => [k, used[i]]))).toEqual(Object.fromEntries(reference));
      expect(keys.length).toBeGreaterThan(60); // 31 days and 2 months of each tenant, at least
      // The search quota crossed its 50, 80 and 100% thresholds long ago: flagged, never alerted again.
      const search = keys.find((k) => k.includes('search-monthly'))!;
      expect(await rig.redis.hmget(search, 'a:50', 'a:80', 'a:100')).toEqual(['rebuilt', 'rebuilt', 'rebuilt']);
      // Open hours' rollups in Redis: the raw events of those hours.
      let requests = 0;
      for (const tenant of ['tenant-0', 'tenant-1']) {
        for (const member of await rig.redis.zrange(redisKeys.openHours(tenant, tenant === 'tenant-0' ? 0 : 1), '0', '-1')) {
          const hour = Number(member.slice(0, member.indexOf(':')));
          const key = redisKeys.rollup(tenant, tenant === 'tenant-0' ? 0 : 1, hour, member.slice(member.indexOf(':') + 1));
          requests += Number(await rig.redis.hget(key, streamLayout.rollup.requests));
        }
      }
      expect(requests).toBe(openEvents);
      expect(await rig.redis.exists(redisKeys.rebuildLease())).toBe(0);
    } finally {
      await rig.close();
    }
  });

  it('the wait for the raw sink has a deadline and fails loudly, naming the group and how far behind', async () => {
    const rig = await streamRig(brokers, 2);
    const rawGroup = `${rig.groupId}-raw`;
    try {
      await setOffsets(rig, rig.groupId, rig.topics.usageEvents, new Map([[0, 10n], [1, 4n]]));
      await setOffsets(rig, rawGroup, rig.topics.usageEvents, new Map([[0, 3n], [1, 4n]]));
      const started = Date.now();
      const error = await rebuildStreamState(deps(rig, rawGroup, [], { timeouts: { sinksMs: 500, pollMs: 50 } })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MeterlineError);
      expect(error).toMatchObject({ code: 'REBUILD_SINK_BEHIND', retriable: true });
      expect((error as Error).message).toContain(`raw sink (group ${rawGroup})`);
      expect((error as Error).message).toContain('partition 0 at 3 < 10');
      expect((error as Error).message).not.toContain('partition 1');
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      // Nothing was built, and the lease is free for the next attempt.
      expect(await rig.redis.exists(redisKeys.epoch())).toBe(0);
      expect(await rig.redis.exists(redisKeys.rebuildLease())).toBe(0);
    } finally {
      await rig.close();
    }
  });
});
