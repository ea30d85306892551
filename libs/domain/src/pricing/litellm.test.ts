import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCatalog, type ModelPriceDocument } from './catalog';
import { importLiteLLM } from './litellm';
import { priceUsage } from './price';

const excerpt: unknown = JSON.parse(readFileSync(new URL('./fixtures/litellm-excerpt.json', import.meta.url), 'utf8'));

const result = importLiteLLM(excerpt, { effectiveFrom: '2025-07-01T00:00:00Z' });

function imported(provider: string, model: string): ModelPriceDocument {
  const entry = result.catalog.models.find((m) => m.provider === provider && m.model === model);
  if (entry === undefined) throw new Error(`${provider}/${model} not imported`);
  return entry;
}

describe('importLiteLLM', () => {
  it('imports the priced chat and embedding models, sorted by provider and model', () => {
    expect(result.catalog.models.map((m) => `${m.provider}/${m.model}`)).toEqual([
      'anthropic/claude-sonnet-4-20250514',
      'azure/o4-mini',
      'gemini/gemini-2.5-pro',
      'openai/gpt-4o',
      'openai/o3',
      'openai/text-embedding-3-small',
    ]);
  });

  it('skips sample_spec, unpriced modes and duplicates, with reasons', () => {
    expect(result.skipped).toEqual([
      { key: 'sample_spec', reason: expect.stringContaining('not a model') as string },
      { key: 'openai/gpt-4o', reason: expect.stringContaining('duplicate of "gpt-4o"') as string },
      { key: 'dall-e-3', reason: expect.stringContaining('mode image_generation') as string },
      { key: 'tts-1', reason: expect.stringContaining('mode audio_speech') as string },
    ]);
  });

  it.each<[string, string, Partial<ModelPriceDocument['versions'][number]>]>([
    [
      'openai',
      'gpt-4o',
      {
        prices: { input: '2.5', output: '10', cache_read: '1.25' },
        tiers: {
          batch: { prices: { input: '1.25', output: '5', cache_read: '0.625' } },
          priority: { prices: { input: '4.25', output: '17', cache_read: '2.125' } },
        },
      },
    ],
    [
      'openai',
      'o3',
      {
        prices: { input: '2', output: '8', cache_read: '0.5' },
        tiers: {
          batch: { prices: { input: '1', output: '4', cache_read: '0.25' } },
          flex: { prices: { input: '1', output: '4', cache_read: '0.25' } },
        },
      },
    ],
    [
      'anthropic',
      'claude-sonnet-4-20250514',
      {
        prices: { input: '3', output: '15', cache_read: '0.3', cache_write: '3.75', cache_write_1h: '6', units: { web_search: '0.01' } },
        thresholds: [{ above_prompt_tokens: 200_000, prices: { input: '6', output: '22.5', cache_read: '0.6', cache_write: '7.5', cache_write_1h: '12', units: { web_search: '0.01' } } }],
      },
    ],
    [
      'gemini',
      'gemini-2.5-pro',
      {
        prices: { input: '1.25', output: '10', cache_read: '0.125' },
        thresholds: [{ above_prompt_tokens: 200_000, prices: { input: '2.5', output: '15', cache_read: '0.25' } }],
      },
    ],
    ['azure', 'o4-mini', { prices: { input: '1.1', output: '4.4', cache_read: '0.275' } }],
    [
      'openai',
      'text-embedding-3-small',
      { prices: { input: '0.02', output: '0' }, tiers: { batch: { prices: { input: '0.01', output: '0' } } } },
    ],
  ])('%s/%s converts per-token floats to exact per-million decimals', (provider, model, expected) => {
    const entry = imported(provider, model);
    expect(entry.versions).toHaveLength(1);
    expect(entry.versions[0]).toEqual({ effective_from: '2025-07-01T00:00:00Z', ...expected });
  });

  it('warns where it had to fill in or leave out prices', () => {
    expect(result.warnings).toEqual([
      { key: 'gpt-4o', message: expect.stringContaining('tier batch: cache_read (0.625: the base cached price times the tier\'s input discount) not given') as string },
      { key: 'o3', message: expect.stringContaining('tier batch: cache_read (0.25: the base cached price times the tier\'s input discount) not given') as string },
      { key: 'claude-sonnet-4-20250514', message: 'derived: cache_write_1h above 200000 prompt tokens (12: the 1-hour write price times the threshold\'s input increase)' },
    ]);
  });

  it('produces a catalog that parses and prices exactly, threshold included', () => {
    const catalog = parseCatalog(result.catalog, 'litellm-import.json');
    const at = Date.UTC(2025, 7, 1);
    const below = priceUsage(catalog, { provider: 'gemini', model: 'gemini-2.5-pro', occurred_at: at, input_tokens: 200_000, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 1_000, reasoning_tokens: 500 });
    const above = priceUsage(catalog, { provider: 'gemini', model: 'gemini-2.5-pro', occurred_at: at, input_tokens: 200_001, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 1_000, reasoning_tokens: 500 });
    expect(below).toMatchObject({ priced: true, priceVersionId: 'gemini/gemini-2.5-pro@2025-07-01', thresholdApplied: false, total: 200_000n * 1_250_000n + 1_500n * 10_000_000n });
    expect(above).toMatchObject({ priced: true, thresholdApplied: true, total: 200_001n * 2_500_000n + 1_500n * 15_000_000n });
    // Before effectiveFrom nothing is priced.
    expect(priceUsage(catalog, { provider: 'openai', model: 'gpt-4o', occurred_at: Date.UTC(2025, 5, 30), input_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0 })).toMatchObject({
      priced: false,
      reason: 'no_price_in_effect',
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a price below one pico-USD per token', { input_cost_per_token: 1.5e-13, output_cost_per_token: 1e-6 }, 'input_cost_per_token = 1.5e-13 USD per token is not a whole number of pico-USD per token'],
    ['no input price', { output_cost_per_token: 1e-6 }, 'no input_cost_per_token'],
    ['no output price on a chat model', { input_cost_per_token: 1e-6 }, 'no output_cost_per_token'],
    ['a negative price', { input_cost_per_token: -1e-6, output_cost_per_token: 1e-6 }, 'negative'],
    ['a non-numeric price', { input_cost_per_token: 'free', output_cost_per_token: 1e-6 }, 'not a decimal number'],
    ['no mode', { mode: undefined, input_cost_per_token: 1e-6, output_cost_per_token: 1e-6 }, 'mode missing'],
  ])('skips a model with %s', (_what, fields, reason) => {
    const out = importLiteLLM({ 'm-1': { litellm_provider: 'openai', mode: 'chat', ...fields } });
    expect(out.catalog.models).toEqual([]);
    expect(out.skipped).toEqual([{ key: 'm-1', reason: expect.stringContaining(reason) as string }]);
  });

  it('never multiplies floats: 0.1 + 0.2 style values stay exact', () => {
    // 3e-7 and 1.1e-6 have no exact binary form; String() gives their shortest decimal.
    const out = importLiteLLM({
      m: { litellm_provider: 'x', mode: 'completion', input_cost_per_token: 3e-7, output_cost_per_token: 1.1e-6, output_cost_per_reasoning_token: 3.3e-6, input_cost_per_request: 0.0001 },
    });
    expect(out.catalog.models[0]!.versions[0]!.prices).toEqual({ input: '0.3', output: '1.1', reasoning: '3.3', request: '0.0001' });
    const catalog = parseCatalog(out.catalog, 'x.json');
    expect(catalog.entries[0]!.versions[0]!.standard.rates).toEqual({
      input: 300_000n,
      cache_read: 300_000n,
      cache_write: 300_000n,
      output: 1_100_000n,
      reasoning: 3_300_000n,
      request: 100_000_000n,
      cache_write_1h: 300_000n,
      audio_input: null, audio_output: null, image_input: null, image_output: null, units: new Map(),
    });
  });

  it('filters providers and defaults effective_from to the epoch', () => {
    const out = importLiteLLM(excerpt, { providers: ['anthropic'] });
    expect(out.catalog.models.map((m) => m.model)).toEqual(['claude-sonnet-4-20250514']);
    expect(out.catalog.models[0]!.versions[0]!.effective_from).toBe('1970-01-01T00:00:00Z');
    expect(out.skipped).toContainEqual({ key: 'gpt-4o', reason: 'provider openai not selected' });
  });

  it('accepts the responses mode and keeps a non-matching key prefix', () => {
    const out = importLiteLLM({ 'openai/o3-pro': { litellm_provider: 'openai', mode: 'responses', input_cost_per_token: 2e-5, output_cost_per_token: 8e-5 }, 'vertex_ai/claude-x': { litellm_provider: 'vertex_ai-anthropic_models', mode: 'chat', input_cost_per_token: 1e-6, output_cost_per_token: 1e-6 } });
    expect(out.catalog.models.map((m) => `${m.provider}|${m.model}`)).toEqual(['openai|o3-pro', 'vertex_ai-anthropic_models|vertex_ai/claude-x']);
  });

  it('imports thresholds of a tier (`*_above_200k_tokens_priority`) and warns when a tier has none', () => {
    const out = importLiteLLM({
      'gemini-x': {
        litellm_provider: 'vertex_ai-language-models',
        mode: 'chat',
        input_cost_per_token: 1.25e-6,
        output_cost_per_token: 1e-5,
        input_cost_per_token_above_200k_tokens: 2.5e-6,
        output_cost_per_token_above_200k_tokens: 1.5e-5,
        input_cost_per_token_priority: 2.25e-6,
        output_cost_per_token_priority: 1.8e-5,
        input_cost_per_token_above_200k_tokens_priority: 4.5e-6,
        output_cost_per_token_above_200k_tokens_priority: 2.7e-5,
        input_cost_per_token_batches: 6.25e-7,
        output_cost_per_token_batches: 5e-6,
      },
    });
    const version = out.catalog.models[0]!.versions[0]!;
    expect(version.thresholds).toEqual([{ above_prompt_tokens: 200_000, prices: { input: '2.5', output: '15' } }]);
    expect(version.tiers?.priority).toEqual({
      prices: { input: '2.25', output: '18' },
      thresholds: [{ above_prompt_tokens: 200_000, prices: { input: '4.5', output: '27' } }],
    });
    expect(version.tiers?.batch).toEqual({ prices: { input: '0.625', output: '5' } });
    expect(out.warnings).toEqual([{ key: 'gemini-x', message: 'tier batch has no prompt-size threshold although the base prices have one' }]);
    expect(() => parseCatalog(out.catalog, 'x.json')).not.toThrow();
  });

  it('rejects a bad effectiveFrom and a non-object input', () => {
    expect(() => importLiteLLM({}, { effectiveFrom: 'July' })).toThrow(RangeError);
    expect(() => importLiteLLM([])).toThrow(TypeError);
  });
});

describe('importLiteLLM: the v2 rates', () => {
  const entry = (fields: Record<string, unknown>) => ({ litellm_provider: 'p', mode: 'chat', input_cost_per_token: 2e-6, output_cost_per_token: 8e-6, ...fields });
  const one = (fields: Record<string, unknown>) => importLiteLLM({ m: entry(fields) }, { effectiveFrom: '2025-01-01' });

  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['1-hour cache writes', { cache_creation_input_token_cost: 2.5e-6, cache_creation_input_token_cost_above_1hr: 4e-6 }, { cache_write: '2.5', cache_write_1h: '4' }],
    ['audio input and output', { input_cost_per_audio_token: 4e-5, output_cost_per_audio_token: 8e-5 }, { audio_input: '40', audio_output: '80' }],
    ['image input and output', { input_cost_per_image_token: 5e-6, output_cost_per_image_token: 3e-5 }, { image_input: '5', image_output: '30' }],
    ['a per-search price equal for every context size', { search_context_cost_per_query: { search_context_size_low: 0.01, search_context_size_medium: 0.01, search_context_size_high: 0.01 } }, { units: { web_search: '0.01' } }],
  ])('maps %s', (_name, fields, expected) => {
    const out = one(fields);
    expect(out.catalog.models[0]!.versions[0]!.prices).toMatchObject(expected);
    expect(out.warnings).toEqual([]);
  });

  it('a threshold of the 1-hour write (`..._above_1hr_above_200k_tokens`) is a threshold rate, not a second 1-hour rate', () => {
    const out = one({ cache_creation_input_token_cost_above_1hr: 6e-6, cache_creation_input_token_cost_above_1hr_above_200k_tokens: 1.2e-5, input_cost_per_token_above_200k_tokens: 4e-6 });
    expect(out.catalog.models[0]!.versions[0]).toMatchObject({ prices: { cache_write_1h: '6' }, thresholds: [{ above_prompt_tokens: 200_000, prices: { input: '4', cache_write_1h: '12' } }] });
  });

  it('a threshold without its own cached price scales the cached price with input (not the base cached price), and says so', () => {
    const out = one({ cache_read_input_token_cost: 2e-7, input_cost_per_token_above_272k_tokens: 4e-6 });
    expect(out.catalog.models[0]!.versions[0]!.thresholds).toEqual([{ above_prompt_tokens: 272_000, prices: { input: '4', output: '8', cache_read: '0.4' } }]);
    expect(out.warnings).toEqual([{ key: 'm', message: expect.stringContaining('cache_read above 272000 prompt tokens (0.4') as string }]);
  });

  it('a tier threshold takes its cached price from the tier threshold field', () => {
    const out = one({
      cache_read_input_token_cost: 2e-7, cache_read_input_token_cost_priority: 4e-7, input_cost_per_token_priority: 4e-6, output_cost_per_token_priority: 1.6e-5,
      input_cost_per_token_above_272k_tokens: 4e-6, cache_read_input_token_cost_above_272k_tokens: 4e-7,
      input_cost_per_token_above_272k_tokens_priority: 8e-6, cache_read_input_token_cost_above_272k_tokens_priority: 8e-7,
    });
    expect(out.catalog.models[0]!.versions[0]!.tiers?.priority?.thresholds).toEqual([{ above_prompt_tokens: 272_000, prices: { input: '8', output: '16', cache_read: '0.8' } }]);
  });

  it('batch cached input is the cached price at the batch discount, not the full batch input price', () => {
    const out = one({ cache_read_input_token_cost: 5e-7, input_cost_per_token_batches: 1e-6, output_cost_per_token_batches: 4e-6 });
    expect(out.catalog.models[0]!.versions[0]!.tiers?.batch?.prices).toEqual({ input: '1', output: '4', cache_read: '0.25' });
  });

  it('warns for every cost field it cannot map, naming it', () => {
    const out = one({ search_context_cost_per_query: { search_context_size_low: 0.03, search_context_size_high: 0.05 }, file_search_cost_per_1k_calls: 2.5, input_cost_per_video_per_second: 1e-3, code_interpreter_cost_per_session: 0.03 });
    expect(out.warnings.map((w) => w.message)).toEqual([
      expect.stringContaining('file_search_cost_per_1k_calls not imported'),
      expect.stringContaining('input_cost_per_video_per_second not imported'),
      expect.stringContaining('code_interpreter_cost_per_session not imported'),
      expect.stringContaining('search_context_cost_per_query not imported: its search context sizes are priced apart'),
    ]);
    // What it could not map is not priced silently at another rate: the unit has no price.
    expect(out.catalog.models[0]!.versions[0]!.prices.units).toBeUndefined();
  });
});
