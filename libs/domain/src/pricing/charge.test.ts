import { describe, expect, it } from 'vitest';
import { usageEventV2Defaults } from '../usage-event/usage-event';
import { CatalogError, parseCatalog, type CatalogProblem } from './catalog';
import { chargeUsage, parseTenantOverrides, rateEvent, type ChargeInput, type ChargedUsage } from './charge';
import { priceEvent } from './event-money';
import type { LineName } from './price';
import { MAR_2025, testCostDocument, testRateCardDocument, usage } from './test-fixtures';

const costBook = parseCatalog(testCostDocument, 'test-costs.json');
const rateCard = parseCatalog(testRateCardDocument, 'test-rate-card.json');

const overrides = parseTenantOverrides(
  {
    format: 'meterline.tenant-overrides/v1',
    tenants: [
      { tenant_id: 't-none' },
      {
        tenant_id: 't-custom',
        model_prices: [
          { provider: 'acme', model: 'alpha', versions: [{ effective_from: '2025-03-01', prices: { input: '1.2', output: '5' } }] },
        ],
      },
      { tenant_id: 't-discount', discount_percent: '12.5' },
      { tenant_id: 't-markup', markup_percent: '20' },
      { tenant_id: 't-markup-discount', markup_percent: '20', discount_percent: '10' },
      { tenant_id: 't-markup-odd', markup_percent: '33.3333' },
      {
        tenant_id: 't-pico',
        discount_percent: '12.5',
        model_prices: [{ provider: 'acme', model: 'beta', versions: [{ effective_from: '2025-01-01', prices: { input: '0.000001', output: '0.000003' } }] }],
      },
    ],
  },
  'test-overrides.json',
);

function input(tenant: string, u: Partial<ChargeInput>): ChargeInput {
  return { ...usage(u), tenant_id: tenant };
}

function charged(u: ChargeInput): ChargedUsage {
  const result = chargeUsage(rateCard, overrides, costBook, u);
  if (!result.priced) throw new Error(`expected a charge, got ${result.reason}: ${result.message}`);
  return result;
}

const mixed = { input_tokens: 1_000, cache_read_tokens: 2_000, cache_write_tokens: 300, output_tokens: 500, reasoning_tokens: 700 };
const ZERO: Record<LineName, bigint> = { input: 0n, cache_read: 0n, cache_write: 0n, cache_write_1h: 0n, output: 0n, reasoning: 0n, audio_input: 0n, audio_output: 0n, image_input: 0n, image_output: 0n, units: 0n, request: 0n };

