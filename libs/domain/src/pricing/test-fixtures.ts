import type { CatalogDocument } from './catalog';
import type { UsageToPrice } from './price';

/**
 * Price catalogs for the pricing tests, with round numbers so expected amounts can be worked out
 * by hand: 1 USD per 1M tokens = 1,000,000 pico-USD per token.
 */
export const testCostDocument: CatalogDocument = {
  format: 'meterline.prices/v1',
  models: [
    {
      provider: 'acme',
      model: 'alpha',
      aliases: ['alpha-latest', 'alpha-2025-01-01'],
      match: ['alpha-*'],
      versions: [
        {
          effective_from: '2025-01-01',
          prices: { input: '1', cache_read: '0.1', cache_write: '1.25', output: '4', reasoning: '5', request: '0.001' },
          thresholds: [{ above_prompt_tokens: 200_000, prices: { input: '2', cache_read: '0.2', cache_write: '2.5', output: '6', reasoning: '7.5', request: '0.002' } }],
          tiers: {
            batch: { prices: { input: '0.5', output: '2' } },
            flex: {
              prices: { input: '0.5', cache_read: '0.05', output: '2' },
              thresholds: [{ above_prompt_tokens: 200_000, prices: { input: '1', cache_read: '0.1', output: '3' } }],
            },
          },
        },
        // A price change at noon UTC: its id carries the full instant.
        { effective_from: '2025-06-01T12:00:00Z', prices: { input: '0.8', cache_read: '0.08', output: '3.2' } },
      ],
    },
    {
      provider: 'acme',
      model: 'alpha-mini',
      match: ['alpha-mini-*'],
      versions: [{ effective_from: '2025-01-01', label: 'launch', prices: { input: '0.1', output: '0.4' } }],
    },
    {
      provider: 'acme',
      model: 'beta',
      match: ['beta-*-preview'],
      versions: [{ effective_from: '2025-01-01', prices: { input: '3', output: '15' } }],
    },
    {
      provider: 'acme',
      model: 'gamma',
      versions: [{ effective_from: '2030-01-01T00:00:00Z', prices: { input: '1', output: '1' } }],
    },
    {
      provider: 'other',
      model: 'alpha',
      versions: [{ effective_from: '2025-01-01', prices: { input: '9', output: '9' } }],
    },
  ],
};

/** The customer rate card: alpha and beta at list prices above cost; alpha-mini deliberately absent. */
export const testRateCardDocument: CatalogDocument = {
  format: 'meterline.prices/v1',
  models: [
    {
      provider: 'acme',
      model: 'alpha',
      aliases: ['alpha-latest', 'alpha-2025-01-01'],
      match: ['alpha-2025-*'], // not 'alpha-*': that would also catch alpha-mini
      versions: [
        {
          effective_from: '2025-01-01',
          prices: { input: '1.5', cache_read: '0.15', cache_write: '1.875', output: '6', request: '0.001' },
          thresholds: [{ above_prompt_tokens: 200_000, prices: { input: '3', output: '9' } }],
          tiers: { batch: { prices: { input: '0.75', output: '3' } } },
        },
      ],
    },
    {
      provider: 'acme',
      model: 'beta',
      versions: [{ effective_from: '2025-01-01', prices: { input: '4', output: '20' } }],
    },
  ],
};

export const JAN_2025 = Date.UTC(2025, 0, 1);
export const MAR_2025 = Date.UTC(2025, 2, 15, 10, 30);
export const NOON_JUNE_1 = Date.UTC(2025, 5, 1, 12);

export function usage(overrides: Partial<UsageToPrice> = {}): UsageToPrice {
  return {
    provider: 'acme',
    model: 'alpha',
    occurred_at: MAR_2025,
    input_tokens: 0,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 0,
    reasoning_tokens: 0,
    ...overrides,
  };
}
