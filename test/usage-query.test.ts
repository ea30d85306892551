import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { UsageEvent } from '@meterline/domain';
import { queryUsage, type UsageQuery, type UsageQueryRow } from '@meterline/clickhouse';
import { uniqueName, waitFor } from '@meterline/testing';
import { ReferencePrices } from './support/reference-prices';
import { HOUR, generateStream, streamRig, type StreamRig } from './support/stream';

// The usage query over the hourly rollups equals an independent reference computed from the
// events the test sent: tokens, requests, cost and charge to the pico, per bucket and group.
const brokers = inject('kafkaBrokers');
const tenants = [uniqueName('q-acme'), uniqueName('q-globex'), uniqueName('q-initech')];
const END = Date.UTC(2026, 10, 20, 6); // 48 h of event time before it, across days in Paris and in UTC
let rig: StreamRig;
let distinct: UsageEvent[] = [];
const prices = new ReferencePrices(new URL('../pricing', import.meta.url).pathname);

beforeAll(async () => {
  rig = await streamRig(brokers, 3);
  await rig.startConsumer();
  await rig.startRollupSink(uniqueName('q-rollup-sink'));
  const stream = generateStream({ events: 3_000, tenants, seed: 4242, endMs: END, lateShare: 0.05, duplicateShare: 0.03 });
  distinct = stream.distinct;
  for (const event of stream.arrivals) rig.meter.record(event);
  await rig.meter.flush();
  await waitFor(() => rig.groupLag(rig.groupId, rig.topics.usageEvents), (lag) => lag === 0, { what: 'the rollup consumer to commit everything', timeoutMs: 120_000 });
  const expectedRequests = distinct.length;
  await waitFor(async () => (await queryUsage(rig.handle, base({ granularity: 'none', groupBy: [] }))).rows[0]?.sums.requests, (requests) => requests === String(expectedRequests), { what: 'every rollup in ClickHouse', timeoutMs: 120_000 });
});

afterAll(async () => {
  await rig?.close();
});

function base(q: Partial<UsageQuery>): UsageQuery {
  return { fromMs: END - 48 * HOUR, toMs: END, granularity: 'none', timeZone: 'UTC', groupBy: [], filters: { tenant: { in: tenants } }, limit: 10_000, ...q };
}

/** The reference: sums per key of the distinct events, money from the reference prices. */
function reference(events: readonly UsageEvent[], keyOf: (e: UsageEvent) => string): Map<string, Record<string, bigint>> {
  const out = new Map<string, Record<string, bigint>>();
  for (const e of events) {
    const key = keyOf(e);
    const r = out.get(key) ?? { requests: 0n, input_tokens: 0n, cache_read_tokens: 0n, cache_write_tokens: 0n, output_tokens: 0n, reasoning_tokens: 0n, cost_pico: 0n, charge_pico: 0n };
    const money = prices.price(e);
    r.requests! += 1n;
    for (const b of ['input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'] as const) r[b]! += BigInt(e[b]);
    r.cost_pico! += money.cost ?? 0n;
    r.charge_pico! += money.charge ?? 0n;
    out.set(key, r);
  }
  return out;
}

function actual(rows: readonly UsageQueryRow[], keyOf: (r: UsageQueryRow) => string): Map<string, Record<string, bigint>> {
  return new Map(rows.map((r) => [keyOf(r), Object.fromEntries(['requests', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'cost_pico', 'charge_pico'].map((m) => [m, BigInt(r.sums[m as keyof UsageQueryRow['sums']])]))]));
}

const parisDay = (ms: number): string => new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Paris', year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);

describe('usage query over the hourly rollups', () => {
  it('totals per tenant equal the reference (late and duplicate arrivals counted once)', async () => {
    const page = await queryUsage(rig.handle, base({ groupBy: ['tenant'] }));
    expect(actual(page.rows, (r) => r.dimensions.tenant!)).toEqual(reference(distinct, (e) => e.tenant_id));
  });

  it('by Paris day, tenant and model equals the reference; every bucket starts at a Paris midnight', async () => {
    const page = await queryUsage(rig.handle, base({ granularity: 'day', timeZone: 'Europe/Paris', groupBy: ['tenant', 'model'] }));
    expect(actual(page.rows, (r) => `${parisDay(r.bucket_ms!)}|${r.dimensions.tenant}|${r.dimensions.model}`)).toEqual(reference(distinct, (e) => `${parisDay(e.occurred_at)}|${e.tenant_id}|${e.model}`));
    for (const row of page.rows) expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(row.bucket_ms!)).toBe('00:00');
  });

  it('by hour with an in / not-in filter equals the reference over the filtered events', async () => {
    const page = await queryUsage(rig.handle, base({ granularity: 'hour', groupBy: ['provider'], filters: { tenant: { in: tenants.slice(0, 2) }, provider: { not_in: ['google'] } } }));
    const kept = distinct.filter((e) => tenants.slice(0, 2).includes(e.tenant_id) && e.provider !== 'google');
    expect(actual(page.rows, (r) => `${r.bucket_ms}|${r.dimensions.provider}`)).toEqual(reference(kept, (e) => `${Math.floor(e.occurred_at / HOUR) * HOUR}|${e.provider}`));
  });

  it('pages with a keyset cursor: every row once, in order, the same as one big page', async () => {
    const whole = await queryUsage(rig.handle, base({ granularity: 'hour', groupBy: ['tenant', 'model'] }));
    const pages: UsageQueryRow[] = [];
    let after: string[] | undefined;
    do {
      const page = await queryUsage(rig.handle, base({ granularity: 'hour', groupBy: ['tenant', 'model'], limit: 37, after }));
      pages.push(...page.rows);
      after = page.next;
    } while (after !== undefined);
    expect(pages).toEqual(whole.rows);
    expect(whole.rows.length).toBeGreaterThan(100);
  });
});
