import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject, describe, expect, it, vi } from 'vitest';
import { Partitioners } from 'kafkajs';
import { AvroCodec, schemaRegistry } from '@meterline/contract';
import {
  defaultBilling,
  parseCatalog,
  prepareTenantInvoice,
  usageEventV2Defaults,
  type UsageEvent,
} from '@meterline/domain';
import { ClickHouseSink, usageEventsStream } from '@meterline/clickhouse-sink';
import { InvoicesTable, UsageEventsTable, quoteIdentifier } from '@meterline/clickhouse';
import { QuotaChecker, quotaKey } from '@meterline/quotas';
import { uniqueName, waitFor } from '@meterline/testing';
import { testLog } from './support/raw-path';
import { shippedPricingDir, streamRig } from './support/stream';

// Usage event v2 end to end (issue 15): v1 events (written with the v1 schema, as an old shim
// does) and v2 events (the 1-hour cache write, audio and image buckets, units, the service tier,
// fractional latency, bad telemetry) in ONE topic, through the raw sink, the rollup consumer
// (Redis script), the rollup sink, quotas and the invoice computation. Every result is compared
// with a reference computed here from the events and the test's own rates (no pricing code).
vi.setConfig({ testTimeout: 300_000 });

const brokers = inject('kafkaBrokers');

/** USD per 1M tokens (units: USD per unit) of the test model, cost book; the rate card is 1.5x. */
const RATES = {
  input: '2.00', cache_read: '0.20', cache_write: '2.50', cache_write_1h: '4.00', output: '8.00', reasoning: '8.00',
  audio_input: '40.00', audio_output: '80.00', image_input: '5.00', image_output: '30.00',
} as const;
const UNIT_RATES = { web_search: '0.01', code_execution: '0.05' } as const;
const PRIORITY = { input: '3.00', cache_read: '0.30', output: '12.00' } as const; // tier: every other rate defaults

/** USD decimal -> pico-USD per token (per 1M tokens: x 10^6) or per unit (x 10^12), by hand. */
const pico = (usd: string, scale: 6 | 12): bigint => {
  const [whole, fraction = ''] = usd.split('.');
  return BigInt(whole! + fraction.padEnd(scale, '0'));
};

const BUCKETS = ['input', 'cache_read', 'cache_write', 'cache_write_1h', 'output', 'reasoning', 'audio_input', 'audio_output', 'image_input', 'image_output'] as const;
const tokensOf = (e: UsageEvent, line: (typeof BUCKETS)[number]): number => e[`${line}_tokens`];

/** The reference price of an event on the test model: cost, and charge at 1.5x (both exact). */
function referenceMoney(e: UsageEvent): { cost: bigint; charge: bigint } {
  const tier = e.service_tier === 'priority';
  let cost = 0n;
  for (const line of BUCKETS) {
    const rate = tier ? (PRIORITY[line as keyof typeof PRIORITY] ?? (line === 'cache_write' || line === 'cache_write_1h' ? PRIORITY.input : line === 'reasoning' ? PRIORITY.output : RATES[line])) : RATES[line];
    cost += BigInt(tokensOf(e, line)) * pico(rate, 6);
  }
  for (const [unit, n] of Object.entries(e.units)) cost += BigInt(n) * pico(UNIT_RATES[unit as keyof typeof UNIT_RATES], 12);
  return { cost, charge: (cost * 3n) / 2n };
}

/** The shipped books plus `testco/omni` on both (the rate card at 1.5x every rate). */
function pricing(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meterline-v2-pricing-'));
  cpSync(shippedPricingDir, dir, { recursive: true });
  // Rates scaled exactly (decimal strings through integers, never a float): k is a fraction [numerator, denominator].
  const scaled = (usd: string, [num, den]: readonly [bigint, bigint]): string => {
    const units = pico(usd, 12) * num;
    if (units % den !== 0n) throw new Error(`${usd} x ${num}/${den} is not a whole pico`);
    const digits = (units / den).toString().padStart(13, '0');
    const fraction = digits.slice(-12).replace(/0+$/, '');
    return fraction === '' ? digits.slice(0, -12) : `${digits.slice(0, -12)}.${fraction}`;
  };
  const times = (rates: Record<string, string>, k: readonly [bigint, bigint]): Record<string, string> => Object.fromEntries(Object.entries(rates).map(([name, usd]) => [name, scaled(usd, k)]));
  const model = (k: readonly [bigint, bigint]) => ({
    provider: 'testco', model: 'omni',
    versions: [{
      effective_from: '2025-01-01',
      prices: { ...times(RATES, k), units: times(UNIT_RATES, k) },
      tiers: { priority: { prices: { ...times(PRIORITY, k), audio_input: times(RATES, k).audio_input, audio_output: times(RATES, k).audio_output, image_input: times(RATES, k).image_input, image_output: times(RATES, k).image_output, units: times(UNIT_RATES, k) } } },
    }],
  });
  for (const [file, k] of [['catalog/provider-costs.json', [1n, 1n]], ['catalog/rate-card.json', [3n, 2n]]] as const) {
    const book = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { models: unknown[] };
    book.models.push(model(k));
    writeFileSync(join(dir, file), JSON.stringify(book, null, 2));
  }
  return dir;
}