describe('chargeUsage', () => {
  it.each<[string, string, Partial<ChargeInput>, string, string, Partial<Record<LineName, bigint>>, bigint]>([
    // [what, tenant, usage, basis, price version, lines, total]
    [
      'rate card, no override',
      't-none',
      mixed,
      'rate_card',
      'acme/alpha@2025-01-01',
      { input: 1_500_000_000n, cache_read: 300_000_000n, cache_write: 562_500_000n, output: 3_000_000_000n, reasoning: 4_200_000_000n, request: 1_000_000_000n },
      10_562_500_000n,
    ],
    [
      'tenant custom price first (cache and reasoning default to its input and output)',
      't-custom',
      mixed,
      'tenant_price',
      'tenant:t-custom/acme/alpha@2025-03-01',
      { input: 1_200_000_000n, cache_read: 2_400_000_000n, cache_write: 360_000_000n, output: 2_500_000_000n, reasoning: 3_500_000_000n },
      9_960_000_000n,
    ],
    [
      'tenant custom price not in effect yet: the rate card',
      't-custom',
      { ...mixed, occurred_at: Date.UTC(2025, 1, 28, 23, 59, 59, 999) },
      'rate_card',
      'acme/alpha@2025-01-01',
      { input: 1_500_000_000n, cache_read: 300_000_000n, cache_write: 562_500_000n, output: 3_000_000_000n, reasoning: 4_200_000_000n, request: 1_000_000_000n },
      10_562_500_000n,
    ],
    [
      'a model the tenant has no custom price for: the rate card',
      't-custom',
      { model: 'beta', input_tokens: 1_000 },
      'rate_card',
      'acme/beta@2025-01-01',
      { input: 4_000_000_000n },
      4_000_000_000n,
    ],
    [
      'discount 12.5% on the rate card',
      't-discount',
      mixed,
      'rate_card',
      'acme/alpha@2025-01-01',
      { input: 1_312_500_000n, cache_read: 262_500_000n, cache_write: 492_187_500n, output: 2_625_000_000n, reasoning: 3_675_000_000n, request: 875_000_000n },
      9_242_187_500n,
    ],
    [
      'markup 20% on provider cost when the rate card lacks the model',
      't-markup',
      { model: 'alpha-mini', input_tokens: 1_000, output_tokens: 500 },
      'cost_plus_markup',
      'acme/alpha-mini@launch',
      { input: 120_000_000n, output: 240_000_000n },
      360_000_000n,
    ],
    [
      'markup does not replace a rate card price',
      't-markup',
      mixed,
      'rate_card',
      'acme/alpha@2025-01-01',
      { input: 1_500_000_000n, cache_read: 300_000_000n, cache_write: 562_500_000n, output: 3_000_000_000n, reasoning: 4_200_000_000n, request: 1_000_000_000n },
      10_562_500_000n,
    ],
    [
      'markup 20% then discount 10%: one rounding per line',
      't-markup-discount',
      { model: 'alpha-mini', input_tokens: 1_000, output_tokens: 500 },
      'cost_plus_markup',
      'acme/alpha-mini@launch',
      { input: 108_000_000n, output: 216_000_000n },
      324_000_000n,
    ],
    [
      'markup 33.3333%: 700,000 * 1.333333 = 933,333.1 -> 933,333; 1,200,000 * 1.333333 = 1,599,999.6 -> 1,600,000',
      't-markup-odd',
      { model: 'alpha-mini', input_tokens: 7, output_tokens: 3 },
      'cost_plus_markup',
      'acme/alpha-mini@launch',
      { input: 933_333n, output: 1_600_000n },
      2_533_333n,
    ],
    [
      'discount on a custom pico price, ties to even: 4 * 0.875 = 3.5 -> 4; 6 * 0.875 = 5.25 -> 5',
      't-pico',
      { model: 'beta', input_tokens: 4, output_tokens: 2 },
      'tenant_price',
      'tenant:t-pico/acme/beta@2025-01-01',
      { input: 4n, output: 5n },
      9n,
    ],
    [
      'discount on a custom pico price, ties to even: 12 * 0.875 = 10.5 -> 10',
      't-pico',
      { model: 'beta', input_tokens: 12 },
      'tenant_price',
      'tenant:t-pico/acme/beta@2025-01-01',
      { input: 10n },
      10n,
    ],
    [
      'a tenant missing from the overrides file gets the rate card',
      'someone-else',
      { model: 'beta', output_tokens: 10 },
      'rate_card',
      'acme/beta@2025-01-01',
      { output: 200_000_000n },
      200_000_000n,
    ],
  ])('%s', (_what, tenant, u, basis, priceVersionId, lines, total) => {
    const result = charged(input(tenant, u));
    expect(result.basis).toBe(basis);
    expect(result.priceVersionId).toBe(priceVersionId);
    expect(result.lines).toEqual({ ...ZERO, ...lines });
    expect(result.total).toBe(total);
  });

  it('records the percentages applied', () => {
    expect(charged(input('t-markup-discount', { model: 'alpha-mini', input_tokens: 1 }))).toMatchObject({ markupPercent: '20', discountPercent: '10' });
    expect(charged(input('t-none', { input_tokens: 1 }))).toMatchObject({ markupPercent: null, discountPercent: null });
  });

  it('adjusts cache savings with the same factor', () => {
    // Rate card savings 2,587,500,000 pico; 12.5% off -> 2,264,062,500.
    expect(charged(input('t-none', mixed)).cacheSavings).toBe(2_587_500_000n);
    expect(charged(input('t-discount', mixed)).cacheSavings).toBe(2_264_062_500n);
  });

  it.each<[string, string, Partial<ChargeInput>, string]>([
    ['model on neither price book, no markup', 't-none', { model: 'alpha-mini', input_tokens: 1 }, 'unknown_model'],
    ['model unknown to the cost book too, with markup', 't-markup', { model: 'zeta', input_tokens: 1 }, 'unknown_model'],
    ['custom price without the tier', 't-custom', { tier: 'batch', input_tokens: 1 }, 'unknown_tier'],
    ['rate card without the tier', 't-none', { tier: 'flex', input_tokens: 1 }, 'unknown_tier'],
  ])('unpriced: %s', (_what, tenant, u, reason) => {
    const result = chargeUsage(rateCard, overrides, costBook, input(tenant, u));
    expect(result).toMatchObject({ priced: false, reason });
  });

  it('a markup tenant falls back to cost for a tier the rate card lacks', () => {
    const result = charged(input('t-markup', { tier: 'flex', input_tokens: 1_000 }));
    expect(result).toMatchObject({ basis: 'cost_plus_markup', tier: 'flex' });
    expect(result.total).toBe(600_000_000n); // 1,000 * 500,000 * 1.2
  });

  it('works without an overrides file', () => {
    expect(chargeUsage(rateCard, undefined, costBook, input('t-markup', mixed))).toMatchObject({ priced: true, total: 10_562_500_000n });
  });
});

