import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject, describe, expect, it, vi } from 'vitest';
import { quotaPeriod, type UsageEvent } from '@meterline/domain';
import { ClickHouseSink, usageEventsStream } from '@meterline/clickhouse-sink';
import { UsageEventsTable, quoteIdentifier, rawEventsPage, type RawEventRow } from '@meterline/clickhouse';
import { pricingAlertCodec } from '@meterline/contract';
import { listUnpriced, loadPriceBooks, rerateReportCsv, rerateUsage } from '@meterline/pricing';
import { redisKeys, streamLayout } from '@meterline/redis';
import { uniqueName, usageGenerator, waitFor } from '@meterline/testing';
import { testLog } from './support/raw-path';
import { ReferencePrices } from './support/reference-prices';
import { HOUR, generateStream, streamRig, type StreamRig } from './support/stream';

// A million events through Kafka, the rollup consumer (pricing), Redis and ClickHouse.
vi.setConfig({ testTimeout: 900_000 });

const brokers = inject('kafkaBrokers');

async function recordAll(rig: StreamRig, events: readonly UsageEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i++) {
    rig.meter.record(events[i]!);
    if (i % 20_000 === 19_999) await rig.meter.flush();
  }
  await rig.meter.flush();
}

interface MoneyRow { key: string; cost: string; charge: string; savings: string; unpricedCost: number; unpricedCharge: number; costVersions: string[]; chargeVersions: string[] }

async function hourlyMoney(rig: StreamRig): Promise<MoneyRow[]> {
  const db = quoteIdentifier(rig.handle.database);
  const rows = await (await rig.handle.client.query({
    query: `SELECT tenant_id, toString(hour) AS hour, project_id, provider, model, operation, toString(cost_pico) AS cost, toString(charge_pico) AS charge,
                   toString(cache_savings_pico) AS savings, unpriced_cost_events, unpriced_charge_events, requests, cost_price_versions, charge_price_versions
            FROM ${db}.usage_hourly`,
    format: 'JSONEachRow',
  })).json<Record<string, string | number | string[]>>();
  return rows
    .map((r) => ({
      key: [r.tenant_id, r.hour, r.project_id, r.provider, r.model, r.operation].join('|'), cost: String(r.cost), charge: String(r.charge), savings: String(r.savings),
      unpricedCost: Number(r.unpriced_cost_events), unpricedCharge: Number(r.unpriced_charge_events), costVersions: r.cost_price_versions as string[], chargeVersions: r.charge_price_versions as string[],
    }))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
}

