import { describe, expect, it } from 'vitest';
import { parseCatalog } from './catalog';
import type { RateSet } from './catalog';
import { PricingInputError, priceLines, priceTotals, priceUsage, sumLines, type LineName, type PricedUsage, type Unpriced, type UsageToPrice } from './price';
import { JAN_2025, MAR_2025, NOON_JUNE_1, testCostDocument, usage } from './test-fixtures';

const catalog = parseCatalog(testCostDocument, 'test-costs.json');

function priced(u: UsageToPrice): PricedUsage {
  const result = priceUsage(catalog, u);
  if (!result.priced) throw new Error(`expected a price, got ${result.reason}: ${result.message}`);
  return result;
}

function unpriced(u: UsageToPrice): Unpriced {
  const result = priceUsage(catalog, u);
  if (result.priced) throw new Error(`expected no price, got ${result.total}`);
  return result;
}

const REQUEST_FEE = 1_000_000_000n; // $0.001 per request on acme/alpha v1

describe('priceUsage: every bucket', () => {
  // One bucket at a time on acme/alpha v1 (1 USD/1M = 1,000,000 pico per token).
  it.each<[Partial<UsageToPrice>, LineName, bigint]>([
    [{ input_tokens: 1 }, 'input', 1_000_000n],
    [{ input_tokens: 1_000 }, 'input', 1_000_000_000n],
    [{ cache_read_tokens: 1_000 }, 'cache_read', 100_000_000n],
    [{ cache_write_tokens: 1_000 }, 'cache_write', 1_250_000_000n],
    [{ output_tokens: 1_000 }, 'output', 4_000_000_000n],
    [{ reasoning_tokens: 1_000 }, 'reasoning', 5_000_000_000n],
  ])('%j prices the %s line at %s pico', (tokens, line, amount) => {
    const result = priced(usage(tokens));
    const expected: Record<LineName, bigint> = { input: 0n, cache_read: 0n, cache_write: 0n, cache_write_1h: 0n, output: 0n, reasoning: 0n, audio_input: 0n, audio_output: 0n, image_input: 0n, image_output: 0n, units: 0n, request: REQUEST_FEE };
    expected[line] = amount;
    expect(result.lines).toEqual(expected);
    expect(result.total).toBe(amount + REQUEST_FEE);
  });

  it('prices a mixed event exactly', () => {
    const result = priced(usage({ input_tokens: 1_000, cache_read_tokens: 2_000, cache_write_tokens: 300, output_tokens: 500, reasoning_tokens: 700 }));
    expect(result).toEqual({
      priced: true,
      priceVersionId: 'acme/alpha@2025-01-01',
      provider: 'acme',
      model: 'alpha',
      matchedBy: 'model',
      thresholdApplied: false,
      thresholdAbovePromptTokens: null,
      tier: null,
      lines: {
        input: 1_000_000_000n,
        cache_read: 200_000_000n,
        cache_write: 375_000_000n,
        output: 2_000_000_000n,
        reasoning: 3_500_000_000n,
        request: REQUEST_FEE,
        cache_write_1h: 0n, audio_input: 0n, audio_output: 0n, image_input: 0n, image_output: 0n, units: 0n,
      },
      unitLines: {},
      total: 8_075_000_000n,
      // 2,300 cached tokens at the input rate ($0.0023) minus what they cost ($0.000575).
      cacheSavings: 1_725_000_000n,
    });
  });

  it('reports the canonical model when priced through an alias or pattern', () => {
    expect(priced(usage({ model: 'alpha-2025-03-03', input_tokens: 1 }))).toMatchObject({ model: 'alpha', matchedBy: 'pattern' });
    expect(priced(usage({ model: 'alpha-latest', input_tokens: 1 }))).toMatchObject({ model: 'alpha', matchedBy: 'alias' });
  });
});