describe('usage event v2 end to end', () => {
  it('v1 and v2 events in one topic: raw rows, rollups, quotas and the invoice equal the reference that prices every new bucket; fractional latency exact; bad telemetry reported, not rejected', async () => {
    const rig = await streamRig(brokers, 2, { pricingDir: pricing() });
    const rawGroup = uniqueName('raw-sink');
    const rawSink = new ClickHouseSink(rig.kafka, usageEventsStream(new UsageEventsTable(rig.handle), {}, rig.prices), { groupId: rawGroup, topic: rig.topics.usageEvents, dlqTopic: `${rig.topics.usageEvents}.dlq`, flushRows: 5_000, flushMs: 200, sessionTimeoutMs: 10_000 }, testLog);
    const producer = rig.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    try {
      await rawSink.start();
      // Quotas: the new names, a bucket metric, and a definition stored before v2 (metric input_tokens).
      await rig.quotaStore.set({ tenant_id: 'v2-co', quota_id: 'prompt', metric: 'prompt_tokens', period: 'month', limit: '1000000000', enforcement: 'soft' });
      await rig.quotaStore.set({ tenant_id: 'v2-co', quota_id: 'audio-in', metric: 'audio_input_tokens', period: 'month', limit: '1000000000', enforcement: 'soft' });
      await producer.connect();
      await producer.send({
        topic: rig.topics.quotaDefinitions,
        messages: [{ key: quotaKey('v2-co', 'legacy'), value: JSON.stringify({ tenant_id: 'v2-co', quota_id: 'legacy', scope: {}, metric: 'input_tokens', period: 'month', time_zone: 'UTC', limit: '1000000000', thresholds: [50], enforcement: 'soft', updated_at: 1 }) }],
      });
      const consumer = await rig.startConsumer(rawGroup);
      await rig.startRollupSink();

      const now = Date.now();
      const base = (i: number): UsageEvent => ({
        ...usageEventV2Defaults(),
        event_id: `v2-${now}-${i}`, occurred_at: now - 60_000 + i, tenant_id: 'v2-co', project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
        provider: 'testco', model: 'omni', operation: 'chat', input_tokens: 1_000 + i, cache_read_tokens: 200, cache_write_tokens: 30, output_tokens: 400, reasoning_tokens: 50,
        latency_ms: 800 + i, ttft_ms: 90, status_code: 200, error_type: null, metadata: {},
      });
      // v1 events: what an old shim writes (no v2 fields on the wire; whole-ms latency as a long).
      const v1Events = Array.from({ length: 6 }, (_, i) => base(i));
      const v1Codec = new AvroCodec<UsageEvent>(schemaRegistry(), 'usage-event', { writerVersion: 1, readerVersion: 1 });
      await producer.send({ topic: rig.topics.usageEvents, messages: v1Events.map((e) => ({ key: e.tenant_id, value: v1Codec.encode(e), timestamp: String(now) })) });
      // v2 events through the shim.
      const v2Events: UsageEvent[] = [
        { ...base(10), cache_write_1h_tokens: 4_096, audio_input_tokens: 1_500, audio_output_tokens: 700, image_input_tokens: 1_568, image_output_tokens: 10, units: { web_search: 3, code_execution: 1 }, latency_ms: 1_834.2716, ttft_ms: 0.4 },
        { ...base(11), cache_write_1h_tokens: 100, units: { web_search: 1 }, service_tier: 'priority', latency_ms: 0.001, ttft_ms: 12.5 },
        { ...base(12), audio_input_tokens: 333, latency_ms: 999.9995 },
        // Bad telemetry: dropped to null and named, the usage billed.
        { ...base(13), image_input_tokens: 85, latency_ms: -3, ttft_ms: Number.NaN, status_code: 42 },
      ];
      for (const e of v2Events) rig.meter.record(e);
      await rig.meter.flush();
      const all = [...v1Events, ...v2Events];
      // What each event is once stored: bad telemetry null, latency rounded to the microsecond.
      const micros = (ms: number | null): bigint | null => (ms === null || !Number.isFinite(ms) || ms < 0 ? null : BigInt(Math.round(ms * 1_000)));

      await waitFor(() => rig.groupLag(rig.groupId, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the rollup consumer to commit everything', timeoutMs: 120_000, intervalMs: 200 });
      await waitFor(() => rig.groupLag(rawGroup, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the raw sink to commit everything', timeoutMs: 120_000, intervalMs: 200 });
      expect(consumer.stats()).toMatchObject({ applied: all.length, invalid: 0, telemetryDropped: 1 });
      expect(rig.meter.stats()).toMatchObject({ rejected: 0, telemetryDropped: 1 });

      // Raw rows: every event once, each bucket and unit as sent, money as the reference prices it.
      const db = quoteIdentifier(rig.handle.database);
      type RawRow = { event_id: string; latency: string | null; ttft: string | null; status_code: number | null; dropped: string; cost: string; charge: string; tier: string | null; units: Record<string, string> } & Record<string, string>;
      const raw = await (await rig.handle.client.query({
        query: `SELECT event_id, toString(latency_ms) AS latency, toString(ttft_ms) AS ttft, status_code, metadata['meterline.telemetry_dropped'] AS dropped, toString(cost_pico) AS cost, toString(charge_pico) AS charge,
                       service_tier AS tier, units, ${BUCKETS.map((b) => `toString(${b}_tokens) AS ${b}`).join(', ')}
                FROM ${db}.usage_events FINAL ORDER BY event_id`,
        format: 'JSONEachRow',
      })).json<RawRow>();
      expect(raw.map((r) => r.event_id)).toEqual(all.map((e) => e.event_id).sort());
      for (const e of all) {
        const r = raw.find((row) => row.event_id === e.event_id)!;
        for (const b of BUCKETS) expect(r[b], `${e.event_id} ${b}`).toBe(String(tokensOf(e, b)));
        expect(Object.fromEntries(Object.entries(r.units).map(([k, v]) => [k, Number(v)]))).toEqual(e.units);
        expect(r.tier).toBe(e.service_tier);
        const m = referenceMoney(e);
        expect([r.cost, r.charge], e.event_id).toEqual([m.cost.toString(), m.charge.toString()]);
        const latency = micros(e.latency_ms);
        expect(r.latency === null ? null : BigInt(r.latency.replace('.', '').padEnd(1, '0')) * (r.latency.includes('.') ? 10n ** BigInt(3 - r.latency.split('.')[1]!.length) : 1_000n), e.event_id).toBe(latency);
      }
      const bad = raw.find((r) => r.event_id === v2Events[3]!.event_id)!;
      expect(bad).toMatchObject({ latency: null, ttft: null, status_code: null });
      expect(bad.dropped).toBe('latency_ms=-3 [finite_non_negative]; ttft_ms=NaN [finite_non_negative]; status_code=42 [http_status]');
      expect(raw.find((r) => r.event_id === v2Events[0]!.event_id)!.latency).toBe('1834.272');

      // Rollups: one hour (or two), summed: every bucket, units, money and exact latency.
      const expectedSum = (f: (e: UsageEvent) => bigint): string => all.reduce((s, e) => s + f(e), 0n).toString();
      const rollup = await waitFor(
        async () => (await rig.handle.client.query({
          query: `SELECT toString(sum(requests)) AS requests, ${BUCKETS.map((b) => `toString(sum(${b}_tokens)) AS ${b}`).join(', ')}, toJSONString(sumMap(units)) AS units,
                         toString(sum(cost_pico)) AS cost, toString(sum(charge_pico)) AS charge, toString(sum(latency_ms_sum)) AS latency_sum, toString(sum(latency_count)) AS latency_count,
                         toString(max(latency_ms_max)) AS latency_max, toString(sum(ttft_ms_sum)) AS ttft_sum
                  FROM ${db}.usage_hourly WHERE tenant_id = 'v2-co'`,
          format: 'JSONEachRow',
        })).json<Record<string, string>>(),
        (rows) => rows[0]?.requests === String(all.length),
        { what: 'the rollups in ClickHouse', timeoutMs: 60_000, intervalMs: 300 },
      );
      const r = rollup[0]!;
      for (const b of BUCKETS) expect(r[b], b).toBe(expectedSum((e) => BigInt(tokensOf(e, b))));
      expect(Object.fromEntries(Object.entries(JSON.parse(r.units!) as Record<string, string | number>).map(([k, v]) => [k, Number(v)]))).toEqual({ code_execution: 1, web_search: 4 });
      expect(r.cost).toBe(expectedSum((e) => referenceMoney(e).cost));
      expect(r.charge).toBe(expectedSum((e) => referenceMoney(e).charge));
      const latencies = all.map((e) => micros(e.latency_ms)).filter((us): us is bigint => us !== null);
      const usSum = latencies.reduce((s, us) => s + us, 0n);
      const asMillis = (us: bigint): string => `${us / 1_000n}${us % 1_000n === 0n ? '' : `.${(us % 1_000n).toString().padStart(3, '0').replace(/0+$/, '')}`}`;
      expect(r.latency_sum).toBe(asMillis(usSum));
      expect(r.latency_count).toBe(String(latencies.length));
      expect(r.latency_max).toBe(asMillis(latencies.reduce((m, us) => (us > m ? us : m), 0n)));
      expect(r.ttft_sum).toBe(asMillis(all.map((e) => micros(e.ttft_ms) ?? 0n).reduce((s, us) => s + us, 0n)));

      // Quotas: prompt_tokens = every input bucket; the legacy input_tokens definition counts the same.
      const prompt = all.reduce((s, e) => s + BigInt(e.input_tokens + e.cache_read_tokens + e.cache_write_tokens + e.cache_write_1h_tokens + e.audio_input_tokens + e.image_input_tokens), 0n);
      const check = await new QuotaChecker(rig.redis, { definitionsTtlMs: 0 }).statuses('v2-co');
      const used = Object.fromEntries(check.quotas.map((q) => [q.quota_id, [q.metric, q.used]]));
      expect(used).toEqual({ prompt: ['prompt_tokens', prompt], legacy: ['prompt_tokens', prompt], 'audio-in': ['audio_input_tokens', BigInt(1_500 + 333)] });

      // Invoice: from the stored events and the rollups, through the reconciliation gate; a line
      // per bucket and per unit, the total the reference charge.
      const period = new Date(now).toISOString().slice(0, 7);
      const invoices = new InvoicesTable(rig.handle);
      const admin = rig.kafka.admin();
      await admin.connect();
      const ends = (await admin.fetchTopicOffsets(rig.topics.usageEvents)).sort((a, b) => a.partition - b.partition).map((p) => Number(p.high));
      await admin.disconnect();
      const billable = (await invoices.billableEvents(['v2-co'], period, ends, undefined)).get('v2-co')!;
      const rollupTotals = (await invoices.rollupTotals(['v2-co'], period)).get('v2-co')!;
      const dir = rig.pricingDir;
      const books = { costBook: parseCatalog(JSON.parse(readFileSync(join(dir, 'catalog/provider-costs.json'), 'utf8')), 'cost'), rateCard: parseCatalog(JSON.parse(readFileSync(join(dir, 'catalog/rate-card.json'), 'utf8')), 'card') };
      const result = prepareTenantInvoice({
        tenant_id: 'v2-co', period, events: billable.events, lateEvents: [], cut: ends, rollupTotals, books, billing: defaultBilling('v2-co'),
        creditsUsedBefore: 0n, invoicedPeriods: new Map(), clock: () => now,
      });
      if (!result.ok) throw new Error(result.report);
      const lines = result.invoice.lines.filter((l) => l.kind === 'usage' || l.kind === 'request_fee');
      const chargePico = all.reduce((s, e) => s + referenceMoney(e).charge, 0n);
      const linePico = lines.reduce((s, l) => s + (l.amount_pico_usd ?? 0n), 0n);
      expect(linePico).toBe(chargePico);
      const described = lines.map((l) => l.description);
      for (const label of ['cache write tokens (1 hour)', 'audio input tokens', 'audio output tokens', 'image input tokens', 'image output tokens', 'web_search units', 'code_execution units']) {
        expect(described.some((d) => d.includes(label)), label).toBe(true);
      }
      expect(described.some((d) => d.includes('priority tier') && d.includes('web_search units'))).toBe(true);
    } finally {
      await producer.disconnect();
      await rawSink.stop();
      await rig.close();
    }
  });
});
