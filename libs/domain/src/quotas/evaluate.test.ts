import { describe, expect, it } from 'vitest';
import { usageEventV2Defaults, type UsageEvent } from '../usage-event/usage-event';
import { parseQuotaDefinition, type QuotaDefinition } from './definition';
import { alertId, checkAllowed, crossedThresholds, evaluateQuota, matchesQuota, quotaAmount, quotaAmountOfTotals } from './evaluate';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const NOW = Date.UTC(2026, 10, 23, 12);

function quota(over: Record<string, unknown> = {}): QuotaDefinition {
  return parseQuotaDefinition({ tenant_id: 'acme', metric: 'total_tokens', period: 'month', limit: '1000', enforcement: 'hard', updated_at: 0, ...over });
}

const event: UsageEvent = {
  ...usageEventV2Defaults(),
  event_id: '0192f3a1-7c4e-7b2a-9d1e-5f6a7b8c9d0e',
  occurred_at: NOW,
  tenant_id: 'acme',
  project_id: 'web',
  api_key_hash: KEY_A,
  client_id: null,
  user_id: null,
  trace_id: null,
  endpoint_id: null,
  provider: 'openai',
  model: 'gpt-4o',
  operation: 'chat',
  input_tokens: 100,
  cache_read_tokens: 20,
  cache_write_tokens: 3,
  output_tokens: 40,
  reasoning_tokens: 5,
  latency_ms: 100,
  ttft_ms: null,
  status_code: 200,
  error_type: null,
  metadata: {},
};

describe('matchesQuota', () => {
  it.each<[string, Record<string, unknown>, Partial<UsageEvent>, boolean]>([
    ['tenant-wide quota', {}, {}, true],
    ['other tenant', {}, { tenant_id: 'globex' }, false],
    ['same project', { scope: { project_id: 'web' } }, {}, true],
    ['other project', { scope: { project_id: 'web' } }, { project_id: 'batch' }, false],
    ['event without project, quota with one', { scope: { project_id: 'web' } }, { project_id: null }, false],
    ['event without project, tenant-wide quota', {}, { project_id: null }, true],
    ['same key', { scope: { api_key_hash: KEY_A } }, {}, true],
    ['other key', { scope: { api_key_hash: KEY_B } }, {}, false],
    ['event without key', { scope: { api_key_hash: KEY_A } }, { api_key_hash: null }, false],
    ['same model', { scope: { model: 'gpt-4o' } }, {}, true],
    ['other model', { scope: { model: 'gpt-4o' } }, { model: 'gpt-4o-mini' }, false],
    ['model compared exactly (case)', { scope: { model: 'gpt-4o' } }, { model: 'GPT-4o' }, false],
    ['all fields match', { scope: { project_id: 'web', api_key_hash: KEY_A, model: 'gpt-4o' } }, {}, true],
    ['all but one match', { scope: { project_id: 'web', api_key_hash: KEY_A, model: 'gpt-4o' } }, { api_key_hash: KEY_B }, false],
  ])('%s', (_what, def, change, expected) => {
    expect(matchesQuota(quota(def), { ...event, ...change })).toBe(expected);
  });
});

describe('quotaAmount', () => {
  it.each<[string, QuotaDefinition['metric'], { costPico: bigint; chargePico: bigint } | undefined, bigint]>([
    ['total: every disjoint bucket', 'total_tokens', undefined, 168n + 4_000n + 15n + 30n + 700n + 1n],
    ['prompt: input + cache read + both cache writes + audio and image input', 'prompt_tokens', undefined, 123n + 4_000n + 15n + 700n],
    ['completion: output + reasoning + audio and image output', 'completion_tokens', undefined, 45n + 30n + 1n],
    ['a bucket metric: exactly that bucket (1-hour writes)', 'cache_write_1h_tokens', undefined, 4_000n],
    ['a bucket metric: cache reads only', 'cache_read_tokens', undefined, 20n],
    ['a bucket metric: audio input', 'audio_input_tokens', undefined, 15n],
    ['a bucket metric: audio output', 'audio_output_tokens', undefined, 30n],
    ['a bucket metric: image input', 'image_input_tokens', undefined, 700n],
    ['a bucket metric: image output', 'image_output_tokens', undefined, 1n],
    ['a bucket metric: reasoning', 'reasoning_tokens', undefined, 5n],
    ['requests: one per event', 'requests', undefined, 1n],
    ['cost: the provider cost given', 'cost_pico_usd', { costPico: 1_234_567_890n, chargePico: 7n }, 1_234_567_890n],
    ['charge: the customer charge given', 'charge_pico_usd', { costPico: 7n, chargePico: 9_000_000_000_000_000_001n }, 9_000_000_000_000_000_001n],
    ['cost: 0 when unpriced', 'cost_pico_usd', undefined, 0n],
    ['money is ignored for token metrics', 'total_tokens', { costPico: 99n, chargePico: 99n }, 168n + 4_746n],
  ])('%s', (_what, metric, cost, expected) => {
    expect(quotaAmount({ metric }, { ...event, cache_write_1h_tokens: 4_000, audio_input_tokens: 15, audio_output_tokens: 30, image_input_tokens: 700, image_output_tokens: 1 }, cost)).toBe(expected);
  });

  it('a v1 event (no v2 buckets): total is still the five buckets', () => {
    expect(quotaAmount({ metric: 'total_tokens' }, event)).toBe(168n);
    expect(quotaAmount({ metric: 'prompt_tokens' }, event)).toBe(123n);
  });

  it('sums beyond 2^53 exactly', () => {
    const big = { ...event, input_tokens: Number.MAX_SAFE_INTEGER, cache_read_tokens: Number.MAX_SAFE_INTEGER, cache_write_tokens: 0, output_tokens: 1, reasoning_tokens: 1 };
    expect(quotaAmount({ metric: 'total_tokens' }, big)).toBe(2n * BigInt(Number.MAX_SAFE_INTEGER) + 2n);
  });
});