describe('priceUsage: prompt-size threshold', () => {
  it.each<[string, Partial<UsageToPrice>, boolean]>([
    ['199,999 prompt tokens', { input_tokens: 149_999, cache_read_tokens: 50_000 }, false],
    ['exactly 200,000 prompt tokens', { input_tokens: 150_000, cache_read_tokens: 50_000 }, false],
    ['200,001 prompt tokens', { input_tokens: 150_001, cache_read_tokens: 50_000 }, true],
    ['200,001 counting cache writes', { input_tokens: 100_000, cache_read_tokens: 50_000, cache_write_tokens: 50_001 }, true],
    ['output does not count', { input_tokens: 200_000, output_tokens: 1_000_000 }, false],
  ])('%s -> threshold %s', (_what, tokens, applied) => {
    const result = priced(usage(tokens));
    expect(result.thresholdApplied).toBe(applied);
    expect(result.thresholdAbovePromptTokens).toBe(applied ? 200_000 : null);
  });

  it('switches EVERY rate of the request, not only the part above the threshold', () => {
    const tokens = { input_tokens: 150_001, cache_read_tokens: 40_000, cache_write_tokens: 10_000, output_tokens: 1_000, reasoning_tokens: 2_000 };
    const result = priced(usage(tokens));
    expect(result.lines).toEqual({
      input: 150_001n * 2_000_000n,
      cache_read: 40_000n * 200_000n,
      cache_write: 10_000n * 2_500_000n,
      output: 1_000n * 6_000_000n,
      reasoning: 2_000n * 7_500_000n,
      cache_write_1h: 0n, audio_input: 0n, audio_output: 0n, image_input: 0n, image_output: 0n, units: 0n,
      request: 2_000_000_000n,
    });
    expect(result.total).toBe(300_002_000_000n + 8_000_000_000n + 25_000_000_000n + 6_000_000_000n + 15_000_000_000n + 2_000_000_000n);
    // Savings are measured against the threshold's input rate.
    expect(result.cacheSavings).toBe(50_000n * 2_000_000n - 8_000_000_000n - 25_000_000_000n);
  });

  it('at exactly 200,000 the base rates apply to every line', () => {
    const result = priced(usage({ input_tokens: 200_000, output_tokens: 10 }));
    expect(result.lines.input).toBe(200_000n * 1_000_000n);
    expect(result.lines.output).toBe(10n * 4_000_000n);
    expect(result.lines.request).toBe(REQUEST_FEE);
  });
});

describe('priceUsage: tiers', () => {
  it.each<[string | null | undefined, string | null, bigint, bigint]>([
    // [tier given, tier priced, input line for 1,000 tokens, cache_read line for 1,000 tokens]
    [undefined, null, 1_000_000_000n, 100_000_000n],
    [null, null, 1_000_000_000n, 100_000_000n],
    ['standard', null, 1_000_000_000n, 100_000_000n],
    ['default', null, 1_000_000_000n, 100_000_000n],
    ['ON_DEMAND', null, 1_000_000_000n, 100_000_000n], // Vertex AI's pay-as-you-go trafficType
    ['on_demand', null, 1_000_000_000n, 100_000_000n],
    ['Standard', null, 1_000_000_000n, 100_000_000n], // tiers are compared in lower case
    ['batch', 'batch', 500_000_000n, 500_000_000n], // the batch tier gives no cache_read: it defaults to the tier's input
    ['flex', 'flex', 500_000_000n, 50_000_000n],
    ['FLEX', 'flex', 500_000_000n, 50_000_000n],
  ])('tier %j prices as %j', (tier, pricedTier, input, cacheRead) => {
    const result = priced(usage({ tier, input_tokens: 1_000, cache_read_tokens: 1_000 }));
    expect(result.tier).toBe(pricedTier);
    expect(result.lines.input).toBe(input);
    expect(result.lines.cache_read).toBe(cacheRead);
  });

  it('a tier has its own thresholds', () => {
    const result = priced(usage({ tier: 'flex', input_tokens: 200_001, output_tokens: 10 }));
    expect(result).toMatchObject({ tier: 'flex', thresholdApplied: true });
    expect(result.lines.input).toBe(200_001n * 1_000_000n);
    expect(result.lines.output).toBe(10n * 3_000_000n);
    // The batch tier has no threshold: its rates stay flat.
    expect(priced(usage({ tier: 'batch', input_tokens: 300_000 })).thresholdApplied).toBe(false);
  });

  it.each([
    ['turbo', MAR_2025],
    ['batch', NOON_JUNE_1], // the June version defines no tiers
    ['PROVISIONED_THROUGHPUT', MAR_2025], // looked up as provisioned_throughput, which this catalog does not declare
  ])('unknown tier %j -> unpriced, never a base or zero price', (tier, at) => {
    const result = unpriced(usage({ tier, occurred_at: at, input_tokens: 1_000 }));
    expect(result.reason).toBe('unknown_tier');
    expect(result.message).toContain(JSON.stringify(tier));
  });
});

