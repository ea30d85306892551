import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../pricing/catalog';
import { testCostDocument, testRateCardDocument } from '../pricing/test-fixtures';
import { defaultBilling, type TenantBilling } from './billing-terms';
import { prepareTenantInvoice, rawTotals, NO_ORIGINAL_INVOICE, type BillableEvent, type TenantInvoiceInput } from './tenant-invoice';

const books = { costBook: parseCatalog(testCostDocument, 'cost'), rateCard: parseCatalog(testRateCardDocument, 'rate card') };
const MAR = Date.UTC(2025, 2, 10, 12);
const FEB = Date.UTC(2025, 1, 20, 12);
const ISSUED = Date.UTC(2025, 3, 1, 2);

let offset = 0;
function event(over: Partial<BillableEvent> = {}): BillableEvent {
  return { provider: 'acme', model: 'alpha', occurred_at: MAR, tier: null, input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, cache_write_1h_tokens: 0, audio_input_tokens: 0, audio_output_tokens: 0, image_input_tokens: 0, image_output_tokens: 0, units: {}, source_partition: 0, source_offset: offset++, ...over };
}

function input(events: BillableEvent[], over: Partial<TenantInvoiceInput> = {}): TenantInvoiceInput {
  return {
    tenant_id: 'acme-corp',
    period: '2025-03',
    events,
    lateEvents: [],
    cut: [1_000_000],
    rollupTotals: rawTotals(events),
    books,
    billing: defaultBilling('acme-corp'),
    creditsUsedBefore: 0n,
    invoicedPeriods: new Map(),
    clock: () => ISSUED,
    ...over,
  };
}