function moneyReference(reference: ReferencePrices, events: readonly UsageEvent[]): MoneyRow[] {
  const out = new Map<string, { cost: bigint; charge: bigint; savings: bigint; unpricedCost: number; unpricedCharge: number; costVersions: Set<string>; chargeVersions: Set<string> }>();
  for (const e of events) {
    const hour = new Date(Math.floor(e.occurred_at / HOUR) * HOUR).toISOString().replace('T', ' ').slice(0, 19);
    const key = [e.tenant_id, hour, e.project_id ?? '', e.provider, e.model, e.operation].join('|');
    let r = out.get(key);
    if (!r) out.set(key, (r = { cost: 0n, charge: 0n, savings: 0n, unpricedCost: 0, unpricedCharge: 0, costVersions: new Set(), chargeVersions: new Set() }));
    const m = reference.price(e);
    r.cost += m.cost ?? 0n;
    r.charge += m.charge ?? 0n;
    r.savings += m.savings;
    if (m.cost === null) r.unpricedCost++;
    if (m.charge === null) r.unpricedCharge++;
    if (m.costVersion !== null) r.costVersions.add(m.costVersion);
    if (m.chargeVersion !== null) r.chargeVersions.add(m.chargeVersion);
  }
  return [...out.entries()].map(([key, r]) => ({ key, cost: r.cost.toString(), charge: r.charge.toString(), savings: r.savings.toString(), unpricedCost: r.unpricedCost, unpricedCharge: r.unpricedCharge, costVersions: [...r.costVersions].sort(), chargeVersions: [...r.chargeVersions].sort() })).sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe('pricing in the stream', () => {
  it('1,000,000 events: cost, charge and cache savings in every hourly rollup and every cost/charge quota counter equal an independent reference', async () => {
    // Tenants with a negotiated price + discount, cost-plus markup + discount, markup only, and list prices.
    const tenants = ['acme-corp', 'globex', 'initech', 'list-a', 'list-b', 'list-c'];
    const rig = await streamRig(brokers);
    try {
      const reference = new ReferencePrices(rig.pricingDir);
      for (const tenant of tenants) {
        await rig.quotaStore.set({ tenant_id: tenant, quota_id: 'monthly-charge', metric: 'charge_pico_usd', period: 'month', limit: (9n * 10n ** 18n).toString(), enforcement: 'soft' });
        await rig.quotaStore.set({ tenant_id: tenant, quota_id: 'daily-cost', metric: 'cost_pico_usd', period: 'day', limit: (9n * 10n ** 18n).toString(), enforcement: 'soft' });
      }
      const stream = generateStream({ events: 1_000_000, tenants, seed: 17 });
      const consumer = await rig.startConsumer();
      await rig.startRollupSink();
      await recordAll(rig, stream.arrivals);
      await waitFor(() => rig.groupLag(rig.groupId, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the rollup consumer to commit everything', timeoutMs: 600_000, intervalMs: 1_000 });
      const expected = moneyReference(reference, stream.distinct);
      const actual = await waitFor(() => hourlyMoney(rig), (rows) => JSON.stringify(rows) === JSON.stringify(expected), { what: 'rollup money equal to the reference', timeoutMs: 120_000, intervalMs: 1_000 }).catch(() => hourlyMoney(rig));
      const byKey = new Map(actual.map((r) => [r.key, r]));
      expect(expected.filter((e) => JSON.stringify(byKey.get(e.key)) !== JSON.stringify(e)).slice(0, 5).map((e) => ({ expected: e, actual: byKey.get(e.key) }))).toEqual([]);
      expect(actual.length).toBe(expected.length);
      // Both sides priced most events; the embedding model has no price on either book.
      const totals = expected.reduce((t, r) => ({ cost: t.cost + BigInt(r.cost), unpriced: t.unpriced + r.unpricedCost }), { cost: 0n, unpriced: 0 });
      expect(totals.cost).toBeGreaterThan(10n ** 15n); // > $1,000: sums well past 2^53 pico
      expect(totals.unpriced).toBeGreaterThan(0);
      expect(consumer.stats().unpriced).toBeGreaterThanOrEqual(totals.unpriced);

      // Cost (daily) and charge (monthly) quota counters in Redis, exact to the pico.
      const counters = new Map<string, bigint>();
      for (const e of stream.distinct) {
        const m = reference.price(e);
        const month = redisKeys.quotaCounter(e.tenant_id, 'monthly-charge', quotaPeriod({ period: 'month', time_zone: 'UTC' }, e.occurred_at).start);
        const day = redisKeys.quotaCounter(e.tenant_id, 'daily-cost', quotaPeriod({ period: 'day', time_zone: 'UTC' }, e.occurred_at).start);
        if (m.charge !== null && m.charge > 0n) counters.set(month, (counters.get(month) ?? 0n) + m.charge);
        if (m.cost !== null && m.cost > 0n) counters.set(day, (counters.get(day) ?? 0n) + m.cost);
      }
      const keys = [...counters.keys()];
      const used = await Promise.all(keys.map((key) => rig.redis.hget(key, streamLayout.quotaCounter.used)));
      expect(Object.fromEntries(keys.map((key, i) => [key, used[i]]))).toEqual(Object.fromEntries(keys.map((key) => [key, counters.get(key)!.toString()])));
    } finally {
      await rig.close();
    }
  });

  it('an unpriced model is counted, listed and alerted once; after its price is added, re-rating prices it and the diff report shows it', async () => {
    const rig = await streamRig(brokers, 3);
    const sinkGroup = uniqueName('raw-sink');
    const rawSink = new ClickHouseSink(rig.kafka, usageEventsStream(new UsageEventsTable(rig.handle), {}, rig.prices), { groupId: sinkGroup, topic: rig.topics.usageEvents, dlqTopic: `${rig.topics.usageEvents}.dlq`, flushRows: 5_000, flushMs: 200, sessionTimeoutMs: 10_000 }, testLog);
    try {
      await rawSink.start();
      const consumer = await rig.startConsumer(sinkGroup);
      await rig.startRollupSink();
      const tenant = 'list-a';
      const end = Math.floor(Date.now() / HOUR) * HOUR;
      const from = end - 3 * HOUR;
      let i = 0;
      const next = usageGenerator({ seed: 23, tenants: [tenant], idPrefix: uniqueName('unpriced'), occurredAt: () => from + (i * 997) % (3 * HOUR) });
      const events: UsageEvent[] = [];
      for (i = 0; i < 3_000; i++) {
        const e = next();
        // Every third event uses a model no book knows.
        events.push(i % 3 === 0 ? { ...e, provider: 'openai', model: 'frontier-x', operation: 'chat' } : e);
      }
      await recordAll(rig, events);
      const unknown = events.filter((e) => e.model === 'frontier-x');
      await waitFor(() => listUnpriced(rig.handle, from, end), (rows) => rows.some((r) => r.model === 'frontier-x' && r.unpriced_cost_events === unknown.length), { what: 'the unpriced model listed', timeoutMs: 120_000, intervalMs: 500 });
      const listed = await listUnpriced(rig.handle, from, end);
      expect(listed.find((r) => r.model === 'frontier-x')).toEqual({ provider: 'openai', model: 'frontier-x', unpriced_cost_events: unknown.length, unpriced_charge_events: unknown.length, tenants: 1 });
      expect(consumer.stats().pricingAlertsPublished).toBeGreaterThanOrEqual(1);

      // Exactly one pricing alert for the model.
      const alerts = await readTopic(rig, rig.topics.pricingAlerts);
      const codec = pricingAlertCodec();
      const forModel = alerts.map((v) => codec.decode(v)).filter((a) => a.model === 'frontier-x');
      expect(forModel).toHaveLength(1);
      expect(forModel[0]).toMatchObject({ kind: 'unpriced_model', provider: 'openai', reason: 'unknown_model', first_tenant_id: tenant });

      // Add the price to both books, re-rate: the model's lines go from unpriced to priced.
      const previousBooks = loadPriceBooks(rig.pricingDir);
      for (const [file, prices] of [['catalog/provider-costs.json', { input: '1.10', cache_read: '0.55', output: '4.40' }], ['catalog/rate-card.json', { input: '1.32', cache_read: '0.66', output: '5.28' }]] as const) {
        const path = join(rig.pricingDir, file);
        const book = JSON.parse(readFileSync(path, 'utf8')) as { models: unknown[] };
        book.models.push({ provider: 'openai', model: 'frontier-x', versions: [{ effective_from: '2025-01-01', prices }] });
        writeFileSync(path, JSON.stringify(book, null, 2));
      }
      const books = loadPriceBooks(rig.pricingDir);
      const rawTable = new UsageEventsTable(rig.handle);
      await waitFor(() => rawTable.counts(), (c) => c.distinctEvents >= events.length, { what: 'every raw event in ClickHouse', timeoutMs: 60_000 });
      const rawBefore = await rawMoney(rig, tenant);
      const result = await rerateUsage(rig.handle, { tenant, from, to: end, books, previousBooks });
      expect(result.events).toBe(events.length);
      // The raw rows of the model, priced 0 when they were stored, now carry the new money (and nothing else changed).
      expect(result.rawRowsRepriced).toBe(unknown.length);
      const reference = new ReferencePrices(rig.pricingDir);
      const expectCost = unknown.reduce((sum, e) => sum + reference.price(e).cost!, 0n);
      const expectCharge = unknown.reduce((sum, e) => sum + reference.price(e).charge!, 0n);
      const row = (side: string, bucket: string) => result.diffs.find((d) => d.model === 'frontier-x' && d.side === side && d.bucket === bucket);
      expect(row('cost', 'total')).toMatchObject({ old: 0n, new: expectCost, oldUnpriced: unknown.length, newUnpriced: 0 });
      expect(row('charge', 'total')).toMatchObject({ old: 0n, new: expectCharge, oldUnpriced: unknown.length, newUnpriced: 0 });
      const inputTokens = unknown.reduce((n, e) => n + BigInt(e.input_tokens), 0n);
      expect(row('cost', 'input')).toMatchObject({ old: 0n, new: inputTokens * 1_100_000n, oldUnpriced: unknown.length });
      // Models that were priced already re-rate to the same amounts.
      for (const d of result.diffs.filter((d) => d.model !== 'frontier-x' && d.bucket === 'total' && d.newUnpriced === 0)) expect(d.new).toBe(d.old);
      const csv = rerateReportCsv(result.diffs);
      expect(csv).toContain(`${tenant},openai,frontier-x,cost,total,0,${expectCost},${expectCost},${unknown.length},0`);

      // The rollups now carry the new amounts; nothing of the tenant is unpriced; a second run changes nothing.
      const sums = async () => (await hourlyMoney(rig)).filter((r) => r.key.startsWith(`${tenant}|`) && r.key.includes('|frontier-x|'));
      const after = await sums();
      expect(after.reduce((n, r) => n + BigInt(r.cost), 0n)).toBe(expectCost);
      expect(after.reduce((n, r) => n + BigInt(r.charge), 0n)).toBe(expectCharge);
      expect(after.reduce((n, r) => n + r.unpricedCost + r.unpricedCharge, 0)).toBe(0);
      // The re-rating rows record the versions that now price the model.
      expect(after.every((r) => JSON.stringify([r.costVersions, r.chargeVersions]) === JSON.stringify([['openai/frontier-x@2025-01-01'], ['openai/frontier-x@2025-01-01']]))).toBe(true);
      expect((await listUnpriced(rig.handle, from, end)).find((r) => r.model === 'frontier-x')).toBeUndefined();
      const again = await rerateUsage(rig.handle, { tenant, from, to: end, books });
      expect(again.diffs.filter((d) => d.bucket === 'total').every((d) => d.new === d.old)).toBe(true);
      expect(await sums()).toEqual(after);
      expect(again.rawRowsRepriced).toBe(0);

      // Raw rows: each event once, its new money equal to the reference, every other field as before; per hour equal to the rollups.
      const reference2 = new ReferencePrices(rig.pricingDir);
      const rawAfter = await rawMoney(rig, tenant);
      expect(rawAfter.size).toBe(events.length);
      for (const e of events) {
        const m = reference2.price(e);
        const row = rawAfter.get(e.event_id)!;
        expect({ id: e.event_id, cost: row.cost_pico, charge: row.charge_pico, cv: row.cost_price_version, hv: row.charge_price_version })
          .toEqual({ id: e.event_id, cost: String(m.cost ?? 0n), charge: String(m.charge ?? 0n), cv: m.costVersion ?? '', hv: m.chargeVersion ?? '' });
        const strip = ({ cost_pico: _c, charge_pico: _h, cost_price_version: _cv, charge_price_version: _hv, ...rest }: RawEventRow) => rest;
        expect(strip(row)).toEqual(strip(rawBefore.get(e.event_id)!));
      }
      const db = quoteIdentifier(rig.handle.database);
      const perHour = async (query: string) => (await (await rig.handle.client.query({ query, query_params: { tenant }, format: 'JSONEachRow' })).json<{ h: string; cost: string; charge: string }>()).map((r) => `${r.h}:${r.cost}/${r.charge}`).sort();
      expect(await perHour(`SELECT toString(toUnixTimestamp(toStartOfHour(occurred_at))) AS h, toString(sum(cost_pico)) AS cost, toString(sum(charge_pico)) AS charge FROM ${db}.usage_events FINAL WHERE tenant_id = {tenant:String} GROUP BY h`))
        .toEqual(await perHour(`SELECT toString(toUnixTimestamp(hour)) AS h, toString(sum(cost_pico)) AS cost, toString(sum(charge_pico)) AS charge FROM ${db}.usage_hourly WHERE tenant_id = {tenant:String} GROUP BY h`));
      // The pages (no FINAL) show the re-rated copy too.
      const paged = new Map<string, RawEventRow>();
      let after2: Parameters<typeof rawEventsPage>[1]['after'];
      do {
        const page = await rawEventsPage(rig.handle, { tenantId: tenant, filters: {}, limit: 1_000, after: after2 });
        for (const row of page.rows) paged.set(row.event_id, row);
        after2 = page.next;
      } while (after2 !== undefined);
      expect(paged).toEqual(rawAfter);
    } finally {
      await rawSink.stop();
      await rig.close();
    }
  });
});

/** A tenant's raw rows by event id, as GET /v1/events reads them, from the deduplicated table. */
async function rawMoney(rig: StreamRig, tenant: string): Promise<Map<string, RawEventRow>> {
  const rows = await (await rig.handle.client.query({
    query: `SELECT event_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, tenant_id, project_id, api_key_hash, client_id, user_id, trace_id, endpoint_id,
                   provider, model, operation, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
                   cache_write_1h_tokens, audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens, units, service_tier,
                   toFloat64(latency_ms) AS latency_ms, toFloat64(ttft_ms) AS ttft_ms, status_code, error_type, metadata, source_partition, source_offset,
                   toString(cost_pico) AS cost_pico, toString(charge_pico) AS charge_pico, cost_price_version, charge_price_version
            FROM ${quoteIdentifier(rig.handle.database)}.usage_events FINAL WHERE tenant_id = {tenant:String}`,
    query_params: { tenant },
    format: 'JSONEachRow',
  })).json<RawEventRow>();
  return new Map(rows.map((r) => [r.event_id, r]));
}

async function readTopic(rig: StreamRig, topic: string): Promise<Buffer[]> {
  const admin = rig.kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const expected = ends.reduce((n, e) => n + Number(e.offset), 0);
  const consumer = rig.kafka.consumer({ groupId: uniqueName('reader') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values: Buffer[] = [];
  await new Promise<void>((resolve) => {
    if (expected === 0) resolve();
    void consumer.run({
      eachMessage: ({ message }) => {
        values.push(message.value!);
        if (values.length >= expected) resolve();
        return Promise.resolve();
      },
    });
  });
  await consumer.disconnect();
  return values;
}