describe('priceUsage: effective dating', () => {
  it.each<[number, string | null]>([
    [JAN_2025 - 1, null],
    [JAN_2025, 'acme/alpha@2025-01-01'],
    [NOON_JUNE_1 - 1, 'acme/alpha@2025-01-01'],
    [NOON_JUNE_1, 'acme/alpha@2025-06-01T12:00:00.000Z'],
  ])('at %i the price is %s', (at, id) => {
    const result = priceUsage(catalog, usage({ occurred_at: at, input_tokens: 1_000 }));
    if (id === null) {
      expect(result).toMatchObject({ priced: false, reason: 'no_price_in_effect' });
    } else {
      expect(result).toMatchObject({ priced: true, priceVersionId: id });
    }
  });

  it('the price change applies from the boundary millisecond', () => {
    expect(priced(usage({ occurred_at: NOON_JUNE_1 - 1, input_tokens: 1_000 })).lines.input).toBe(1_000_000_000n);
    expect(priced(usage({ occurred_at: NOON_JUNE_1, input_tokens: 1_000 })).lines.input).toBe(800_000_000n);
  });

  it('a model whose first price starts later is not priced before it', () => {
    const result = unpriced(usage({ model: 'gamma', input_tokens: 1 }));
    expect(result.reason).toBe('no_price_in_effect');
    expect(result.message).toContain('2030-01-01T00:00:00.000Z');
  });
});

describe('priceUsage: cache savings', () => {
  it.each<[string, Partial<UsageToPrice>, bigint]>([
    ['reads save 90%', { cache_read_tokens: 1_000 }, 1_000n * 1_000_000n - 1_000n * 100_000n],
    ['writes cost 25% more: negative savings', { cache_write_tokens: 1_000 }, 1_000n * 1_000_000n - 1_000n * 1_250_000n],
    ['reads and writes together', { cache_read_tokens: 100, cache_write_tokens: 1_000 }, 90_000_000n - 250_000_000n],
    ['no cache, no savings', { input_tokens: 5_000, output_tokens: 10 }, 0n],
  ])('%s', (_what, tokens, expected) => {
    expect(priced(usage(tokens)).cacheSavings).toBe(expected);
  });
});

describe('priceUsage: unknown models are never free', () => {
  it.each([
    ['acme', 'delta'],
    ['acme', 'beta-x'],
    ['nobody', 'alpha'],
    ['', ''],
  ])('%s/%s -> unpriced unknown_model', (provider, model) => {
    const result = priceUsage(catalog, usage({ provider, model, input_tokens: 1_000 }));
    expect(result.priced).toBe(false);
    expect(result).toMatchObject({ reason: 'unknown_model' });
    expect('total' in result).toBe(false);
  });
});

describe('priceUsage: exact beyond 2^53', () => {
  it('a single huge event stays exact', () => {
    const tokens = Number.MAX_SAFE_INTEGER; // 2^53 - 1
    const result = priced(usage({ output_tokens: tokens, reasoning_tokens: tokens }));
    expect(result.total).toBe(9_007_199_254_740_991n * 4_000_000n + 9_007_199_254_740_991n * 5_000_000n + REQUEST_FEE);
    expect(result.total).toBe(81_064_793_292_668_919_000_000n + REQUEST_FEE);
  });

  it('a sum of many events over 2^53 pico is exact to the last pico', () => {
    // 3 and 7 pico-USD per token: totals are odd, so a float accumulator drops the low bits.
    const odd = parseCatalog(
      { format: 'meterline.prices/v1', models: [{ provider: 'acme', model: 'odd', versions: [{ effective_from: '2025-01-01', prices: { input: '0.000003', output: '0.000007' } }] }] },
      'odd.json',
    );
    let total = 0n;
    let asFloat = 0;
    for (let i = 0; i < 1_000; i++) {
      const result = priceUsage(odd, usage({ model: 'odd', input_tokens: 4_000_000_000_000_001 + i, output_tokens: 1 }));
      if (!result.priced) throw new Error(result.message);
      total += result.total;
      asFloat += Number(result.total);
    }
    // sum over i of ((4,000,000,000,000,001 + i) * 3 + 7)
    const expected = 1_000n * (4_000_000_000_000_001n * 3n + 7n) + 3n * ((999n * 1_000n) / 2n);
    expect(total).toBe(expected);
    expect(total).toBe(12_000_000_000_001_508_500n);
    expect(total > 2n ** 53n).toBe(true);
    expect(BigInt(asFloat)).not.toBe(expected); // what a float accumulator would have lost
  });
});

describe('priceUsage: invalid usage', () => {
  it.each<[Partial<UsageToPrice>]>([
    [{ input_tokens: -1 }],
    [{ output_tokens: 1.5 }],
    [{ cache_read_tokens: Number.NaN }],
    [{ reasoning_tokens: 2 ** 53 }],
    [{ occurred_at: 1.5 }],
  ])('%j throws PricingInputError', (bad) => {
    expect(() => priceUsage(catalog, usage(bad))).toThrow(PricingInputError);
  });
});