describe('rateEvent', () => {
  it('prices cost and charge and their margin', () => {
    const rated = rateEvent(rateCard, overrides, costBook, input('t-none', mixed));
    expect(rated.cost).toMatchObject({ priced: true, total: 8_075_000_000n, priceVersionId: 'acme/alpha@2025-01-01' });
    expect(rated.charge).toMatchObject({ priced: true, total: 10_562_500_000n });
    expect(rated.margin).toBe(2_487_500_000n);
  });

  it('margin can be negative', () => {
    // The custom price has no request fee and charges cache writes at its input rate, below cost.
    const rated = rateEvent(rateCard, overrides, costBook, input('t-custom', { cache_write_tokens: 1_000 }));
    // cost: 1,000 * 1,250,000 + request 1,000,000,000; charge: 1,000 * 1,200,000
    expect(rated.margin).toBe(1_200_000_000n - 2_250_000_000n);
  });

  it.each<[string, Partial<ChargeInput>, boolean, boolean]>([
    ['cost known, charge unknown', { model: 'alpha-mini', input_tokens: 1 }, true, false],
    ['both unknown', { model: 'zeta', input_tokens: 1 }, false, false],
  ])('margin is null when a side is unpriced: %s', (_what, u, costPriced, chargePriced) => {
    const rated = rateEvent(rateCard, overrides, costBook, input('t-none', u));
    expect(rated.cost.priced).toBe(costPriced);
    expect(rated.charge.priced).toBe(chargePriced);
    expect(rated.margin).toBeNull();
  });

  it('uses event time on both sides', () => {
    const rated = rateEvent(rateCard, overrides, costBook, input('t-none', { occurred_at: MAR_2025, input_tokens: 1 }));
    expect(rated.margin).toBe(1_500_000n + 1_000_000_000n - (1_000_000n + 1_000_000_000n));
  });
});

