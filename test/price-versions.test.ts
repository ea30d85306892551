import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject, describe, expect, it, vi } from 'vitest';
import { usageEventV2Defaults, type UsageEvent } from '@meterline/domain';
import { ClickHouseSink, usageEventsStream } from '@meterline/clickhouse-sink';
import { UsageEventsTable } from '@meterline/clickhouse';
import { uniqueName, waitFor } from '@meterline/testing';
import { testLog } from './support/raw-path';
import { ReferencePrices } from './support/reference-prices';
import { HOUR, shippedPricingDir, streamRig, type StreamRig } from './support/stream';

// Rollups record the price versions that priced their money: through Kafka, the rollup
// consumer, Redis (cumulative hours and corrections), the rollup sink and ClickHouse, and
// across a Redis loss (the state rebuild). Expected versions come from an independent reference.
vi.setConfig({ testTimeout: 300_000 });

const brokers = inject('kafkaBrokers');

interface Row { key: string; requests: number; cost: string[]; charge: string[]; unpricedCost: number; unpricedCharge: number }

function referenceRows(reference: ReferencePrices, events: readonly UsageEvent[]): Row[] {
  const rows = new Map<string, { requests: number; cost: Set<string>; charge: Set<string>; unpricedCost: number; unpricedCharge: number }>();
  for (const e of events) {
    const hour = new Date(Math.floor(e.occurred_at / HOUR) * HOUR).toISOString().replace('T', ' ').slice(0, 19);
    const key = [e.tenant_id, hour, e.project_id ?? '', e.provider, e.model, e.operation].join('|');
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { requests: 0, cost: new Set(), charge: new Set(), unpricedCost: 0, unpricedCharge: 0 }));
    r.requests++;
    const m = reference.price(e);
    if (m.costVersion === null) r.unpricedCost++;
    else r.cost.add(m.costVersion);
    if (m.chargeVersion === null) r.unpricedCharge++;
    else r.charge.add(m.chargeVersion);
  }
  return [...rows.entries()].map(([key, r]) => ({ key, requests: r.requests, cost: [...r.cost].sort(), charge: [...r.charge].sort(), unpricedCost: r.unpricedCost, unpricedCharge: r.unpricedCharge })).sort((a, b) => (a.key < b.key ? -1 : 1));
}

async function recordedRows(rig: StreamRig): Promise<Row[]> {
  return (await rig.rollups.hourly()).map((r) => ({
    key: [r.tenant_id, r.hour, r.project_id, r.provider, r.model, r.operation].join('|'),
    requests: Number(r.requests),
    cost: r.cost_price_versions, charge: r.charge_price_versions, unpricedCost: Number(r.unpriced_cost_events), unpricedCharge: Number(r.unpriced_charge_events),
  }));
}

/**
 * The shipped books plus `openai/pv-model` with three versions (v0 from 2025, v1 from `h0 + 30
 * min`, v2 from `h1 + 30 min`, different prices) on both books, and `openai/pv-costonly` on the
 * cost book only (priced for a cost-plus-markup tenant's charge by its cost version).
 */
function pricingWithVersions(h0: number, h1: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'meterline-pv-pricing-'));
  cpSync(shippedPricingDir, dir, { recursive: true });
  const at = (ms: number): string => new Date(ms).toISOString();
  const add = (file: string, models: unknown[]): void => {
    const path = join(dir, file);
    const book = JSON.parse(readFileSync(path, 'utf8')) as { models: unknown[] };
    book.models.push(...models);
    writeFileSync(path, JSON.stringify(book, null, 2));
  };
  const pv = (input: string[]) => ({
    provider: 'openai', model: 'pv-model',
    versions: [
      { effective_from: '2025-01-01', label: 'v0', prices: { input: input[0], output: '8.00' } },
      { effective_from: at(h0 + 30 * 60_000), label: 'v1', prices: { input: input[1], output: '9.00' } },
      { effective_from: at(h1 + 30 * 60_000), label: 'v2', prices: { input: input[2], output: '10.00' } },
    ],
  });
  add('catalog/provider-costs.json', [pv(['1.00', '1.10', '1.20']), { provider: 'openai', model: 'pv-costonly', versions: [{ effective_from: '2025-02-01', prices: { input: '0.50', output: '2.00' } }] }]);
  add('catalog/rate-card.json', [pv(['1.50', '1.65', '1.80'])]);
  return dir;
}

