import { describe, expect, it } from 'vitest';
import { parseCatalog } from './catalog';
import { parseTenantOverrides } from './charge';
import type { PriceBooks } from './event-money';
import { listPrices, type PriceListQuery } from './price-list';
import { testCostDocument, testRateCardDocument } from './test-fixtures';

const books: PriceBooks = {
  id: 'books-1',
  costBook: parseCatalog(testCostDocument, 'cost'),
  rateCard: parseCatalog(testRateCardDocument, 'card'),
  overrides: parseTenantOverrides(
    {
      format: 'meterline.tenant-overrides/v1',
      tenants: [
        { tenant_id: 't-b', discount_percent: '12.5' },
        { tenant_id: 't-a', markup_percent: '20', model_prices: [{ provider: 'acme', model: 'alpha', versions: [{ effective_from: '2025-03-01', prices: { input: '1.2', output: '5', request: '0.0000015' } }] }] },
      ],
    },
    'overrides',
  ),
};

const ids = (query: PriceListQuery): string[] => listPrices(books, query).entries.flatMap((e) => e.versions.map((v) => `${e.book}:${v.price_version_id}`));

describe('listPrices', () => {
  it('lists every version with its id and dates, each rate an exact decimal per 1M tokens (request fee per request)', () => {
    const [alpha] = listPrices(books, { book: 'cost', provider: 'acme', model: 'alpha' }).entries;
    expect(alpha).toMatchObject({ book: 'cost', tenant_id: null, provider: 'acme', model: 'alpha', aliases: ['alpha-latest', 'alpha-2025-01-01'], match: ['alpha-*'] });
    expect(alpha!.versions.map((v) => [v.price_version_id, v.effective_from, v.effective_to])).toEqual([
      ['acme/alpha@2025-01-01', '2025-01-01T00:00:00.000Z', '2025-06-01T12:00:00.000Z'],
      ['acme/alpha@2025-06-01T12:00:00.000Z', '2025-06-01T12:00:00.000Z', null],
    ]);
    const first = alpha!.versions[0]!;
    expect(first.rates).toEqual({ usd_per_1m_tokens: { input: '1', cache_read: '0.1', cache_write: '1.25', cache_write_1h: '1.25', output: '4', reasoning: '5' }, usd_per_request: '0.001', usd_per_unit: {} });
    expect(first.thresholds).toEqual([{ above_prompt_tokens: 200_000, rates: { usd_per_1m_tokens: { input: '2', cache_read: '0.2', cache_write: '2.5', cache_write_1h: '2.5', output: '6', reasoning: '7.5' }, usd_per_request: '0.002', usd_per_unit: {} } }]);
    // Tiers by name; a tier's defaults are its own (cache_read = its input, reasoning = its output, no request fee).
    expect(first.tiers.map((t) => [t.tier, t.rates.usd_per_1m_tokens.cache_read, t.rates.usd_per_1m_tokens.reasoning, t.rates.usd_per_request, t.thresholds.length])).toEqual([
      ['batch', '0.5', '2', '0', 0],
      ['flex', '0.05', '2', '0', 1],
    ]);
  });

  it.each([
    ['everything: cost book, rate card, tenants by id', {}, ['cost:acme/alpha@2025-01-01', 'cost:acme/alpha@2025-06-01T12:00:00.000Z', 'cost:acme/alpha-mini@launch', 'cost:acme/beta@2025-01-01', 'cost:acme/gamma@2030-01-01', 'cost:other/alpha@2025-01-01', 'rate_card:acme/alpha@2025-01-01', 'rate_card:acme/beta@2025-01-01', 'tenant:tenant:t-a/acme/alpha@2025-03-01']],
    ['a provider', { provider: 'other' }, ['cost:other/alpha@2025-01-01']],
    ['a model by alias: the entry that prices it', { model: 'alpha-latest', book: 'rate_card' }, ['rate_card:acme/alpha@2025-01-01']],
    ['a model by pattern: the most specific entry', { model: 'alpha-mini-2025', provider: 'acme', book: 'cost' }, ['cost:acme/alpha-mini@launch']],
    ['a model nothing prices', { model: 'zeta' }, []],
    ['the version in force at an instant', { at: Date.UTC(2025, 5, 1, 11, 59), book: 'cost', provider: 'acme', model: 'alpha' }, ['cost:acme/alpha@2025-01-01']],
    ['the version in force from its first millisecond', { at: Date.UTC(2025, 5, 1, 12), book: 'cost', provider: 'acme', model: 'alpha' }, ['cost:acme/alpha@2025-06-01T12:00:00.000Z']],
    ['nothing in force yet: the entry is left out', { at: Date.UTC(2029, 0, 1), model: 'gamma' }, []],
    ['one tenant: its own prices only', { book: 'tenant', tenant: 't-a' }, ['tenant:tenant:t-a/acme/alpha@2025-03-01']],
    ['another tenant: none of t-a\'s', { book: 'tenant', tenant: 't-b' }, []],
  ] as const)('%s', (_name, query, expected) => {
    expect(ids(query)).toEqual(expected);
  });

  it('tenant prices keep pico precision; tenant terms listed for the tenants shown', () => {
    const list = listPrices(books, { tenant: 't-a', book: 'tenant' });
    expect(list.books_id).toBe('books-1');
    expect(list.entries[0]!.versions[0]!.rates.usd_per_request).toBe('0.0000015');
    expect(list.tenants).toEqual([{ tenant_id: 't-a', discount_percent: null, markup_percent: '20' }]);
    expect(listPrices(books).tenants.map((t) => t.tenant_id)).toEqual(['t-a', 't-b']);
  });
});