describe('priceTotals: the per-event total without lines equals the sum of the lines', () => {
  const MAX = Number.MAX_SAFE_INTEGER;
  const rateSet = (input: bigint, cacheRead: bigint, cacheWrite: bigint, output: bigint, reasoning: bigint, request: bigint): RateSet => ({
    input,
    cache_read: cacheRead,
    cache_write: cacheWrite,
    output,
    reasoning,
    request,
    cache_write_1h: cacheWrite,
    audio_input: null,
    audio_output: null,
    image_input: null,
    image_output: null,
    units: new Map(),
  });
  const typical = rateSet(2_500_000n, 1_250_000n, 3_125_000n, 10_000_000n, 10_000_000n, 0n);
  it.each<[string, RateSet, Partial<UsageToPrice>]>([
    ['a typical event (doubles)', typical, { input_tokens: 1_200, cache_read_tokens: 800, cache_write_tokens: 100, output_tokens: 350, reasoning_tokens: 40 }],
    ['nothing used, a request fee only', rateSet(0n, 0n, 0n, 0n, 0n, 1_000_000_000n), {}],
    ['cache writes dearer than input: negative savings', typical, { cache_write_tokens: 1_000 }],
    ['total exactly 2^53 - 1 (last exact double)', rateSet(1n, 0n, 0n, 0n, 0n, 0n), { input_tokens: MAX }],
    ['total 2^53 (BigInt path)', rateSet(1n, 0n, 0n, 0n, 0n, 1n), { input_tokens: MAX }],
    ['a product past 2^53 that rounds in doubles', rateSet(3n, 0n, 0n, 0n, 0n, 0n), { input_tokens: 3_002_399_751_580_331 }],
    ['cached tokens at the input rate past 2^53, total below', rateSet(4_000_000n, 0n, 0n, 0n, 0n, 0n), { cache_read_tokens: 2_251_799_813 }],
    ['a rate past 2^53', rateSet(2n ** 60n, 1n, 1n, 1n, 1n, 1n), { input_tokens: 3, output_tokens: 5 }],
    ['huge usage at a large rate', rateSet(600_000_000n, 300_000_000n, 750_000_000n, 2_400_000_000n, 2_400_000_000n, 5n), {
      input_tokens: 2_000_000_000, cache_read_tokens: 1_500_000_000, cache_write_tokens: 7, output_tokens: 999_999_999, reasoning_tokens: 123_456_789 }],
  ])('%s', (_name, rates, overrides) => {
    const u = usage(overrides);
    const { lines, cacheSavings } = priceLines(u, rates);
    expect(priceTotals(u, rates)).toEqual({ total: sumLines(lines), cacheSavings });
  });
});

