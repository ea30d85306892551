import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from './catalog';
import { chargeUsage, parseTenantOverrides, rateEvent, type ChargeInput } from './charge';
import { importLiteLLM } from './litellm';
import { formatPico, toMinorUnits } from './money';
import { lineNames, priceUsage, type UsageToPrice } from './price';
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
            const probe: UsageToPrice = {
              provider: entry.provider,
              model: entry.model,
              occurred_at: version.effectiveFrom,
              tier,
              input_tokens: input,
              cache_read_tokens: 1,
              cache_write_tokens: 1,
              output_tokens: 1,
              reasoning_tokens: 1,
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

describe('the shipped cost book against the current LiteLLM price map (checked-in excerpt)', () => {
  const excerpt = JSON.parse(readFileSync(new URL('./fixtures/litellm-current-excerpt.json', import.meta.url), 'utf8')) as { source: { commit: string }; models: Record<string, unknown> };
  const imported = parseCatalog(importLiteLLM(excerpt.models, { effectiveFrom: '2025-01-01' }).catalog, `LiteLLM @ ${excerpt.source.commit.slice(0, 12)}`);
  const at = Date.UTC(2025, 7, 1);
  // Usage touching every rate LiteLLM and the catalog both price, below and above a threshold.
  const usages: Omit<UsageToPrice, 'provider' | 'model' | 'occurred_at'>[] = [
    { input_tokens: 1_000, cache_read_tokens: 2_000, cache_write_tokens: 300, cache_write_1h_tokens: 400, output_tokens: 500, reasoning_tokens: 0, units: { web_search: 3 } },
    { input_tokens: 250_000, cache_read_tokens: 2_000, cache_write_tokens: 300, cache_write_1h_tokens: 400, output_tokens: 500, reasoning_tokens: 0, units: { web_search: 1 } },
  ];

  it.each(Object.keys(excerpt.models))('%s: every line the shipped catalog charges equals what LiteLLM prices', (key) => {
    const model = imported.entries.find((e) => e.model === key)!;
    expect(model).toBeDefined();
    for (const u of usages) {
      const ours = priceUsage(costBook, { ...u, provider: 'anthropic', model: key, occurred_at: at });
      const theirs = priceUsage(imported, { ...u, provider: 'anthropic', model: key, occurred_at: at });
      if (!ours.priced || !theirs.priced) throw new Error(`${key}: ${ours.priced ? '' : ours.message} ${theirs.priced ? '' : theirs.message}`);
      for (const line of lineNames) expect(ours.lines[line], `${key} ${line} at ${u.input_tokens} input tokens`).toBe(theirs.lines[line]);
      expect(ours.unitLines).toEqual(theirs.unitLines);
    }
  });

  it('the 1-hour write and web search lines are not zero: the v2 rates are in the shipped book', () => {
    const sonnet = priceUsage(costBook, { ...usages[0]!, provider: 'anthropic', model: 'claude-sonnet-4-20250514', occurred_at: at });
    expect(sonnet.priced && sonnet.lines).toMatchObject({ cache_write_1h: 400n * 6_000_000n, units: 3n * 10_000_000_000n });
  });
});