describe('parseTenantOverrides', () => {
  function problemsOf(json: unknown): CatalogProblem[] {
    try {
      parseTenantOverrides(json, 'overrides.json');
    } catch (error) {
      if (error instanceof CatalogError) return [...error.problems];
      throw error;
    }
    throw new Error('expected a CatalogError');
  }

  it('collects every problem with file, entry, field and rule', () => {
    const problems = problemsOf({
      format: 'meterline.tenant-overrides/v1',
      tenants: [
        { tenant_id: 'a', discount_percent: '150' },
        { tenant_id: 'b', markup_percent: '-5' },
        { tenant_id: 'c', discount_percent: 'ten' },
        { tenant_id: 'a' },
        { tenant_id: 'd', discount: '5' },
        { tenant_id: 'e', model_prices: [{ provider: 'acme', model: 'alpha', versions: [{ effective_from: '2025-01-01', prices: { input: '0.0000005', output: '1' } }] }] },
      ],
    });
    expect(problems.map((p) => `${p.file} | ${p.entry} | ${p.field} | ${p.rule}`)).toEqual([
      'overrides.json | tenant a | discount_percent | percent_range',
      'overrides.json | tenant b | markup_percent | percent_range',
      'overrides.json | tenant c | discount_percent | decimal',
      'overrides.json | tenant a | tenant_id | duplicate_tenant',
      'overrides.json | tenant d | discount | unrecognized_keys',
      'overrides.json | tenant e: acme/alpha | versions[0].prices.input | pico_integer',
    ]);
  });

  it('accepts 0% and 100% discounts and large markups', () => {
    const parsed = parseTenantOverrides(
      {
        format: 'meterline.tenant-overrides/v1',
        tenants: [
          { tenant_id: 'free', discount_percent: '100' },
          { tenant_id: 'x', discount_percent: '0', markup_percent: '250.5' },
        ],
      },
      'o.json',
    );
    const free = chargeUsage(rateCard, parsed, costBook, input('free', mixed));
    expect(free).toMatchObject({ priced: true, total: 0n });
    expect(parsed.tenants.get('x')?.markupPercent).toEqual({ text: '250.5', units: 2505n, scale: 1 });
  });
});

describe('priceEvent (totals only) agrees with rateEvent (line by line)', () => {
  it('on 5,000 random events over every tenant kind, model, tier and size', () => {
    const tenants = ['t-none', 't-custom', 't-discount', 't-markup', 't-markup-discount', 't-markup-odd', 't-pico', 't-unlisted'];
    const models: [string, string][] = [['acme', 'alpha'], ['acme', 'alpha-mini'], ['acme', 'beta'], ['acme', 'gamma'], ['other', 'alpha'], ['acme', 'zeta']];
    const tiers = [undefined, 'batch', 'flex'];
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    const pick = <T>(items: readonly T[]): T => items[rand(items.length)]!;
    const size = (): number => pick([0, 1, 7, 1_000, 250_000, 2_000_000_000, Number.MAX_SAFE_INTEGER]) + rand(1_000);
    const books = { id: 'test', costBook, rateCard, overrides };
    for (let i = 0; i < 5_000; i++) {
      const [provider, model] = pick(models);
      const tier = pick(tiers);
      const u = {
        tenant_id: pick(tenants),
        provider,
        model,
        occurred_at: pick([Date.UTC(2024, 11, 31), MAR_2025, Date.UTC(2025, 5, 1, 12), Date.UTC(2031, 0, 1)]) + rand(1_000),
        input_tokens: Math.min(size(), Number.MAX_SAFE_INTEGER),
        cache_read_tokens: rand(3) === 0 ? Math.min(size(), Number.MAX_SAFE_INTEGER) : 0,
        cache_write_tokens: rand(5) === 0 ? rand(100_000) : 0,
        output_tokens: Math.min(size(), Number.MAX_SAFE_INTEGER),
        reasoning_tokens: rand(4) === 0 ? rand(50_000) : 0,
      };
      const rated = rateEvent(rateCard, overrides, costBook, { ...u, tier: tier ?? null });
      const money = priceEvent(books, { ...usageEventV2Defaults(), ...u, metadata: tier === undefined ? {} : { service_tier: tier } });
      expect(money).toEqual({
        costPico: rated.cost.priced ? rated.cost.total : 0n,
        chargePico: rated.charge.priced ? rated.charge.total : 0n,
        cacheSavingsPico: rated.cost.priced ? rated.cost.cacheSavings : 0n,
        costPriced: rated.cost.priced,
        chargePriced: rated.charge.priced,
        costVersion: rated.cost.priced ? rated.cost.priceVersionId : null,
        chargeVersion: rated.charge.priced ? rated.charge.priceVersionId : null,
        unpriced: !rated.cost.priced
          ? { reason: rated.cost.reason, message: rated.cost.message }
          : !rated.charge.priced
            ? { reason: rated.charge.reason, message: rated.charge.message }
            : null,
      });
    }
  });
});