describe('price versions in the rollups', () => {
  it('each hourly rollup lists the sorted distinct cost and charge price versions of its events: version changes within an hour, tenant prices, cost plus markup, unpriced events, corrections, and after a Redis loss', async () => {
    const now = Date.now();
    const h1 = Math.floor(now / HOUR) * HOUR - HOUR; // open for the whole test (2 h lateness)
    const h0 = h1 - 5 * HOUR; // closed once events of now arrive: its late events are corrections
    const rig = await streamRig(brokers, 3, { pricingDir: pricingWithVersions(h0, h1) });
    const rawGroup = uniqueName('raw-sink');
    const rawSink = new ClickHouseSink(rig.kafka, usageEventsStream(new UsageEventsTable(rig.handle), {}, rig.prices), { groupId: rawGroup, topic: rig.topics.usageEvents, dlqTopic: `${rig.topics.usageEvents}.dlq`, flushRows: 5_000, flushMs: 200, sessionTimeoutMs: 10_000 }, testLog);
    try {
      await rawSink.start();
      const consumer = await rig.startConsumer(rawGroup);
      await rig.startRollupSink();
      let n = 0;
      const call = (tenant: string, model: string, at: number): UsageEvent => ({
        ...usageEventV2Defaults(),
        event_id: `pv-${now}-${n++}`, occurred_at: at, tenant_id: tenant, project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
        provider: 'openai', model, operation: 'chat', input_tokens: 1_000 + n, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 100 + n, reasoning_tokens: 0,
        latency_ms: 500, ttft_ms: null, status_code: 200, error_type: null, metadata: {},
      });
      const minute = 60_000;
      const events: UsageEvent[] = [
        // h0, early: v0 (cumulative row, which closes below)
        ...[5, 10, 15].map((m) => call('list-a', 'pv-model', h0 + m * minute)),
        // h1: v1 before h1 + 30 min, v2 after, in one cumulative row
        ...Array.from({ length: 20 }, (_, i) => call('list-a', 'pv-model', h1 + (i * 3 + 1) * minute)),
        ...Array.from({ length: 5 }, (_, i) => call('acme-corp', 'gpt-4o', h1 + (i + 1) * minute)), // tenant price
        ...Array.from({ length: 5 }, (_, i) => call('acme-corp', 'pv-model', h1 + (i * 10 + 5) * minute)), // discount on the rate card: rate card versions
        ...Array.from({ length: 5 }, (_, i) => call('globex', 'pv-costonly', h1 + (i + 1) * minute)), // cost plus markup
        ...Array.from({ length: 3 }, (_, i) => call('list-a', 'pv-unknown', h1 + (i + 1) * minute)), // no price: no version, counted
        // now: h0 closes for list-a
        ...Array.from({ length: 3 }, (_, i) => call('list-a', 'gpt-4o', now - 1_000 + i)),
        // h0, late (after it closed): corrections, priced by v1
        ...[40, 50].map((m) => call('list-a', 'pv-model', h0 + m * minute)),
      ];
      const reference = new ReferencePrices(rig.pricingDir);
      const settle = async (all: readonly UsageEvent[]): Promise<Row[]> => {
        await rig.meter.flush();
        await waitFor(() => rig.groupLag(rig.groupId, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the rollup consumer to commit everything', timeoutMs: 120_000, intervalMs: 200 });
        const expected = referenceRows(reference, all);
        return waitFor(() => recordedRows(rig), (rows) => JSON.stringify(rows) === JSON.stringify(expected), { what: 'rollups in ClickHouse', timeoutMs: 60_000, intervalMs: 500 }).catch(() => recordedRows(rig));
      };
      for (const e of events) rig.meter.record(e);
      let rows = await settle(events);
      expect(rows).toEqual(referenceRows(reference, events));
      const find = (tenant: string, hour: number, model: string): Row | undefined => rows.find((r) => r.key === [tenant, new Date(hour).toISOString().replace('T', ' ').slice(0, 19), '', 'openai', model, 'chat'].join('|'));
      // What the reference says, spelled out: the cases this test is about.
      expect(find('list-a', h1, 'pv-model')).toMatchObject({ cost: ['openai/pv-model@v1', 'openai/pv-model@v2'], charge: ['openai/pv-model@v1', 'openai/pv-model@v2'] });
      expect(find('list-a', h0, 'pv-model')).toMatchObject({ cost: ['openai/pv-model@v0', 'openai/pv-model@v1'] }); // v1 from the corrections only
      expect(find('acme-corp', h1, 'gpt-4o')).toMatchObject({ cost: ['openai/gpt-4o@2024-08-06'], charge: ['tenant:acme-corp/openai/gpt-4o@2025-01-01'] });
      expect(find('globex', h1, 'pv-costonly')).toMatchObject({ cost: ['openai/pv-costonly@2025-02-01'], charge: ['openai/pv-costonly@2025-02-01'] });
      expect(find('list-a', h1, 'pv-unknown')).toMatchObject({ cost: [], charge: [], unpricedCost: 3, unpricedCharge: 3 });
      expect(consumer.stats().corrections).toBe(2);

      // Redis loses everything; the open hour h1 is rebuilt from ClickHouse. New events (v2
      // only) re-emit the cumulative row, which must still list v1 from before the loss.
      await waitFor(() => rig.groupLag(rawGroup, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the raw sink to catch up' });
      await rig.redis.flushall();
      const more = [...[50, 55].map((m) => call('list-a', 'pv-model', h1 + m * minute)), call('acme-corp', 'gpt-4o', h1 + 50 * minute)];
      for (const e of more) rig.meter.record(e);
      rows = await settle([...events, ...more]);
      expect(consumer.stats().rebuilds).toBeGreaterThanOrEqual(1);
      expect(rows).toEqual(referenceRows(reference, [...events, ...more]));
      expect(find('list-a', h1, 'pv-model')).toMatchObject({ cost: ['openai/pv-model@v1', 'openai/pv-model@v2'] });
    } finally {
      await rawSink.stop();
      await rig.close();
    }
  });
});