describe('priceUsage: the v2 buckets and units, each at its own rate', () => {
  // USD per 1M tokens -> pico per token: x 1,000,000. Units: USD per unit -> pico: x 10^12.
  const v2 = parseCatalog(
    {
      format: 'meterline.prices/v1',
      models: [
        {
          provider: 'acme',
          model: 'omni',
          versions: [
            {
              effective_from: '2025-01-01',
              prices: {
                input: '3', cache_read: '0.3', cache_write: '3.75', cache_write_1h: '6', output: '15',
                audio_input: '40', audio_output: '80', image_input: '5', image_output: '30',
                units: { web_search: '0.01', code_execution: '0.05' },
              },
              thresholds: [{ above_prompt_tokens: 200_000, prices: { input: '6', cache_read: '0.6', cache_write: '7.5', cache_write_1h: '12', output: '22.5', audio_input: '80', audio_output: '80', image_input: '10', image_output: '30', units: { web_search: '0.01', code_execution: '0.05' } } }],
              tiers: { priority: { prices: { input: '5', cache_read: '0.5', output: '25', units: { web_search: '0.02' } } } },
            },
          ],
        },
      ],
    },
    'v2.json',
  );
  const omni = (u: Partial<UsageToPrice>): UsageToPrice => ({ ...usage({ provider: 'acme', model: 'omni', occurred_at: MAR_2025 }), ...u });
  const lineOf = (u: Partial<UsageToPrice>): PricedUsage => {
    const result = priceUsage(v2, omni(u));
    if (!result.priced) throw new Error(`${result.reason}: ${result.message}`);
    return result;
  };

  it.each<[Partial<UsageToPrice>, LineName, bigint]>([
    [{ cache_write_1h_tokens: 1_000 }, 'cache_write_1h', 1_000n * 6_000_000n],
    [{ cache_write_tokens: 1_000 }, 'cache_write', 1_000n * 3_750_000n],
    [{ audio_input_tokens: 1_000 }, 'audio_input', 1_000n * 40_000_000n],
    [{ audio_output_tokens: 1_000 }, 'audio_output', 1_000n * 80_000_000n],
    [{ image_input_tokens: 1_000 }, 'image_input', 1_000n * 5_000_000n],
    [{ image_output_tokens: 1_000 }, 'image_output', 1_000n * 30_000_000n],
    [{ units: { web_search: 3 } }, 'units', 3n * 10_000_000_000n],
    [{ units: { web_search: 2, code_execution: 1 } }, 'units', 2n * 10_000_000_000n + 50_000_000_000n],
  ])('%j prices the %s line at %s pico, and nothing else', (u, line, amount) => {
    const result = lineOf(u);
    expect(result.lines[line]).toBe(amount);
    expect(result.total).toBe(amount);
    const rates = v2.entries[0]!.versions[0]!.standard.rates;
    const { lines, cacheSavings } = priceLines(omni(u), rates);
    expect(priceTotals(omni(u), rates)).toEqual({ total: sumLines(lines), cacheSavings });
  });

  it('lists each unit on its own line (their sum is the units line)', () => {
    expect(lineOf({ units: { web_search: 2, code_execution: 1, web_fetch: 0 } }).unitLines).toEqual({ code_execution: 50_000_000_000n, web_search: 20_000_000_000n });
  });

  it('a 1-hour write is not priced at the 5-minute rate (the 37.5% under-billing of issue 15)', () => {
    const fiveMinute = lineOf({ cache_write_tokens: 10_000 }).total;
    const oneHour = lineOf({ cache_write_1h_tokens: 10_000 }).total;
    expect(oneHour).toBe(60_000_000_000n);
    expect(Number(oneHour - fiveMinute) / Number(oneHour)).toBe(0.375);
  });

  it('1-hour writes and cache reads count as savings against the input rate', () => {
    expect(lineOf({ cache_read_tokens: 1_000, cache_write_1h_tokens: 1_000 }).cacheSavings).toBe(2_000n * 3_000_000n - 1_000n * 300_000n - 1_000n * 6_000_000n);
  });

  it('the threshold counts every input bucket (text, cache, audio, image) and switches the media rates too', () => {
    const result = lineOf({ input_tokens: 100_000, audio_input_tokens: 50_000, image_input_tokens: 50_000, cache_write_1h_tokens: 1 });
    expect(result.thresholdAbovePromptTokens).toBe(200_000);
    expect(result.lines.audio_input).toBe(50_000n * 80_000_000n);
    expect(result.lines.cache_write_1h).toBe(12_000_000n);
  });

  it('a tier defines its own rates: a 1-hour write defaults to its 5-minute rate, which defaults to its input', () => {
    const result = lineOf({ tier: 'priority', cache_write_1h_tokens: 1_000, cache_read_tokens: 1_000, units: { web_search: 1 } });
    expect(result.tier).toBe('priority');
    expect(result.lines).toMatchObject({ cache_write_1h: 5_000_000_000n, cache_read: 500_000_000n, units: 20_000_000_000n });
  });

  it.each<[string, Partial<UsageToPrice>, string]>([
    ['audio tokens on a plan without an audio rate', { tier: 'priority', audio_input_tokens: 1 }, 'audio_input'],
    ['image output on a plan without the rate', { tier: 'priority', image_output_tokens: 5 }, 'image_output'],
    ['a unit the plan does not price', { units: { file_search: 1 } }, 'units.file_search'],
  ])('%s is unpriced (no_rate), never $0 for the part', (_name, u, named) => {
    const result = priceUsage(v2, omni(u));
    expect(result).toMatchObject({ priced: false, reason: 'no_rate' });
    expect(!result.priced && result.message).toContain(named);
  });

  it('a zero count of an unpriced unit or media bucket needs no rate', () => {
    expect(priceUsage(v2, omni({ tier: 'priority', audio_input_tokens: 0, units: { file_search: 0 } })).priced).toBe(true);
  });

  it('rejects a unit price with a bad name or more than 12 decimals, naming the field', () => {
    const bad = (units: Record<string, string>) => () =>
      parseCatalog({ format: 'meterline.prices/v1', models: [{ provider: 'p', model: 'm', versions: [{ effective_from: '2025-01-01', prices: { input: '1', output: '1', units } }] }] }, 'bad.json');
    expect(bad({ 'Web-Search': '0.01' })).toThrow(/units\.Web-Search.*unit_name/);
    expect(bad({ web_search: '0.0000000000001' })).toThrow(/units\.web_search.*pico_integer/);
  });
});
