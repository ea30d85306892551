import { describe, expect, it } from 'vitest';
import { parseQuotaDefinition, type QuotaDefinition } from '@meterline/domain';
import { redisKeys } from '@meterline/redis';
import { QuotaCounterSums, periodsInForce, routeQuotas, slotShape } from './rebuild-quotas';
import type { SlotTotals } from './rebuild-sources';

const NOW = Date.UTC(2026, 11, 7, 22, 0);
const DAY = 86_400_000;
const HOUR = 3_600_000;
const quota = (fields: Record<string, unknown>): QuotaDefinition => parseQuotaDefinition({ tenant_id: 't', metric: 'total_tokens', limit: '1000', enforcement: 'soft', updated_at: 0, ...fields });
const KEY = 'a'.repeat(64);

function slot(at: number, span: number, fields: Partial<SlotTotals> = {}): SlotTotals {
  const zero = { requests: '0', input_tokens: '0', cache_read_tokens: '0', cache_write_tokens: '0', cache_write_1h_tokens: '0', output_tokens: '0', reasoning_tokens: '0', audio_input_tokens: '0', audio_output_tokens: '0', image_input_tokens: '0', image_output_tokens: '0', cost_pico: '0', charge_pico: '0' };
  return { ...zero, tenant_id: 't', at: String(at), span: String(span), project_id: '', model: '', api_key_hash: null, ...fields };
}

describe('periods in force', () => {
  it.each<[string, Record<string, unknown>, number]>([
    // A counter lives until its period's end + 35 days: today and the 35 days before it.
    ['UTC days', { period: 'day' }, 36],
    // December and November (ends Dec 1, + 35 days is after Dec 7); October ended too long ago.
    ['UTC months', { period: 'month' }, 2],
  ])('%s', (_what, fields, count) => {
    const periods = periodsInForce(quota(fields), NOW);
    expect(periods).toHaveLength(count);
    expect(periods[0]!.start <= NOW && NOW < periods[0]!.end).toBe(true);
  });
});

describe('routeQuotas and slotShape', () => {
  it.each<[string, Record<string, unknown>, 'rollups' | 'raw', boolean]>([
    ['a UTC day: rollups, day slots', { period: 'day' }, 'rollups', true],
    ['a UTC month: rollups, day slots', { period: 'month' }, 'rollups', true],
    ['New York days start on a UTC hour: rollups, hour slots', { period: 'day', time_zone: 'America/New_York' }, 'rollups', false],
    ['Kolkata days start on a half hour: raw', { period: 'day', time_zone: 'Asia/Kolkata' }, 'raw', false],
    ['an API key is no rollup dimension: raw', { period: 'day', scope: { api_key_hash: KEY } }, 'raw', true],
  ])('%s', (_what, fields, source, byDay) => {
    const definition = quota(fields);
    const routed = routeQuotas([definition], NOW);
    expect(routed[source === 'rollups' ? 'fromRollups' : 'fromRaw']).toEqual([definition]);
    expect(slotShape([definition], NOW).byDay).toEqual(byDay ? ['t'] : []);
    expect(routed.horizonMs).toBe(Math.min(...periodsInForce(definition, NOW).map((p) => p.start)));
  });

  it('keeps project and model only for the tenants that narrow by them', () => {
    const shape = slotShape([quota({ period: 'day', scope: { project_id: 'p' } }), quota({ tenant_id: 'u', period: 'day', scope: { model: 'm' } })], NOW);
    expect(shape).toEqual({ byProject: ['t'], byModel: ['u'], byDay: ['t', 'u'] });
  });
});

describe('QuotaCounterSums', () => {
  const today = Math.floor(NOW / DAY) * DAY;

  it('sums slots into each matching quota\'s period, by the domain\'s amounts', () => {
    const daily = quota({ quota_id: 'daily', period: 'day' });
    const requests = quota({ quota_id: 'requests', metric: 'requests', period: 'month' });
    const search = quota({ quota_id: 'search', metric: 'prompt_tokens', period: 'day', scope: { project_id: 'search' } });
    const sums = new QuotaCounterSums([daily, requests, search], NOW);
    sums.add(slot(today, HOUR, { requests: '3', input_tokens: '10', output_tokens: '5', project_id: 'search' }));
    sums.add(slot(today - DAY, DAY, { requests: '2', input_tokens: '7', cache_read_tokens: '1' }));
    sums.add(slot(today + HOUR, HOUR, { requests: '1', input_tokens: '4', project_id: 'other' }));
    const used = Object.fromEntries(sums.counters().map((c) => [c.key, c.used]));
    expect(used).toEqual({
      [redisKeys.quotaCounter('t', 'daily', today)]: 10n + 5n + 4n,
      [redisKeys.quotaCounter('t', 'daily', today - DAY)]: 8n,
      [redisKeys.quotaCounter('t', 'requests', Date.UTC(2026, 11, 1))]: 3n + 2n + 1n,
      [redisKeys.quotaCounter('t', 'search', today)]: 10n,
    });
  });

  it('skips periods no longer in force and other tenants\' slots', () => {
    const sums = new QuotaCounterSums([quota({ period: 'day' })], NOW);
    sums.add(slot(today - 40 * DAY, DAY, { input_tokens: '5' }));
    sums.add(slot(today, DAY, { tenant_id: 'other', input_tokens: '5' }));
    expect(sums.counters()).toEqual([]);
  });

  it('refuses a slot that a period ends within (it would be split between two counters)', () => {
    const sums = new QuotaCounterSums([quota({ period: 'day', time_zone: 'Asia/Kolkata' })], NOW);
    expect(() => sums.add(slot(today + 18 * HOUR, HOUR, { input_tokens: '1' }))).toThrow(expect.objectContaining({ code: 'REBUILD_PERIOD_UNALIGNED', retriable: false }));
  });

  it('stops a counter at 2^63 - 1, as the script does', () => {
    const sums = new QuotaCounterSums([quota({ metric: 'cost_pico_usd', period: 'day' })], NOW);
    sums.add(slot(today, DAY, { cost_pico: (2n ** 63n).toString() }));
    expect(sums.counters()[0]!.used).toBe(2n ** 63n - 1n);
  });
});
