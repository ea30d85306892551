import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCatalog, type CatalogEntry, type PricePlan, type RateSet } from './catalog';
import { chargeUsage, parseTenantOverrides, rateEvent, type ChargeInput } from './charge';
import { importLiteLLM } from './litellm';
import { formatPico, parseDecimal, toMinorUnits } from './money';
import { lineNames, priceUsage, ratesFor, type UsageToPrice } from './price';
import { findEntry, resolvePrice } from './resolve';

// The price files shipped in pricing/ (tests may read files; the domain code never does).
function load(path: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../../../pricing/${path}`, import.meta.url), 'utf8'));
}

const costBook = parseCatalog(load('catalog/provider-costs.json'), 'pricing/catalog/provider-costs.json');
const rateCard = parseCatalog(load('catalog/rate-card.json'), 'pricing/catalog/rate-card.json');
const overrides = parseTenantOverrides(load('tenants/overrides.json'), 'pricing/tenants/overrides.json');

function event(overrides: Partial<ChargeInput>): ChargeInput {
  return {
    tenant_id: 'default-tenant',
    provider: 'openai',
    model: 'gpt-4o',
    occurred_at: Date.UTC(2025, 7, 1),
    input_tokens: 0,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 0,
    reasoning_tokens: 0,
    ...overrides,
  };
}

describe('shipped price files', () => {
  it('parse', () => {
    expect(costBook.entries.map((e) => `${e.provider}/${e.model}`)).toEqual(
      expect.arrayContaining([
        'openai/gpt-4o',
        'openai/gpt-4o-mini',
        'openai/gpt-4.1',
        'openai/gpt-4.1-mini',
        'openai/o3',
        'openai/o4-mini',
        'anthropic/claude-sonnet-4',
        'anthropic/claude-3-7-sonnet',
        'anthropic/claude-3-5-haiku',
        'anthropic/claude-opus-4',
        'google/gemini-2.5-pro',
        'google/gemini-2.5-flash',
      ]),
    );
    expect([...overrides.tenants.keys()]).toEqual(['acme-corp', 'globex', 'initech']);
  });

  it('every rate card model and alias has a provider cost, so margins can be computed', () => {
    for (const entry of rateCard.entries) {
      for (const name of [entry.model, ...entry.aliases]) {
        expect(findEntry(costBook, entry.provider, name), `${entry.provider}/${name}`).toBeDefined();
      }
    }
  });

  it('every version and tier of the cost book has a rate card price (or events would go unpriced)', () => {
    for (const entry of costBook.entries) {
      if (entry.model === 'gpt-4o-2024-05-13') continue; // left out on purpose, see rate-card.json
      for (const version of entry.versions) {
        const card = resolvePrice(rateCard, entry.provider, entry.model, version.effectiveFrom);
        expect(card, version.priceVersionId).toBeDefined();
        for (const tier of version.tiers.keys()) expect(card?.version.tiers.has(tier), `${version.priceVersionId} tier ${tier}`).toBe(true);
      }
    }
  });

  it('the rate card charges at least the provider cost on every line, tier and threshold', () => {
    for (const entry of rateCard.entries) {
      for (const version of entry.versions) {
        for (const [tier, plan] of [[null, version.standard] as const, ...version.tiers.entries()]) {
          // One probe below every threshold, one just above each threshold of either book.
          const costVersion = resolvePrice(costBook, entry.provider, entry.model, version.effectiveFrom)?.version;
          const costPlan = tier === null ? costVersion?.standard : costVersion?.tiers.get(tier);
          const thresholds = [...plan.thresholds, ...(costPlan?.thresholds ?? [])].map((t) => t.abovePromptTokens + 1);
          for (const input of [1, ...thresholds]) {
            // Every media bucket and unit the cost book prices there: the rate card must price them too.
            const costRates = costPlan === undefined ? undefined : ratesFor(costPlan, input).rates;
            const media = (rate: bigint | null | undefined): number => (rate === null || rate === undefined ? 0 : 1);
            const probe: UsageToPrice = {
              provider: entry.provider,
              model: entry.model,
              occurred_at: version.effectiveFrom,
              tier,
              input_tokens: input,
              cache_read_tokens: 1,
              cache_write_tokens: 1,
              cache_write_1h_tokens: 1,
              output_tokens: 1,
              reasoning_tokens: 1,
              audio_input_tokens: media(costRates?.audio_input),
              audio_output_tokens: media(costRates?.audio_output),
              image_input_tokens: media(costRates?.image_input),
              image_output_tokens: media(costRates?.image_output),
              units: Object.fromEntries([...(costRates?.units.keys() ?? [])].map((name) => [name, 1])),
            };
            const label = `${version.priceVersionId} tier=${String(tier)} input=${input}`;
            const cost = priceUsage(costBook, probe);
            const charge = priceUsage(rateCard, probe);
            expect(cost.priced && charge.priced, label).toBe(true);
            if (!cost.priced || !charge.priced) continue;
            expect(charge.thresholdApplied, label).toBe(cost.thresholdApplied);
            for (const line of lineNames) expect(charge.lines[line] >= cost.lines[line], `${label} ${line}`).toBe(true);
          }
        }
      }
    }
  });

  it('prices a Claude Sonnet 4 event with cache reads and writes exactly', () => {
    const rated = rateEvent(rateCard, overrides, costBook, event({ provider: 'anthropic', model: 'claude-sonnet-4-20250514', input_tokens: 1_200, cache_read_tokens: 50_000, cache_write_tokens: 3_000, output_tokens: 800 }));
    expect(rated.cost).toEqual({
      priced: true,
      priceVersionId: 'anthropic/claude-sonnet-4@2025-05-22',
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      matchedBy: 'alias',
      thresholdApplied: false,
      thresholdAbovePromptTokens: null,
      tier: null,
      lines: { input: 3_600_000_000n, cache_read: 15_000_000_000n, cache_write: 11_250_000_000n, output: 12_000_000_000n, reasoning: 0n, request: 0n, cache_write_1h: 0n, audio_input: 0n, audio_output: 0n, image_input: 0n, image_output: 0n, units: 0n },
      unitLines: {},
      total: 41_850_000_000n,
      cacheSavings: 132_750_000_000n,
    });
    expect(rated.charge).toMatchObject({ priced: true, basis: 'rate_card', total: 50_220_000_000n });
    expect(rated.margin).toBe(8_370_000_000n);
    expect(rated.cost.priced && formatPico(rated.cost.total)).toBe('$0.04185');
    expect(rated.cost.priced && toMinorUnits(rated.cost.total)).toBe(4n);
  });

  it('switches Gemini 2.5 Pro to its long-context rates above 200,000 prompt tokens', () => {
    const at200k = priceUsage(costBook, event({ provider: 'google', model: 'gemini-2.5-pro', input_tokens: 150_000, cache_read_tokens: 50_000, output_tokens: 2_000, reasoning_tokens: 3_000 }));
    const above = priceUsage(costBook, event({ provider: 'google', model: 'gemini-2.5-pro', input_tokens: 200_000, cache_read_tokens: 50_000, output_tokens: 2_000, reasoning_tokens: 3_000 }));
    expect(at200k).toMatchObject({ thresholdApplied: false, total: 150_000n * 1_250_000n + 50_000n * 125_000n + 5_000n * 10_000_000n });
    expect(above).toMatchObject({ thresholdApplied: true, total: 587_500_000_000n });
  });

  it('prices o3 at the old price until the 2025-06-10 cut, to the millisecond', () => {
    const before = priceUsage(costBook, event({ model: 'o3', occurred_at: Date.UTC(2025, 5, 10) - 1, input_tokens: 1_000, output_tokens: 1_000 }));
    const after = priceUsage(costBook, event({ model: 'o3', occurred_at: Date.UTC(2025, 5, 10), input_tokens: 1_000, output_tokens: 1_000 }));
    expect(before).toMatchObject({ priceVersionId: 'openai/o3@2025-04-16', total: 50_000_000_000n });
    expect(after).toMatchObject({ priceVersionId: 'openai/o3@2025-06-10', total: 10_000_000_000n });
  });

  it('charges acme-corp its negotiated gpt-4o price less 10%', () => {
    const rated = rateEvent(rateCard, overrides, costBook, event({ tenant_id: 'acme-corp', model: 'gpt-4o-2024-11-20', input_tokens: 10_000, output_tokens: 1_000 }));
    expect(rated.charge).toMatchObject({ basis: 'tenant_price', priceVersionId: 'tenant:acme-corp/openai/gpt-4o@2025-01-01', discountPercent: '10', total: 36_540_000_000n });
    expect(rated.margin).toBe(36_540_000_000n - 35_000_000_000n);
  });

  it('charges globex cost plus 15% less 5% for a model missing from the rate card; others get no price, never a wrong one', () => {
    const u = { model: 'gpt-4o-2024-05-13', input_tokens: 1_000, output_tokens: 1_000 };
    expect(chargeUsage(rateCard, overrides, costBook, event({ tenant_id: 'globex', ...u }))).toMatchObject({ basis: 'cost_plus_markup', total: 21_850_000_000n });
    expect(chargeUsage(rateCard, overrides, costBook, event({ tenant_id: 'someone', ...u }))).toMatchObject({ priced: false, reason: 'unknown_model' });
  });
});

describe('the shipped books price audio, image and web search usage, and the Vertex tiers', () => {
  // Expected totals are written out from the list prices (pico-USD per token = USD per 1M x 10^6):
  // the cost book's and the rate card's (+20%) rates for each line, multiplied here by hand.
  const flashUsage = { provider: 'google', model: 'gemini-2.5-flash', input_tokens: 1_000, cache_read_tokens: 200, audio_input_tokens: 500, image_input_tokens: 300, output_tokens: 100, reasoning_tokens: 50, units: { web_search: 1 } };
  const flashCost = 1_000n * 300_000n + 200n * 30_000n + 500n * 1_000_000n + 300n * 300_000n + 150n * 2_500_000n + 35_000_000_000n;
  const flashCharge = 1_000n * 360_000n + 200n * 36_000n + 500n * 1_200_000n + 300n * 360_000n + 150n * 3_000_000n + 42_000_000_000n;
  it.each<[string, Partial<ChargeInput>, bigint, bigint, string | null]>([
    // [what, usage, cost total, charge total, tier priced]
    [
      'gpt-4o-audio-preview-2024-12-17: audio in and out at the audio rates, text at the text rates',
      { model: 'gpt-4o-audio-preview-2024-12-17', input_tokens: 20, audio_input_tokens: 44, output_tokens: 10, audio_output_tokens: 100 },
      20n * 2_500_000n + 44n * 40_000_000n + 10n * 10_000_000n + 100n * 80_000_000n,
      20n * 3_000_000n + 44n * 48_000_000n + 10n * 12_000_000n + 100n * 96_000_000n,
      null,
    ],
    [
      'gpt-4o-mini-audio-preview: audio input only',
      { model: 'gpt-4o-mini-audio-preview', input_tokens: 9, audio_input_tokens: 150, output_tokens: 22 },
      9n * 150_000n + 150n * 10_000_000n + 22n * 600_000n,
      9n * 180_000n + 150n * 12_000_000n + 22n * 720_000n,
      null,
    ],
    ['gemini-2.5-flash, no tier: audio, image and a grounded prompt apart', flashUsage, flashCost, flashCharge, null],
    ['gemini-2.5-flash, Vertex ON_DEMAND: the base prices', { ...flashUsage, tier: 'ON_DEMAND' }, flashCost, flashCharge, null],
    ['gemini-2.5-flash, on_demand: the base prices', { ...flashUsage, tier: 'on_demand' }, flashCost, flashCharge, null],
    ['gemini-2.5-flash, Gemini API standard: the base prices', { ...flashUsage, tier: 'standard' }, flashCost, flashCharge, null],
    [
      'gemini-2.5-flash, Vertex PROVISIONED_THROUGHPUT: no per-token cost (the capacity is a subscription), the list charge',
      { ...flashUsage, tier: 'PROVISIONED_THROUGHPUT' },
      35_000_000_000n,
      flashCharge,
      'provisioned_throughput',
    ],
    [
      'gemini-2.5-flash batch: audio at half price',
      { ...flashUsage, tier: 'batch', cache_read_tokens: 0 },
      1_000n * 150_000n + 500n * 500_000n + 300n * 150_000n + 150n * 1_250_000n + 35_000_000_000n,
      1_000n * 180_000n + 500n * 600_000n + 300n * 180_000n + 150n * 1_500_000n + 42_000_000_000n,
      'batch',
    ],
    [
      'gemini-2.5-pro ON_DEMAND above 200K prompt tokens: audio counts toward the threshold and is priced at the long-context input rate',
      { provider: 'google', model: 'gemini-2.5-pro', tier: 'ON_DEMAND', input_tokens: 150_000, audio_input_tokens: 60_000, output_tokens: 1_000 },
      210_000n * 2_500_000n + 1_000n * 15_000_000n,
      210_000n * 3_000_000n + 1_000n * 18_000_000n,
      null,
    ],
    [
      'gpt-4o priority: image tokens at the tier input rate',
      { model: 'gpt-4o-2024-11-20', tier: 'priority', input_tokens: 1_000, image_input_tokens: 765, output_tokens: 100 },
      1_765n * 4_250_000n + 100n * 17_000_000n,
      1_765n * 5_100_000n + 100n * 20_400_000n,
      'priority',
    ],
  ])('%s', (_what, usage, cost, charge, tier) => {
    const rated = rateEvent(rateCard, overrides, costBook, event(usage));
    expect(rated.cost).toMatchObject({ priced: true, tier, total: cost });
    expect(rated.charge).toMatchObject({ priced: true, basis: 'rate_card', tier, total: charge });
    expect(rated.margin).toBe(charge - cost);
  });

  it.each([
    ['a tier the books do not define', { ...flashUsage, tier: 'SCALE' }, 'unknown_tier'],
    ['audio output Gemini 2.5 Flash does not price', { ...flashUsage, audio_output_tokens: 10 }, 'no_rate'],
    ['image tokens on a model with no image rate', { provider: 'anthropic', model: 'claude-3-5-haiku-20241022', input_tokens: 10, image_input_tokens: 10, output_tokens: 1 }, 'no_rate'],
  ])('%s: unpriced, never priced at the base or at 0', (_what, usage, reason) => {
    const rated = rateEvent(rateCard, overrides, costBook, event(usage));
    expect(rated.cost).toMatchObject({ priced: false, reason });
    expect(rated.charge).toMatchObject({ priced: false, reason });
  });
});

describe('the shipped cost book against the current LiteLLM price map (checked-in excerpt)', () => {
  type LiteLLMEntry = Record<string, unknown>;
  const excerpt = JSON.parse(readFileSync(new URL('./fixtures/litellm-current-excerpt.json', import.meta.url), 'utf8')) as { source: { commit: string }; models: Record<string, LiteLLMEntry> };
  const commit = excerpt.source.commit.slice(0, 12);

  // Which LiteLLM key checks a name the cost book prices: the same name (OpenAI, Anthropic), the
  // Gemini API's `gemini/` key (Google), or a stated substitute. Names LiteLLM has no key for are
  // listed, so a model dropped from LiteLLM (or from the excerpt) fails here instead of going unchecked.
  const SUBSTITUTE_KEYS: Record<string, string> = {
    'anthropic/claude-3-5-haiku-20241022': 'bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0', // retired on Anthropic's API; Bedrock lists the same prices
  };
  const NOT_IN_LITELLM = [
    'anthropic/claude-sonnet-4', 'anthropic/claude-sonnet-4-0',
    'anthropic/claude-3-7-sonnet', 'anthropic/claude-3-7-sonnet-latest',
    'anthropic/claude-3-5-haiku', 'anthropic/claude-3-5-haiku-latest',
    'anthropic/claude-opus-4', 'anthropic/claude-opus-4-0',
  ];
  const keyOf = (provider: string, name: string): string => SUBSTITUTE_KEYS[`${provider}/${name}`] ?? (provider === 'google' ? `gemini/${name}` : name);

  const PRIORITY_25_PRO =
    "LiteLLM states Gemini 2.5 Pro's priority tier at the standard price (and Gemini 3 Pro's at 1.8x): not verified against Google's price page, so priority events stay unpriced (unknown_tier) rather than priced by a guess";
  // Deliberate differences from a rate LiteLLM states, each with its reason. Every entry must
  // still be a difference (a fixed one fails the test, so this list never goes stale).
  const ALLOWED_DIFFERENCES: Record<string, string> = {
    'gpt-4o-mini-2024-07-18 base units.web_search':
      'LiteLLM prices a search by its search context size (low 0.025, medium 0.0275, high 0.03 USD); the usage event counts searches without their size, so no single unit price is right: OpenAI web search on gpt-4o-mini stays unpriced (no_rate)',
    'gemini/gemini-2.5-pro priority input': PRIORITY_25_PRO,
    'gemini/gemini-2.5-pro priority output': PRIORITY_25_PRO,
    'gemini/gemini-2.5-pro priority >200000 input': PRIORITY_25_PRO,
    'gemini/gemini-2.5-pro priority >200000 output': PRIORITY_25_PRO,
  };

  const TOKEN_FIELDS = {
    input: 'input_cost_per_token',
    cache_read: 'cache_read_input_token_cost',
    cache_write: 'cache_creation_input_token_cost',
    cache_write_1h: 'cache_creation_input_token_cost_above_1hr',
    output: 'output_cost_per_token',
    audio_input: 'input_cost_per_audio_token',
    audio_output: 'output_cost_per_audio_token',
    image_input: 'input_cost_per_image_token',
    image_output: 'output_cost_per_image_token',
  } as const;
  const TIER_SUFFIXES: Record<string, string> = { batch: 'batches', flex: 'flex', priority: 'priority' };

  /** LiteLLM's USD number as pico-USD, exactly (through its shortest decimal string). */
  const pico = (value: unknown): bigint => {
    if (typeof value !== 'number') throw new TypeError(`a LiteLLM price is a JSON number, got ${JSON.stringify(value)}`);
    return parseDecimal(String(value), 12);
  };
  /** The field LiteLLM states for a rate in a tier (null: base) above a prompt size (null: none). */
  const litellmField = (field: string, tier: string | null, above: number | null): string =>
    `${field}${above === null ? '' : `_above_${above / 1000}k_tokens`}${tier === null ? '' : `_${TIER_SUFFIXES[tier] ?? tier}`}`;
  const thresholdsOf = (entry: LiteLLMEntry): number[] =>
    [...new Set(Object.keys(entry).flatMap((k) => /_above_(\d+)k_tokens/.exec(k)?.[1] ?? []).map((n) => Number(n) * 1000))];
  const tiersOf = (entry: LiteLLMEntry): string[] =>
    Object.entries(TIER_SUFFIXES).filter(([, suffix]) => Object.keys(entry).some((k) => k.endsWith(`_${suffix}`))).map(([tier]) => tier);
  const searchPrices = (entry: LiteLLMEntry): bigint[] => [...new Set(Object.values((entry.search_context_cost_per_query ?? {}) as Record<string, number>).map(pico))];

  /** The rates a plan charges at a prompt size: its base below every threshold, else the threshold's. */
  const planRates = (plan: PricePlan | undefined, above: number | null): RateSet | undefined => (plan === undefined ? undefined : ratesFor(plan, above === null ? 0 : above + 1).rates);
  const show = (v: bigint | null | undefined): string => (v === undefined ? 'no such tier' : v === null ? 'no rate' : `${v} pico`);

  /** A rate LiteLLM states that the plan differs on: `id` is `<key> <tier>[ >above] <field>`. */
  interface Difference { id: string; detail: string }

  /** Every rate LiteLLM states for a key, against the plan the catalog (or the import) prices it with. */
  function differences(key: string, entry: LiteLLMEntry, model: CatalogEntry): Difference[] {
    const version = model.versions.at(-1)!; // the prices in force now
    const out: Difference[] = [];
    const tiers: (string | null)[] = [null, ...new Set([...tiersOf(entry), ...version.tiers.keys()])];
    for (const tier of tiers) {
      const plan = tier === null ? version.standard : version.tiers.get(tier);
      const aboves: (number | null)[] = [null, ...new Set([...thresholdsOf(entry), ...(plan?.thresholds.map((t) => t.abovePromptTokens) ?? [])])];
      for (const above of aboves) {
        const ours = planRates(plan, above);
        const where = `${key} ${tier ?? 'base'}${above === null ? '' : ` >${above}`}`;
        const check = (field: string, theirs: bigint, mine: bigint | null | undefined): void => {
          if (mine !== theirs) out.push({ id: `${where} ${field}`, detail: `catalog ${show(mine)}, LiteLLM ${theirs} pico` });
        };
        for (const [field, litellm] of Object.entries(TOKEN_FIELDS)) {
          const stated = entry[litellmField(litellm, tier, above)];
          if (stated !== undefined) check(field, pico(stated), ours?.[field as keyof typeof TOKEN_FIELDS]);
        }
        if (tier === null && above === null) {
          if (entry.output_cost_per_reasoning_token !== undefined) check('reasoning', pico(entry.output_cost_per_reasoning_token), ours?.reasoning);
          if (entry.input_cost_per_request !== undefined) check('request', pico(entry.input_cost_per_request), ours?.request);
        }
        // A search price has no tier or prompt-size variant in LiteLLM: it holds in every plan the catalog has.
        const search = searchPrices(entry);
        if (search.length === 1 && plan !== undefined) check('units.web_search', search[0]!, ours?.units.get('web_search') ?? null);
        if (search.length > 1 && tier === null && above === null) out.push({ id: `${where} units.web_search`, detail: `LiteLLM prices search context sizes apart (${search.join(', ')} pico)` });
      }
    }
    return out;
  }

  // Each shipped name paired with its LiteLLM key.
  const pairs = costBook.entries.flatMap((model) =>
    [model.model, ...model.aliases].map((name) => ({ model, name, key: keyOf(model.provider, name) })).filter(({ key }) => key in excerpt.models),
  );

  it('every model of the cost book is checked against LiteLLM, and every excerpt entry checks one', () => {
    for (const model of costBook.entries) expect(pairs.some((p) => p.model === model), `${model.provider}/${model.model}`).toBe(true);
    const missing = costBook.entries.flatMap((m) => [m.model, ...m.aliases].filter((n) => !(keyOf(m.provider, n) in excerpt.models)).map((n) => `${m.provider}/${n}`));
    expect(missing.sort()).toEqual([...NOT_IN_LITELLM].sort());
    expect(Object.keys(excerpt.models).filter((k) => !pairs.some((p) => p.key === k))).toEqual([]);
  });

  it.each(pairs.map((p) => [`${p.model.provider}/${p.name}`, p] as const))('%s: every rate LiteLLM states is the catalog rate, or a listed difference', (_name, { model, key }) => {
    const found = differences(key, excerpt.models[key]!, model);
    expect(found.filter((d) => !(d.id in ALLOWED_DIFFERENCES)).map((d) => `${d.id}: ${d.detail}`)).toEqual([]);
  });

  it('every listed difference is still a difference (and has a reason)', () => {
    const found = new Set(pairs.flatMap(({ model, key }) => differences(key, excerpt.models[key]!, model).map((d) => d.id)));
    for (const [id, reason] of Object.entries(ALLOWED_DIFFERENCES)) {
      expect(found.has(id), id).toBe(true);
      expect(reason.length, id).toBeGreaterThan(20);
    }
  });

  it('the importer reads every excerpt entry with exactly the rates LiteLLM states (the check above reads them alike)', () => {
    const result = importLiteLLM(excerpt.models, { effectiveFrom: '2025-01-01' });
    expect(result.skipped).toEqual([]);
    const imported = parseCatalog(result.catalog, `LiteLLM @ ${commit}`);
    for (const [key, entry] of Object.entries(excerpt.models)) {
      const provider = entry.litellm_provider as string;
      const model = imported.entries.find((e) => e.provider === provider && e.model === (key.startsWith(`${provider}/`) ? key.slice(provider.length + 1) : key));
      expect(model, key).toBeDefined();
      // Against itself the import differs only where LiteLLM prices search context sizes apart.
      expect(differences(key, entry, model!).filter((d) => !d.detail.includes('search context sizes apart')).map((d) => `${d.id}: ${d.detail}`)).toEqual([]);
    }
  });

  // LiteLLM's cost calculator prices image tokens at input_cost_per_token when a model has no
  // image rate, and the providers bill images as input tokens: every vision model prices
  // image_input at each plan's input rate. Every model that takes audio prices it (Gemini 2.5
  // Pro's audio costs what text does; LiteLLM, stating no audio rate, would bill it at 0).
  it.each(pairs.map((p) => [`${p.model.provider}/${p.name}`, p] as const))('%s: prices the media LiteLLM says it takes, in every plan and threshold', (_name, { model, key }) => {
    const entry = excerpt.models[key]!;
    const modalities = (entry.supported_modalities ?? []) as string[];
    const vision = entry.supports_vision === true || modalities.includes('image');
    const audioIn = entry.supports_audio_input === true || modalities.includes('audio');
    const audioOut = entry.supports_audio_output === true;
    const version = model.versions.at(-1)!;
    for (const [tier, plan] of [['base', version.standard] as const, ...version.tiers.entries()]) {
      for (const rates of [plan.rates, ...plan.thresholds.map((t) => t.rates)]) {
        if (vision && entry.input_cost_per_image_token === undefined) expect(rates.image_input, `${key} ${tier} image_input`).toBe(rates.input);
        if (audioIn) expect(rates.audio_input, `${key} ${tier} audio_input`).not.toBeNull();
        if (audioOut) expect(rates.audio_output, `${key} ${tier} audio_output`).not.toBeNull();
      }
    }
  });

  it('the v2 rates are in the shipped book: 1-hour writes, web search, audio and image lines are priced', () => {
    const at = Date.UTC(2025, 7, 1);
    const sonnet = priceUsage(costBook, { provider: 'anthropic', model: 'claude-sonnet-4-20250514', occurred_at: at, input_tokens: 1_000, cache_read_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 400, output_tokens: 10, reasoning_tokens: 0, units: { web_search: 3 } });
    expect(sonnet.priced && sonnet.lines).toMatchObject({ cache_write_1h: 400n * 6_000_000n, units: 3n * 10_000_000_000n });
    const flash = priceUsage(costBook, { provider: 'google', model: 'gemini-2.5-flash', occurred_at: at, input_tokens: 1_000, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 10, reasoning_tokens: 0, audio_input_tokens: 36, image_input_tokens: 117, units: { web_search: 1 } });
    expect(flash.priced && flash.lines).toMatchObject({ audio_input: 36n * 1_000_000n, image_input: 117n * 300_000n, units: 35_000_000_000n });
  });
});
