import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../pricing/catalog';
import { chargeUsage, parseTenantOverrides, type ChargeInput, type ChargedUsage } from '../pricing/charge';
import { aggregateChargedEvents, averageUnitPrice, type ChargedEvent } from './aggregate';
import { computeInvoice } from './compute';
import { InvoiceInputError } from './errors';
import type { PricedUsageAggregate } from './types';

// Round prices so every amount below can be checked by hand: 1 USD per 1M tokens = 1,000,000 pico per token.
const rateCard = parseCatalog(
  {
    format: 'meterline.prices/v1',
    models: [
      {
        provider: 'openai',
        model: 'gpt-4o',
        aliases: ['gpt-4o-2024-08-06'],
        versions: [
          {
            effective_from: '2025-01-01',
            prices: { input: '2.50', cache_read: '1.25', output: '10.00', request: '0.001' },
            tiers: { batch: { prices: { input: '1.25', output: '5.00' } } },
          },
        ],
      },
    ],
  },
  'test-rate-card.json',
);
const costBook = parseCatalog({ format: 'meterline.prices/v1', models: [] }, 'test-costs.json');
const overrides = parseTenantOverrides(
  { format: 'meterline.tenant-overrides/v1', tenants: [{ tenant_id: 'odd', discount_percent: '33.3333' }] },
  'test-overrides.json',
);

const JAN_2026 = Date.UTC(2026, 0, 15);

function charged(tenant: string, u: Partial<ChargeInput>): ChargedEvent {
  const usage: ChargeInput = {
    tenant_id: tenant,
    provider: 'openai',
    model: 'gpt-4o',
    occurred_at: JAN_2026,
    tier: null,
    input_tokens: 0,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 0,
    reasoning_tokens: 0,
    ...u,
  };
  const charge = chargeUsage(rateCard, overrides, costBook, usage);
  if (!charge.priced) throw new Error(`expected a charge: ${charge.message}`);
  return { usage, charge };
}

const V = 'openai/gpt-4o@2025-01-01';
const view = (a: PricedUsageAggregate): unknown[] => [a.model, a.tier, a.bucket, a.quantity, a.amount_pico, a.unit_price];

describe('aggregateChargedEvents', () => {
  const events = [
    charged('acme', { input_tokens: 1_000, cache_read_tokens: 200, output_tokens: 300 }),
    charged('acme', { model: 'gpt-4o-2024-08-06', input_tokens: 500, output_tokens: 100 }),
    charged('acme', { input_tokens: 2_000, output_tokens: 1_000, tier: 'batch' }),
    charged('acme', { input_tokens: 3_000, output_tokens: 700 }),
  ];

  it('sums exact amounts per (provider, model as sent, price version, tier, threshold, bucket), with the rate as unit price', () => {
    const aggregates = aggregateChargedEvents(events);
    expect(aggregates.every((a) => a.provider === 'openai' && a.price_version_id === V && a.threshold_above_prompt_tokens === null)).toBe(true);
    expect(aggregates.map(view)).toEqual([
      // gpt-4o, base prices: events 1 and 4.
      ['gpt-4o', null, 'input', 4_000n, 4_000n * 2_500_000n, '2.5'],
      ['gpt-4o', null, 'cache_read', 200n, 200n * 1_250_000n, '1.25'],
      ['gpt-4o', null, 'output', 1_000n, 1_000n * 10_000_000n, '10'],
      ['gpt-4o', null, 'request', 2n, 2n * 1_000_000_000n, '0.001'],
      // gpt-4o, batch tier: no request fee in the tier, but the request is counted.
      ['gpt-4o', 'batch', 'input', 2_000n, 2_000n * 1_250_000n, '1.25'],
      ['gpt-4o', 'batch', 'output', 1_000n, 1_000n * 5_000_000n, '5'],
      ['gpt-4o', 'batch', 'request', 1n, 0n, '0'],
      // The alias keeps its own name (raw events and rollups carry it), priced by the same version.
      ['gpt-4o-2024-08-06', null, 'input', 500n, 500n * 2_500_000n, '2.5'],
      ['gpt-4o-2024-08-06', null, 'output', 100n, 100n * 10_000_000n, '10'],
      ['gpt-4o-2024-08-06', null, 'request', 1n, 1_000_000_000n, '0.001'],
    ]);
  });

  it('keeps every pico of the per-event charges', () => {
    const aggregates = aggregateChargedEvents(events);
    const charges = events.reduce((sum, e) => sum + e.charge.total, 0n);
    expect(aggregates.reduce((sum, a) => sum + a.amount_pico, 0n)).toBe(charges);
  });

  it('feeds computeInvoice: a zero request fee is no line', () => {
    const inv = computeInvoice({ tenant_id: 'acme', period: '2026-01', usage: aggregateChargedEvents(events), clock: () => JAN_2026 });
    expect(inv.lines.map((l) => [l.kind, l.model, l.bucket, l.amount_minor])).toEqual([
      ['usage', 'gpt-4o', 'input', 1n], // 1.0 cent
      ['usage', 'gpt-4o', 'cache_read', 0n], // 0.025 cent
      ['usage', 'gpt-4o', 'output', 1n], // 1.0 cent
      ['request_fee', 'gpt-4o', 'request', 0n], // 0.2 cent
      ['usage', 'gpt-4o', 'input', 0n], // 0.25 cent
      ['usage', 'gpt-4o', 'output', 0n], // 0.5 cent: tie to the even 0
      ['usage', 'gpt-4o-2024-08-06', 'input', 0n], // 0.125 cent
      ['usage', 'gpt-4o-2024-08-06', 'output', 0n], // 0.1 cent
      ['request_fee', 'gpt-4o-2024-08-06', 'request', 0n], // 0.1 cent
    ]);
    expect(inv.lines[4]!.tier).toBe('batch');
  });

  it('leaves the unit price null when per-event rounding of an odd discount makes the average rate non-decimal', () => {
    // 33.3333% off 2.5e6 pico per token: 1 token = 1,666,667.5 -> 1,666,668 (half-even); 2 tokens = 3,333,335.
    const odd = [charged('odd', { input_tokens: 1 }), charged('odd', { input_tokens: 2 })];
    expect(odd.map((e) => e.charge.lines.input)).toEqual([1_666_668n, 3_333_335n]);
    const [input] = aggregateChargedEvents(odd);
    expect(input).toMatchObject({ bucket: 'input', quantity: 3n, amount_pico: 5_000_003n, unit_price: null });
  });

  it('is empty for no events and rejects unpriced ones', () => {
    expect(aggregateChargedEvents([])).toEqual([]);
    const unpriced = { usage: events[0]!.usage, charge: { priced: false, reason: 'unknown_model', message: 'no price' } as unknown as ChargedUsage };
    expect(() => aggregateChargedEvents([events[0]!, unpriced])).toThrow(InvoiceInputError);
    expect(() => aggregateChargedEvents([events[0]!, unpriced])).toThrow(/events\[1\]\.charge: is not priced/);
  });
});

describe('averageUnitPrice', () => {
  it.each<[PricedUsageAggregate['bucket'], bigint, bigint, string | null]>([
    ['input', 1_000n, 2_500_000_000n, '2.5'],
    ['output', 3n, 30_000_000n, '10'],
    ['input', 1n, 1n, '0.000001'],
    ['request', 7n, 7_000_000_000n, '0.001'],
    ['request', 3n, 1_000_000_000n, null],
    ['input', 0n, 0n, null],
  ])('%s: %s for %s pico = %s', (bucket, quantity, amount, expected) => {
    expect(averageUnitPrice(bucket, quantity, amount)).toBe(expected);
  });
});