// Rate card, alpha: input 1.5 USD/1M, output 6 USD/1M, request 0.001 USD (other rates above 200k
// prompt tokens: events here stay below); beta: input 4, output 20, no request fee.
describe('prepareTenantInvoice', () => {
  it('bills the events below the cut, priced by the rate card, one rounding per line', () => {
    const events = [event({ input_tokens: 100_000, output_tokens: 10_000 }), event({ input_tokens: 100_000, output_tokens: 10_000 }), event({ model: 'beta', input_tokens: 150_000, output_tokens: 5_000 })];
    const result = prepareTenantInvoice(input(events));
    if (!result.ok) throw new Error(result.report);
    const lines = result.invoice.lines.map((l) => [l.kind, `${l.provider}/${l.model}`, l.bucket, l.quantity, l.amount_minor]);
    expect(lines).toEqual([
      ['usage', 'acme/alpha', 'input', 200_000n, 30n], // 200k x 1.5 USD/1M = 0.30
      ['usage', 'acme/alpha', 'output', 20_000n, 12n], // 20k x 6 USD/1M = 0.12
      ['request_fee', 'acme/alpha', 'request', 2n, 0n], // 2 x 0.001 USD = 0.2 cents: half-even to 0
      ['usage', 'acme/beta', 'input', 150_000n, 60n], // 150k x 4 = 0.60
      ['usage', 'acme/beta', 'output', 5_000n, 10n], // 5k x 20 = 0.10
    ]);
    expect(result.invoice.total_minor).toBe(112n);
    expect(result.invoice.status).toBe('final');
    expect(result.invoice.invoice_id).toBe('inv_acme-corp_2025-03_r1');
    expect(result.invoice.issued_at).toBe(ISSUED);
    expect([result.billedEvents, result.deferredEvents, result.lateEvents]).toEqual([3, 0, 0]);
  });

  // Two events, 100k input tokens each (15 cents): partition 0 offset 10, partition 1 offset 0.
  it.each<[string, number[], number]>([
    ['both below the cut: both billed', [11, 1], 2],
    ['offset at the cut (arrived after the close): left for the next invoice', [10, 1], 1],
    ['partition missing from the cut (created after the close): left for the next invoice', [11], 1],
  ])('%s', (_what, cut, billed) => {
    const events = [event({ input_tokens: 100_000, source_partition: 0, source_offset: 10 }), event({ input_tokens: 100_000, source_partition: 1, source_offset: 0 })];
    const result = prepareTenantInvoice(input(events, { cut }));
    if (!result.ok) throw new Error(result.report);
    expect(result.billedEvents).toBe(billed);
    expect(result.deferredEvents).toBe(2 - billed);
    expect(result.invoice.usage_minor).toBe(BigInt(billed) * 15n);
  });

  it('blocks the invoice when the rollups disagree with the raw events, with a report naming the difference', () => {
    const events = [event({ input_tokens: 1_000, output_tokens: 10 })];
    const rollups = rawTotals(events).map((t) => (t.bucket === 'input' ? { ...t, quantity: t.quantity - 10n } : t));
    const result = prepareTenantInvoice(input(events, { rollupTotals: rollups }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.mismatches).toEqual([{ tenant_id: 'acme-corp', period: '2025-03', provider: 'acme', model: 'alpha', bucket: 'input', raw: 1_000n, rollup: 990n, priced: 1_000n }]);
    expect(result.report).toContain('Reconciliation failed for tenant acme-corp, period 2025-03: 1 mismatch');
    expect(result.report).toContain('rollup-raw -10');
  });

  it('blocks the invoice when the rate card cannot price a model (never billed as $0)', () => {
    const events = [event({ model: 'alpha-mini', input_tokens: 500 }), event({ input_tokens: 100 })];
    const result = prepareTenantInvoice(input(events));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.mismatches.map((m) => [m.model, m.bucket, m.raw, m.priced])).toEqual([
      ['alpha-mini', 'input', 500n, 0n],
      ['alpha-mini', 'request', 1n, 0n],
    ]);
  });

  it.each<[string, Map<string, string>, string]>([
    ['names the invoice of the month it belongs to', new Map([['2025-02', 'inv_acme-corp_2025-02_r1']]), 'inv_acme-corp_2025-02_r1'],
    ['says none when that month had no invoice for the tenant', new Map(), NO_ORIGINAL_INVOICE],
  ])('late usage of an earlier month becomes an adjustment line that %s', (_what, invoiced, original) => {
    const events = [event({ model: 'beta', input_tokens: 100_000 })];
    const late = [event({ occurred_at: FEB, model: 'beta', input_tokens: 200_000 })];
    const result = prepareTenantInvoice(input(events, { lateEvents: late, invoicedPeriods: invoiced }));
    if (!result.ok) throw new Error(result.report);
    const adjustments = result.invoice.lines.filter((l) => l.kind === 'adjustment');
    expect(adjustments.map((l) => [l.original_period, l.original_invoice_id, l.bucket, l.quantity, l.amount_minor])).toEqual([['2025-02', original, 'input', 200_000n, 80n]]);
    expect(result.invoice.adjustments_minor).toBe(80n);
    expect(result.invoice.total_minor).toBe(120n);
    expect(result.lateEvents).toBe(1);
  });

  it('blocks on late usage the rate card cannot price', () => {
    const result = prepareTenantInvoice(input([event({ input_tokens: 1 })], { lateEvents: [event({ occurred_at: FEB, model: 'alpha-mini', input_tokens: 7 })] }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.report).toContain('late usage of earlier months');
  });

  // One beta event of 150k input tokens: 60 cents.
  it.each<[string, Partial<TenantBilling>, bigint, bigint, bigint]>([
    ['no terms', {}, 0n, 0n, 60n],
    ['credit granted 50, 30 used before: 20 applied', { credits_granted_minor: 50n }, 30n, 20n, 40n],
    ['credit all used before: nothing applied', { credits_granted_minor: 50n }, 50n, 0n, 60n],
    ['credit larger than the invoice: capped at the amount', { credits_granted_minor: 10_000n }, 0n, 60n, 0n],
    ['minimum commitment 100: topped up', { terms: { minimum_commitment_minor: 100n } }, 0n, 0n, 100n],
  ])('billing terms: %s', (_what, billing, usedBefore, applied, total) => {
    const result = prepareTenantInvoice(input([event({ model: 'beta', input_tokens: 150_000 })], { billing: { ...defaultBilling('acme-corp'), ...billing }, creditsUsedBefore: usedBefore }));
    if (!result.ok) throw new Error(result.report);
    expect(result.invoice.credits_applied_minor).toBe(applied);
    expect(result.invoice.total_minor).toBe(total);
  });

  it('invoices in the tenant currency at its exchange rate', () => {
    const billing: TenantBilling = { tenant_id: 'acme-corp', currency: 'EUR', exchange_rate: '0.92', terms: {}, credits_granted_minor: 0n };
    const result = prepareTenantInvoice(input([event({ model: 'beta', input_tokens: 150_000 })], { billing }));
    if (!result.ok) throw new Error(result.report);
    expect(result.invoice.currency).toBe('EUR');
    expect(result.invoice.total_minor).toBe(55n); // 0.60 USD x 0.92 = 0.552 EUR: 55 cents
  });
});
