import { describe, expect, it } from 'vitest';
import { defaultQuotaId, legacyQuotaMetrics, MAX_QUOTA_LIMIT, parseQuotaDefinition, quotaMetrics, QuotaDefinitionError, type QuotaDefinition } from './definition';

const KEY = 'ab'.repeat(32);
const minimal = { tenant_id: 'acme', metric: 'total_tokens', period: 'month', limit: '1000000', enforcement: 'hard', updated_at: 1_700_000_000_000 };

function problemsOf(input: unknown): string[] {
  try {
    parseQuotaDefinition(input);
  } catch (error) {
    if (error instanceof QuotaDefinitionError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a QuotaDefinitionError');
}

describe('parseQuotaDefinition', () => {
  it('fills defaults', () => {
    expect(parseQuotaDefinition(minimal)).toEqual<QuotaDefinition>({
      quota_id: 'monthly-total_tokens',
      tenant_id: 'acme',
      scope: {},
      metric: 'total_tokens',
      period: 'month',
      time_zone: 'UTC',
      limit: 1_000_000n,
      thresholds: [50, 80, 100],
      enforcement: 'hard',
      updated_at: 1_700_000_000_000,
    });
  });

  it('keeps what is given, sorting and de-duplicating thresholds', () => {
    const def = parseQuotaDefinition({
      ...minimal,
      quota_id: 'gpt4o-budget',
      scope: { project_id: 'web', api_key_hash: KEY, model: 'gpt-4o' },
      metric: 'cost_pico_usd',
      period: 'day',
      time_zone: 'Europe/Berlin',
      limit: '9223372036854775807',
      thresholds: [100, 50, 90, 50, 150],
      enforcement: 'soft',
    });
    expect(def).toMatchObject({
      quota_id: 'gpt4o-budget',
      scope: { project_id: 'web', api_key_hash: KEY, model: 'gpt-4o' },
      time_zone: 'Europe/Berlin',
      limit: MAX_QUOTA_LIMIT,
      thresholds: [50, 90, 100, 150],
      enforcement: 'soft',
    });
  });

  it.each<[string, unknown, bigint]>([
    ['an integer string', '5000000000000', 5_000_000_000_000n],
    ['a safe integer', 42, 42n],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER, BigInt(Number.MAX_SAFE_INTEGER)],
    ['a bigint', 7n, 7n],
    ['leading zeros', '007', 7n],
    ['2^63-1 as a string', '9223372036854775807', 2n ** 63n - 1n],
  ])('accepts a limit given as %s', (_what, limit, expected) => {
    expect(parseQuotaDefinition({ ...minimal, limit }).limit).toBe(expected);
  });

  it('round-trips: parsing a parsed definition (limit as a string, as stored) changes nothing', () => {
    const def = parseQuotaDefinition({ ...minimal, scope: { model: 'gpt-4o' }, time_zone: 'Asia/Kolkata', thresholds: [80] });
    expect(parseQuotaDefinition(JSON.parse(JSON.stringify({ ...def, limit: def.limit.toString() })))).toEqual(def);
    expect(parseQuotaDefinition(def)).toEqual(def);
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    // [what, change, field, rule]
    ['missing tenant', { tenant_id: undefined }, 'tenant_id', 'required'],
    ['blank tenant', { tenant_id: '  ' }, 'tenant_id', 'non_empty'],
    ['tenant not a string', { tenant_id: 7 }, 'tenant_id', 'type'],
    ['too long tenant', { tenant_id: 'x'.repeat(257) }, 'tenant_id', 'max_length'],
    ['bad quota_id characters', { quota_id: 'my quota!' }, 'quota_id', 'pattern'],
    ['empty quota_id', { quota_id: '' }, 'quota_id', 'non_empty'],
    ['too long quota_id', { quota_id: 'q'.repeat(257) }, 'quota_id', 'max_length'],
    ['unknown metric', { metric: 'tokens' }, 'metric', 'one_of'],
    ['missing metric', { metric: undefined }, 'metric', 'required'],
    ['unknown period', { period: 'week' }, 'period', 'one_of'],
    ['unknown enforcement', { enforcement: 'strict' }, 'enforcement', 'one_of'],
    ['unknown time zone', { time_zone: 'Mars/Olympus_Mons' }, 'time_zone', 'time_zone'],
    ['time zone not a string', { time_zone: 1 }, 'time_zone', 'type'],
    ['missing limit', { limit: undefined }, 'limit', 'required'],
    ['zero limit', { limit: 0 }, 'limit', 'positive_integer'],
    ['negative limit', { limit: '-5' }, 'limit', 'positive_integer'],
    ['fractional limit', { limit: 1.5 }, 'limit', 'positive_integer'],
    ['decimal string limit', { limit: '1.5' }, 'limit', 'positive_integer'],
    ['exponent string limit', { limit: '1e6' }, 'limit', 'positive_integer'],
    ['limit with spaces', { limit: ' 100' }, 'limit', 'positive_integer'],
    ['unsafe integer number limit', { limit: 2 ** 60 }, 'limit', 'positive_integer'],
    ['limit over 2^63-1', { limit: '9223372036854775808' }, 'limit', 'max_int64'],
    ['limit as an object', { limit: { value: 1 } }, 'limit', 'positive_integer'],
    ['threshold 0', { thresholds: [0, 50] }, 'thresholds[0]', 'range'],
    ['threshold over 1000', { thresholds: [50, 1001] }, 'thresholds[1]', 'range'],
    ['fractional threshold', { thresholds: [50, 99.5] }, 'thresholds[1]', 'integer'],
    ['threshold as a string', { thresholds: ['50'] }, 'thresholds[0]', 'type'],
    ['thresholds not an array', { thresholds: 50 }, 'thresholds', 'type'],
    ['too many thresholds', { thresholds: Array.from({ length: 33 }, (_, i) => i + 1) }, 'thresholds', 'max_items'],
    ['api_key_hash not hex', { scope: { api_key_hash: 'sk-live-123' } }, 'scope.api_key_hash', 'pattern'],
    ['api_key_hash upper case', { scope: { api_key_hash: KEY.toUpperCase() } }, 'scope.api_key_hash', 'pattern'],
    ['empty model', { scope: { model: '' } }, 'scope.model', 'non_empty'],
    ['scope not an object', { scope: 'gpt-4o' }, 'scope', 'type'],
    ['unknown scope field', { scope: { models: 'gpt-4o' } }, 'scope.models', 'unknown_field'],
    ['unknown top-level field', { limits: 5 }, 'limits', 'unknown_field'],
    ['updated_at missing', { updated_at: undefined }, 'updated_at', 'required'],
    ['updated_at negative', { updated_at: -1 }, 'updated_at', 'range'],
    ['updated_at fractional', { updated_at: 1.5 }, 'updated_at', 'integer'],
    ['updated_at as ISO text', { updated_at: '2026-01-01' }, 'updated_at', 'type'],
  ])('rejects %s, naming the field and rule', (_what, change, field, rule) => {
    const input: Record<string, unknown> = { ...minimal, ...change };
    for (const key of Object.keys(change)) if (change[key] === undefined) delete input[key];
    const problems = problemsOf(input);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: .+ \\[${rule}\\]$`));
  });

  it('lists every problem at once', () => {
    const problems = problemsOf({ tenant_id: '', metric: 'tokens', period: 'week', limit: -1, thresholds: [0], enforcement: 'x', time_zone: 'Nowhere/City', extra: 1 });
    expect(problems.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['tenant_id', 'metric', 'period', 'limit', 'thresholds[0]', 'enforcement', 'time_zone', 'updated_at', 'extra']),
    );
    expect(problems).toHaveLength(9);
  });

  it('writes messages a person can act on', () => {
    const [limit] = problemsOf({ ...minimal, limit: '1.5' });
    expect(limit).toBe('limit: must be a positive integer: a safe integer number or a string of digits such as "5000000000000", got "1.5" [positive_integer]');
    const [zone] = problemsOf({ ...minimal, time_zone: 'Europe/Berln' });
    expect(zone).toContain('unknown time zone "Europe/Berln"');
    const [field] = problemsOf({ ...minimal, scope: { modle: 'x' } });
    expect(field).toBe('scope.modle: unknown field (check the spelling; allowed: project_id, api_key_hash, model) [unknown_field]');
    const [big] = problemsOf({ ...minimal, limit: 2 ** 60 });
    expect(big).toContain('write it as a string');
  });

  it('says which definition is at fault in the error message', () => {
    expect(() => parseQuotaDefinition({ ...minimal, quota_id: 'q1', limit: 0 })).toThrow(/invalid quota definition "q1": 1 problem:\n {2}- limit: /);
  });

  it.each([[null], ['a string'], [[1, 2]], [undefined]])('rejects a non-object (%j)', (input) => {
    const problems = problemsOf(input);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^\(root\): .+ \[(type|required)\]$/);
  });
});

describe('defaultQuotaId', () => {
  it.each<[string, Pick<QuotaDefinition, 'scope' | 'metric' | 'period'>, string | RegExp]>([
    ['tenant-wide monthly', { scope: {}, metric: 'total_tokens', period: 'month' }, 'monthly-total_tokens'],
    ['daily by model', { scope: { model: 'gpt-4o' }, metric: 'requests', period: 'day' }, 'daily-requests-model:gpt-4o'],
    ['every scope field', { scope: { project_id: 'web', api_key_hash: KEY, model: 'gpt-4o' }, metric: 'cost_pico_usd', period: 'month' }, 'monthly-cost_pico_usd-project:web-key:abababababababab-model:gpt-4o'],
    ['a model with "/" and ":"', { scope: { model: 'meta/llama3:8b' }, metric: 'completion_tokens', period: 'day' }, /^daily-completion_tokens-model:meta_llama3_8b\.[0-9a-f]{8}$/],
    ['a very long project', { scope: { project_id: 'p'.repeat(200) }, metric: 'prompt_tokens', period: 'day' }, /^daily-prompt_tokens-project:p{48}\.[0-9a-f]{8}$/],
  ])('%s', (_what, def, expected) => {
    const id = defaultQuotaId(def);
    if (typeof expected === 'string') expect(id).toBe(expected);
    else expect(id).toMatch(expected);
    expect(id).toMatch(/^[A-Za-z0-9_.:-]+$/);
  });

  it.each<[string, QuotaDefinition['scope'], QuotaDefinition['scope']]>([
    ['"/" vs "_"', { model: 'a/b' }, { model: 'a_b' }],
    ['"/" vs ":"', { model: 'a/b' }, { model: 'a:b' }],
    ['a project whose name looks like a model part', { project_id: 'a-model:b' }, { project_id: 'a', model: 'b' }],
    ['long values sharing a prefix', { project_id: `${'p'.repeat(100)}1` }, { project_id: `${'p'.repeat(100)}2` }],
  ])('keeps different scopes apart: %s', (_what, a, b) => {
    expect(defaultQuotaId({ scope: a, metric: 'requests', period: 'day' })).not.toBe(defaultQuotaId({ scope: b, metric: 'requests', period: 'day' }));
  });

  it('is what parseQuotaDefinition fills in', () => {
    expect(parseQuotaDefinition({ ...minimal, scope: { model: 'gpt-4o' } }).quota_id).toBe('monthly-total_tokens-model:gpt-4o');
  });
});

describe('legacy metric names (stored before usage-event v2)', () => {
  it.each<[string, string]>([
    ['input_tokens', 'prompt_tokens'],
    ['output_tokens', 'completion_tokens'],
  ])('%s is read as %s; a generated quota id stays the one the old name gave', (legacy, metric) => {
    const def = parseQuotaDefinition({ tenant_id: 'acme', metric: legacy, period: 'month', limit: '1000', enforcement: 'soft', updated_at: 1 });
    expect(def.metric).toBe(metric);
    expect(def.quota_id).toBe(`monthly-${legacy}`);
    expect(legacyQuotaMetrics[legacy]).toBe(metric);
    // A definition with its own id keeps it, and reads the same metric.
    expect(parseQuotaDefinition({ quota_id: 'q', tenant_id: 'acme', metric: legacy, period: 'day', limit: 5, enforcement: 'hard', updated_at: 1 })).toMatchObject({ quota_id: 'q', metric });
  });

  it('the new names are the only ones a definition is written with', () => {
    expect(quotaMetrics).not.toContain('input_tokens');
    expect(quotaMetrics).not.toContain('output_tokens');
    expect(parseQuotaDefinition({ tenant_id: 'acme', metric: 'prompt_tokens', period: 'month', limit: '1', enforcement: 'soft', updated_at: 1 }).quota_id).toBe('monthly-prompt_tokens');
  });
});