describe('quotaAmountOfTotals', () => {
  const events = [
    { ...event, cache_write_1h_tokens: 4_000, audio_input_tokens: 15, audio_output_tokens: 30, image_input_tokens: 700, image_output_tokens: 1 },
    { ...event, input_tokens: 7, output_tokens: 0, reasoning_tokens: 0, cache_write_1h_tokens: 0, audio_input_tokens: 0, audio_output_tokens: 0, image_input_tokens: 0, image_output_tokens: 9 },
  ];
  const money = [{ costPico: 10n, chargePico: 13n }, { costPico: 5n, chargePico: 2n ** 62n }];
  const sum = (bucket: keyof typeof event): number => events.reduce((n, e) => n + Number(e[bucket]), 0);
  const totals = { ...Object.fromEntries(['input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens'].map((b) => [b, sum(b as keyof typeof event)])), requests: events.length } as Parameters<typeof quotaAmountOfTotals>[1];
  const summedMoney = { costPico: 15n, chargePico: 13n + 2n ** 62n };
  it.each<QuotaDefinition['metric']>(['total_tokens', 'prompt_tokens', 'completion_tokens', 'cache_read_tokens', 'cache_write_1h_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'requests', 'cost_pico_usd', 'charge_pico_usd'])('%s: the sum of each event\'s amount', (metric) => {
    const each = events.reduce((n, e, i) => n + quotaAmount({ metric }, e, money[i]), 0n);
    expect(quotaAmountOfTotals({ metric }, totals, summedMoney)).toBe(each);
  });
});

describe('crossedThresholds', () => {
  it.each<[string, number[], bigint, bigint, bigint, number[]]>([
    // [what, thresholds, limit, before, after, crossed]
    ['nothing crossed', [50, 80, 100], 1000n, 0n, 499n, []],
    ['exactly reaching 50 %', [50, 80, 100], 1000n, 0n, 500n, [50]],
    ['already at 50 % (crossed before)', [50, 80, 100], 1000n, 500n, 600n, []],
    ['one below to exactly 80 %', [50, 80, 100], 1000n, 799n, 800n, [80]],
    ['one jump over everything', [50, 80, 100], 1000n, 0n, 5000n, [50, 80, 100]],
    ['from 100 % on: nothing new', [50, 80, 100], 1000n, 1000n, 2000n, []],
    ['over 100 % thresholds', [100, 150, 200], 1000n, 1000n, 2000n, [150, 200]],
    ['no change', [50], 1000n, 500n, 500n, []],
    ['counter going down (correction)', [50], 1000n, 600n, 400n, []],
    ['fractional mark: 80 % of 3 is 2.4, crossed at 3', [80], 3n, 2n, 3n, [80]],
    ['fractional mark: not at 2', [80], 3n, 1n, 2n, []],
    ['1 % of a limit of 1', [1, 100], 1n, 0n, 1n, [1, 100]],
    ['unsorted thresholds come back ascending', [100, 50], 10n, 0n, 10n, [50, 100]],
    ['int64 limit, exact', [100], 2n ** 63n - 1n, 2n ** 63n - 2n, 2n ** 63n - 1n, [100]],
    ['int64 limit, one short', [100], 2n ** 63n - 1n, 0n, 2n ** 63n - 2n, []],
    ['no thresholds', [], 1000n, 0n, 5000n, []],
  ])('%s', (_what, thresholds, limit, before, after, expected) => {
    expect(crossedThresholds(thresholds, limit, before, after)).toEqual(expected);
  });

  it('rejects a fractional threshold', () => {
    expect(() => crossedThresholds([50.5], 100n, 0n, 100n)).toThrow(RangeError);
  });
});

describe('alertId', () => {
  const base = alertId('acme', 'monthly-total_tokens', '2026-11', 80);

  it('is 32 lowercase hex characters and deterministic', () => {
    expect(base).toMatch(/^[0-9a-f]{32}$/);
    expect(alertId('acme', 'monthly-total_tokens', '2026-11', 80)).toBe(base);
  });

  it.each<[string, string, string, string, number]>([
    ['other tenant', 'globex', 'monthly-total_tokens', '2026-11', 80],
    ['other quota', 'acme', 'monthly-requests', '2026-11', 80],
    ['other period', 'acme', 'monthly-total_tokens', '2026-12', 80],
    ['other threshold', 'acme', 'monthly-total_tokens', '2026-11', 100],
    ['parts shifted across the boundary', 'acme-monthly', 'total_tokens', '2026-11', 80],
  ])('differs for %s', (_what, tenant, quotaId, label, threshold) => {
    expect(alertId(tenant, quotaId, label, threshold)).not.toBe(base);
  });

  it('is pinned (stored alert ids must not change between releases)', () => {
    expect(alertId('acme', 'monthly-total_tokens', '2026-11', 80)).toBe('310169743b11201a8f20c041ce7caf10');
  });
});

describe('evaluateQuota', () => {
  const period = { start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1), label: '2026-11' };

  it.each<[string, Record<string, unknown>, bigint, { remaining: bigint; percent_used: number; exceeded: boolean; allowed: boolean }]>([
    ['unused', {}, 0n, { remaining: 1000n, percent_used: 0, exceeded: false, allowed: true }],
    ['half used', {}, 500n, { remaining: 500n, percent_used: 50, exceeded: false, allowed: true }],
    ['one short of the limit', {}, 999n, { remaining: 1n, percent_used: 99.9, exceeded: false, allowed: true }],
    ['exactly at the limit, hard', {}, 1000n, { remaining: 0n, percent_used: 100, exceeded: true, allowed: false }],
    ['over the limit, hard', {}, 1500n, { remaining: 0n, percent_used: 150, exceeded: true, allowed: false }],
    ['over the limit, soft', { enforcement: 'soft' }, 1500n, { remaining: 0n, percent_used: 150, exceeded: true, allowed: true }],
    ['percent rounds down (never shows 100 before the limit)', { limit: '100000' }, 99_999n, { remaining: 1n, percent_used: 99.99, exceeded: false, allowed: true }],
    ['percent with 2 decimals', { limit: '3' }, 1n, { remaining: 2n, percent_used: 33.33, exceeded: false, allowed: true }],
  ])('%s', (_what, over, used, expected) => {
    const def = quota(over);
    expect(evaluateQuota(def, used, NOW)).toEqual({
      quota_id: def.quota_id,
      tenant_id: 'acme',
      metric: 'total_tokens',
      enforcement: def.enforcement,
      limit: def.limit,
      used,
      ...expected,
      period,
      resets_at: period.end,
    });
  });

  it.each([
    ['UTC day', { period: 'day' }, Date.UTC(2026, 10, 24)],
    ['Kolkata day', { period: 'day', time_zone: 'Asia/Kolkata' }, Date.UTC(2026, 10, 23, 18, 30)],
    ['New York month', { time_zone: 'America/New_York' }, Date.UTC(2026, 11, 1, 5)],
  ])('resets at the end of the period in its zone: %s', (_what, over, resetsAt) => {
    expect(evaluateQuota(quota(over), 0n, NOW).resets_at).toBe(resetsAt);
  });

  it('rejects a negative counter', () => {
    expect(() => evaluateQuota(quota(), -1n, NOW)).toThrow(RangeError);
  });
});

describe('checkAllowed', () => {
  const hardOk = evaluateQuota(quota({ quota_id: 'hard-ok' }), 10n, NOW);
  const hardOver = evaluateQuota(quota({ quota_id: 'hard-over' }), 1000n, NOW);
  const softOver = evaluateQuota(quota({ quota_id: 'soft-over', enforcement: 'soft' }), 5000n, NOW);

  it.each([
    ['no quotas', [], true, []],
    ['all within', [hardOk], true, []],
    ['a soft quota over its limit only warns', [hardOk, softOver], true, []],
    ['a hard quota at its limit blocks', [hardOk, hardOver, softOver], false, ['hard-over']],
  ])('%s', (_what, statuses, allowed, blocking) => {
    const decision = checkAllowed(statuses);
    expect(decision.allowed).toBe(allowed);
    expect(decision.quotas).toEqual(statuses);
    expect(decision.blocking.map((s) => s.quota_id)).toEqual(blocking);
  });
});
