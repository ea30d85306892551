import { describe, expect, it } from 'vitest';
import { usageEventV2Defaults } from '../usage-event/usage-event';
import { parseCatalog } from './catalog';
import { priceEvent, type EventMoney, type PriceBooks } from './event-money';
import { priceUsage } from './price';
import { MAR_2025, testCostDocument, testRateCardDocument, usage } from './test-fixtures';

const books: PriceBooks = { id: 'test', costBook: parseCatalog(testCostDocument, 'cost'), rateCard: parseCatalog(testRateCardDocument, 'card') };
const event = (change: Partial<Parameters<typeof priceEvent>[1]> = {}): Parameters<typeof priceEvent>[1] => ({
  tenant_id: 't1',
  provider: 'acme',
  model: 'alpha',
  occurred_at: MAR_2025,
  input_tokens: 1_000,
  cache_read_tokens: 2_000,
  cache_write_tokens: 0,
  output_tokens: 100,
  reasoning_tokens: 0,
  metadata: {},
  ...usageEventV2Defaults(),
  ...change,
});

describe('priceEvent', () => {
  it.each<[string, Parameters<typeof priceEvent>[1], Partial<EventMoney>]>([
    // cost: 1,000 x 1e6 + 2,000 x 1e5 + 100 x 4e6 + request 1e9 = 2.6e9 pico; savings 2,000 x (1e6 - 1e5)
    // charge: 1,000 x 1.5e6 + 2,000 x 1.5e5 + 100 x 6e6 + request 1e9 = 3.4e9 pico
    ['both books price it', event(), { costPico: 2_600_000_000n, chargePico: 3_400_000_000n, cacheSavingsPico: 1_800_000_000n, costPriced: true, chargePriced: true, costVersion: 'acme/alpha@2025-01-01', chargeVersion: 'acme/alpha@2025-01-01', unpriced: null }],
    // alpha-mini is not on the rate card: the charge side is unpriced, never 0 silently
    ['cost only (not on the rate card)', event({ model: 'alpha-mini', cache_read_tokens: 0 }), { costPico: 1_000n * 100_000n + 100n * 400_000n, chargePico: 0n, costPriced: true, chargePriced: false }],
    ['an unknown model: both sides unpriced, reason given', event({ model: 'zeta' }), { costPico: 0n, chargePico: 0n, cacheSavingsPico: 0n, costPriced: false, chargePriced: false, costVersion: null, chargeVersion: null }],
  ])('%s', (_name, input, expected) => {
    expect(priceEvent(books, input)).toMatchObject(expected);
  });

  it('names the reason when unpriced', () => {
    expect(priceEvent(books, event({ model: 'zeta' })).unpriced).toEqual({ reason: 'unknown_model', message: 'cost has no price for acme/zeta' });
  });

  it('reads the service tier from metadata.service_tier', () => {
    const batch = priceEvent(books, event({ metadata: { service_tier: 'batch' } }));
    const expected = priceUsage(books.costBook, usage({ tier: 'batch', input_tokens: 1_000, cache_read_tokens: 2_000, output_tokens: 100 }));
    expect(expected.priced && batch.costPico === expected.total).toBe(true);
    expect(batch.costPico).not.toBe(priceEvent(books, event()).costPico);
    expect(priceEvent(books, event({ metadata: { service_tier: 'no-such-tier' } }))).toMatchObject({ costPriced: false, unpriced: { reason: 'unknown_tier' } });
  });
});
