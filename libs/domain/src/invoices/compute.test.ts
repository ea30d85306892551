import { describe, expect, it } from 'vitest';
import { computeInvoice } from './compute';
import { InvoiceInputError } from './errors';
import type { BillingTerms, Invoice, InvoiceInput, InvoiceLine, LateUsageAdjustment, PricedUsageAggregate } from './types';

const ISSUED_AT = Date.UTC(2026, 1, 1, 6, 0, 0);
const CLOCK = (): number => ISSUED_AT;
const CENT = 10_000_000_000n; // pico-USD in one US cent
const PER_1M = 1_000_000n; // pico-USD per token for 1 USD per 1M tokens

function row(over: Partial<PricedUsageAggregate> = {}): PricedUsageAggregate {
  return { provider: 'openai', model: 'gpt-4o', price_version_id: 'openai/gpt-4o@2024-08-06', bucket: 'input', quantity: 1_000_000n, amount_pico: 0n, ...over };
}

function invoice(over: Partial<InvoiceInput> = {}): Invoice {
  return computeInvoice({ tenant_id: 'acme-corp', period: '2026-01', usage: [], clock: CLOCK, ...over });
}

/** An invoice whose subtotal is exactly `cents` (one usage line), with the given terms. */
function withSubtotal(cents: bigint, terms: BillingTerms): Invoice {
  return invoice({ usage: cents === 0n ? [] : [row({ amount_pico: cents * CENT })], terms });
}

const sumLines = (inv: Invoice): bigint => inv.lines.reduce((sum, l) => sum + l.amount_minor, 0n);
const amounts = (inv: Invoice): [string, bigint][] => inv.lines.map((l) => [l.kind, l.amount_minor]);

describe('computeInvoice: rounding', () => {
  it.each<[string, bigint, bigint]>([
    ['0.5 cent: tie to the even 0', 5_000_000_000n, 0n],
    ['1.5 cents: tie to the even 2', 15_000_000_000n, 2n],
    ['2.5 cents: tie to the even 2', 25_000_000_000n, 2n],
    ['3.5 cents: tie to the even 4', 35_000_000_000n, 4n],
    ['0.5 cent + 1 pico: up', 5_000_000_001n, 1n],
    ['$3.0864175: 308.64175 cents, up', 3_086_417_500_000n, 309n],
  ])('one line of %s', (_what, pico, cents) => {
    const inv = invoice({ usage: [row({ amount_pico: pico })] });
    expect(inv.lines).toHaveLength(1);
    expect(inv.lines[0]!.amount_minor).toBe(cents);
    expect(inv.lines[0]!.amount_pico_usd).toBe(pico);
    expect(inv.total_minor).toBe(cents);
  });

  it('rounds each line once and sums the rounded lines (never rounds a sum of exact amounts)', () => {
    // Two lines of 0.6 cents: each rounds to 1 cent, subtotal 2 (the exact sum, 1.2 cents, would round to 1).
    const up = invoice({ usage: [row({ bucket: 'input', amount_pico: 6_000_000_000n }), row({ bucket: 'output', amount_pico: 6_000_000_000n })] });
    expect(amounts(up)).toEqual([
      ['usage', 1n],
      ['usage', 1n],
    ]);
    expect(up.subtotal_minor).toBe(2n);
    // Three lines of 0.4 cents: each rounds to 0, subtotal 0 (the exact sum is 1.2 cents).
    const down = invoice({
      usage: ['input', 'output', 'reasoning'].map((bucket) => row({ bucket: bucket as PricedUsageAggregate['bucket'], amount_pico: 4_000_000_000n })),
    });
    expect(down.lines.map((l) => l.amount_minor)).toEqual([0n, 0n, 0n]);
    expect(down.subtotal_minor).toBe(0n);
    expect(down.total_minor).toBe(0n);
  });
});

describe('computeInvoice: currencies', () => {
  it('JPY has no decimals: lines in whole yen, ties half-even, unit prices converted exactly', () => {
    const inv = invoice({
      currency: 'JPY',
      exchange_rate: '150',
      usage: [
        // 10,000 tokens at $1/1M = $0.01 = 1.5 yen -> 2
        row({ bucket: 'input', quantity: 10_000n, amount_pico: 10_000n * PER_1M, unit_price: '1' }),
        // 10,000 tokens at $3/1M = $0.03 = 4.5 yen -> 4
        row({ bucket: 'output', quantity: 10_000n, amount_pico: 10_000n * 3n * PER_1M, unit_price: '3' }),
      ],
      terms: { minimum_commitment_minor: 1_000n }, // 1,000 yen
    });
    expect(inv.currency).toBe('JPY');
    expect(inv.currency_minor_unit).toBe(0);
    expect(inv.exchange_rate).toBe('150');
    expect(inv.lines.map((l) => [l.kind, l.amount_minor, l.unit_price, l.unit_price_usd])).toEqual([
      ['usage', 2n, '150', '1'],
      ['usage', 4n, '450', '3'],
      ['minimum_commitment', 994n, null, null],
    ]);
    expect(inv.subtotal_minor).toBe(6n);
    expect(inv.total_minor).toBe(1_000n);
  });

  it('EUR: pico-USD times the rate, rounded once to the cent', () => {
    const inv = invoice({
      currency: 'EUR',
      exchange_rate: '0.9137',
      // $10 exactly = 913.7 euro cents -> 914; derived unit price 10 USD/1M tokens = 9.137 EUR.
      usage: [row({ bucket: 'output', quantity: 1_000_000n, amount_pico: 10n * 1_000_000_000_000n })],
    });
    expect(inv.lines[0]).toMatchObject({ amount_minor: 914n, unit_price_usd: '10', unit_price: '9.137', unit_price_basis: 'per_1m_tokens' });
    expect(inv.total_minor).toBe(914n);
  });

  it.each<[string, Partial<InvoiceInput>, RegExp]>([
    ['an unknown currency', { currency: 'XYZ' }, /unknown currency "XYZ"/],
    ['EUR without a rate', { currency: 'EUR' }, /needs exchange_rate/],
    ['USD with a rate other than 1', { exchange_rate: '0.9' }, /exchange_rate 1/],
  ])('rejects %s', (_what, over, message) => {
    expect(() => invoice(over)).toThrow(message);
  });
});

describe('computeInvoice: minimum commitment', () => {
  it.each<[string, bigint, bigint | undefined, bigint, bigint]>([
    // [what, subtotal, commitment, top-up, total]
    ['below: topped up to the commitment', 972n, 1_500n, 528n, 1_500n],
    ['no usage at all: the whole commitment', 0n, 1_500n, 1_500n, 1_500n],
    ['exactly the commitment: no top-up', 1_500n, 1_500n, 0n, 1_500n],
    ['above: no top-up', 2_000n, 1_500n, 0n, 2_000n],
    ['no commitment', 972n, undefined, 0n, 972n],
  ])('%s', (_what, subtotal, commitment, topUp, total) => {
    const inv = withSubtotal(subtotal, commitment === undefined ? {} : { minimum_commitment_minor: commitment });
    expect(inv.subtotal_minor).toBe(subtotal);
    expect(inv.minimum_commitment_top_up_minor).toBe(topUp);
    expect(inv.total_minor).toBe(total);
    const topUpLines = inv.lines.filter((l) => l.kind === 'minimum_commitment');
    expect(topUpLines.map((l) => l.amount_minor)).toEqual(topUp === 0n ? [] : [topUp]);
    expect(sumLines(inv)).toBe(total);
  });

  it('describes the top-up', () => {
    const inv = withSubtotal(972n, { minimum_commitment_minor: 1_500n });
    expect(inv.lines[1]!.description).toBe('Minimum commitment top-up: commitment 15.00 USD, subtotal 9.72 USD');
  });
});

describe('computeInvoice: discounts and credits', () => {
  type Case = [string, bigint, BillingTerms, { topUp: bigint; percent: bigint; fixed: bigint; credit: bigint; remaining: bigint; total: bigint }];
  it.each<Case>([
    ['percent, then fixed, then credits', 1_000n, { discount_percent: '10', fixed_discount_minor: 200n, credits_available_minor: 500n }, { topUp: 0n, percent: 100n, fixed: 200n, credit: 500n, remaining: 0n, total: 200n }],
    // Fixed first would give 1000 - 100 - 90 = 810; the percentage comes first: 1000 - 100 - 100.
    ['the percentage is taken before the fixed discount', 1_000n, { discount_percent: '10', fixed_discount_minor: 100n }, { topUp: 0n, percent: 100n, fixed: 100n, credit: 0n, remaining: 0n, total: 800n }],
    ['10% of 25 cents = 2.5: tie to the even 2', 25n, { discount_percent: '10' }, { topUp: 0n, percent: 2n, fixed: 0n, credit: 0n, remaining: 0n, total: 23n }],
    ['10% of 35 cents = 3.5: tie to the even 4', 35n, { discount_percent: '10' }, { topUp: 0n, percent: 4n, fixed: 0n, credit: 0n, remaining: 0n, total: 31n }],
    ['12.5% of 999 = 124.875: rounds to 125', 999n, { discount_percent: '12.5' }, { topUp: 0n, percent: 125n, fixed: 0n, credit: 0n, remaining: 0n, total: 874n }],
    ['0.5% of 500 = 2.5: tie to 2', 500n, { discount_percent: '0.5' }, { topUp: 0n, percent: 2n, fixed: 0n, credit: 0n, remaining: 0n, total: 498n }],
    ['the fixed discount stops at zero', 1_000n, { discount_percent: '50', fixed_discount_minor: 800n, credits_available_minor: 300n }, { topUp: 0n, percent: 500n, fixed: 500n, credit: 0n, remaining: 300n, total: 0n }],
    ['credits stop at zero and the rest remains', 1_000n, { credits_available_minor: 1_500n }, { topUp: 0n, percent: 0n, fixed: 0n, credit: 1_000n, remaining: 500n, total: 0n }],
    ['credits smaller than the amount are used up', 1_000n, { credits_available_minor: 250n }, { topUp: 0n, percent: 0n, fixed: 0n, credit: 250n, remaining: 0n, total: 750n }],
    ['100% off leaves nothing for the fixed discount or credits', 1_000n, { discount_percent: '100', fixed_discount_minor: 50n, credits_available_minor: 10n }, { topUp: 0n, percent: 1_000n, fixed: 0n, credit: 0n, remaining: 10n, total: 0n }],
    ['the percentage applies after the commitment top-up', 600n, { minimum_commitment_minor: 1_000n, discount_percent: '10' }, { topUp: 400n, percent: 100n, fixed: 0n, credit: 0n, remaining: 0n, total: 900n }],
    ['0% is no discount line', 1_000n, { discount_percent: '0' }, { topUp: 0n, percent: 0n, fixed: 0n, credit: 0n, remaining: 0n, total: 1_000n }],
  ])('%s', (_what, subtotal, terms, expected) => {
    const inv = withSubtotal(subtotal, terms);
    expect({
      topUp: inv.minimum_commitment_top_up_minor,
      percent: inv.percent_discount_minor,
      fixed: inv.fixed_discount_minor,
      credit: inv.credits_applied_minor,
      remaining: inv.credits_remaining_minor,
      total: inv.total_minor,
    }).toEqual(expected);
    expect(inv.discounts_minor).toBe(expected.percent + expected.fixed);
    expect(inv.credits_available_minor).toBe(terms.credits_available_minor ?? 0n);
    // Each applied term is one line with a negative amount (none when it took nothing off), in order.
    const expectedLines: [string, bigint][] = [['usage', subtotal]];
    if (expected.topUp > 0n) expectedLines.push(['minimum_commitment', expected.topUp]);
    if (expected.percent > 0n) expectedLines.push(['discount', -expected.percent]);
    if (expected.fixed > 0n) expectedLines.push(['discount', -expected.fixed]);
    if (expected.credit > 0n) expectedLines.push(['credit', -expected.credit]);
    expect(amounts(inv)).toEqual(expectedLines);
    expect(sumLines(inv)).toBe(inv.total_minor);
  });

  it('names what a capped fixed discount offered and what credit remains', () => {
    const inv = withSubtotal(1_000n, { discount_percent: '50', fixed_discount_minor: 800n });
    expect(inv.lines.map((l) => [l.description, l.percent])).toEqual([
      ['openai/gpt-4o input tokens', null],
      ['Discount 50% of 10.00 USD', '50'],
      ['Fixed discount 5.00 USD (8.00 USD offered, limited to the amount due)', null],
    ]);
    const credit = withSubtotal(1_000n, { credits_available_minor: 1_500n });
    expect(credit.lines[1]!.description).toBe('Credit applied: 10.00 USD of 15.00 USD available, 5.00 USD remaining');
  });

  it.each<[string, BillingTerms, RegExp]>([
    ['a percentage over 100', { discount_percent: '100.01' }, /terms\.discount_percent: must be from 0 to 100/],
    ['a negative percentage', { discount_percent: '-1' }, /terms\.discount_percent/],
    ['a percentage that is not a decimal', { discount_percent: '10%' }, /terms\.discount_percent/],
    ['a negative fixed discount', { fixed_discount_minor: -1n }, /terms\.fixed_discount_minor/],
    ['negative credits', { credits_available_minor: -5n }, /terms\.credits_available_minor/],
    ['a float commitment', { minimum_commitment_minor: 10 as unknown as bigint }, /terms\.minimum_commitment_minor/],
  ])('rejects %s', (_what, terms, message) => {
    expect(() => withSubtotal(100n, terms)).toThrow(message);
  });
});

describe('computeInvoice: late usage adjustments', () => {
  const late = (over: Partial<LateUsageAdjustment> = {}): LateUsageAdjustment => ({
    ...row({ bucket: 'output', quantity: 12_345n, amount_pico: 12_345n * 10n * PER_1M, unit_price: '10' }),
    original_invoice_id: 'inv_acme-corp_2025-12_r1',
    original_period: '2025-12',
    ...over,
  });

  it('become adjustment lines naming the original invoice and period, after the usage lines', () => {
    const inv = invoice({
      usage: [row({ amount_pico: 100n * CENT })],
      adjustments: [
        late(),
        late({ original_invoice_id: 'inv_acme-corp_2025-11_r2', original_period: '2025-11', bucket: 'input', quantity: 1_000n, amount_pico: 1_000n * 250n * CENT, unit_price: '2500' }),
      ],
    });
    expect(
      inv.lines.map((l) => ({ kind: l.kind, invoice: l.original_invoice_id, period: l.original_period, amount: l.amount_minor, description: l.description })),
    ).toEqual([
      { kind: 'usage', invoice: null, period: null, amount: 100n, description: 'openai/gpt-4o input tokens' },
      // Oldest period first.
      {
        kind: 'adjustment',
        invoice: 'inv_acme-corp_2025-11_r2',
        period: '2025-11',
        amount: 250_000n,
        description: 'Late usage of 2025-11 (invoice inv_acme-corp_2025-11_r2): openai/gpt-4o input tokens',
      },
      // 12,345 tokens at $10/1M = $0.12345 -> 12 cents
      {
        kind: 'adjustment',
        invoice: 'inv_acme-corp_2025-12_r1',
        period: '2025-12',
        amount: 12n,
        description: 'Late usage of 2025-12 (invoice inv_acme-corp_2025-12_r1): openai/gpt-4o output tokens',
      },
    ]);
    expect(inv.adjustments_minor).toBe(250_012n);
    expect(inv.subtotal_minor).toBe(250_112n);
  });

  it('sums rows of the same original invoice and key, keeps different invoices apart', () => {
    const inv = invoice({ adjustments: [late(), late(), late({ original_invoice_id: 'legacy-0042' })] });
    expect(inv.lines.map((l) => [l.original_invoice_id, l.quantity, l.amount_minor])).toEqual([
      ['inv_acme-corp_2025-12_r1', 24_690n, 25n], // $0.2469 -> 24.69 -> 25
      ['legacy-0042', 12_345n, 12n],
    ]);
  });

  it.each<[string, Partial<LateUsageAdjustment>, RegExp]>([
    ['the same period as the invoice', { original_period: '2026-01', original_invoice_id: 'inv_acme-corp_2026-01_r1' }, /adjustments\[0\]\.original_period: 2026-01 is not before/],
    ['a later period', { original_period: '2026-02' }, /not before/],
    ['no original invoice', { original_invoice_id: '' }, /adjustments\[0\]\.original_invoice_id/],
    ['another tenant\'s invoice', { original_invoice_id: 'inv_globex_2025-12_r1' }, /is the invoice of tenant "globex" for 2025-12/],
    ['an invoice of another period', { original_invoice_id: 'inv_acme-corp_2025-10_r1' }, /for 2025-10, not of "acme-corp" for 2025-12/],
    ['a malformed period', { original_period: '2025-12-31' }, /original_period: expected a month/],
  ])('rejects %s', (_what, over, message) => {
    expect(() => invoice({ adjustments: [late(over)] })).toThrow(message);
  });
});

describe('computeInvoice: a reference invoice worked out by hand', () => {
  // acme-corp, January 2026, revision 2 (a correction of r1), USD.
  //
  // line  what                                 tokens/requests  unit price   exact USD     cents
  //  1    anthropic/claude-sonnet-4 cache write    100,000       3.75/1M     0.375          38 (37.5 tie -> even 38)
  //  2    anthropic/claude-sonnet-4 output          20,000       15/1M       0.30           30
  //  3    anthropic/claude-sonnet-4 request fee      1,500       0.0001/req  0.15           15
  //  4    openai/gpt-4o input                    1,234,567       2.50/1M     3.0864175     309
  //  5    openai/gpt-4o cache read                 800,000       1.25/1M     1.00          100
  //  6    openai/gpt-4o output                     456,789       10.00/1M    4.56789       457
  //  7    openai/gpt-4o-mini input               3,000,000       (0.15/1M)   0.45           45
  //  8    openai/gpt-4o-mini output                375,000       (0.6/1M)    0.225          22 (22.5 tie -> even 22)
  //  9    late 2025-12 gpt-4o output                12,345       10.00/1M    0.12345        12
  //       usage 309+100+457+38+30+45+22 = 1001; request fees 15; adjustments 12; subtotal 1028
  //       commitment 1000: no top-up
  // 10    discount 7.5% of 1028 = 77.1                                                     -77
  // 11    fixed discount 0.50                                                               -50
  // 12    credit 2.50 of 2.50 available                                                    -250
  //       total 1028 - 77 - 50 - 250 = 651
  const sonnet = { provider: 'anthropic', model: 'claude-sonnet-4', price_version_id: 'anthropic/claude-sonnet-4@2025-05-14' };
  const gpt4o = { provider: 'openai', model: 'gpt-4o', price_version_id: 'openai/gpt-4o@2024-08-06' };
  const mini = { provider: 'openai', model: 'gpt-4o-mini', price_version_id: 'openai/gpt-4o-mini@2024-07-18' };
  const usage: PricedUsageAggregate[] = [
    // Deliberately out of order: the invoice sorts its lines.
    { ...mini, bucket: 'output', quantity: 375_000n, amount_pico: 375_000n * 600_000n },
    { ...gpt4o, bucket: 'output', quantity: 456_789n, amount_pico: 456_789n * 10_000_000n, unit_price: '10.00' },
    { ...sonnet, bucket: 'request', quantity: 1_500n, amount_pico: 1_500n * 100_000_000n, unit_price: '0.0001' },
    { ...gpt4o, bucket: 'input', quantity: 1_234_567n, amount_pico: 1_234_567n * 2_500_000n, unit_price: '2.50' },
    { ...sonnet, bucket: 'cache_write', quantity: 100_000n, amount_pico: 100_000n * 3_750_000n, unit_price: '3.75' },
    { ...gpt4o, bucket: 'cache_read', quantity: 800_000n, amount_pico: 800_000n * 1_250_000n, unit_price: '1.25' },
    { ...mini, bucket: 'input', quantity: 3_000_000n, amount_pico: 3_000_000n * 150_000n },
    { ...sonnet, bucket: 'output', quantity: 20_000n, amount_pico: 20_000n * 15_000_000n, unit_price: '15' },
    // A model with no reasoning tokens and no fee: no lines.
    { ...sonnet, bucket: 'reasoning', quantity: 0n, amount_pico: 0n },
    { ...mini, bucket: 'request', quantity: 2_000n, amount_pico: 0n },
  ];
  const adjustments: LateUsageAdjustment[] = [
    { ...gpt4o, bucket: 'output', quantity: 12_345n, amount_pico: 12_345n * 10_000_000n, unit_price: '10.00', original_invoice_id: 'inv_acme-corp_2025-12_r1', original_period: '2025-12' },
  ];
  const inv = computeInvoice({
    tenant_id: 'acme-corp',
    period: '2026-01',
    revision: 2,
    status: 'final',
    usage,
    adjustments,
    terms: { minimum_commitment_minor: 1_000n, discount_percent: '7.5', fixed_discount_minor: 50n, credits_available_minor: 250n },
    clock: CLOCK,
  });

  it('has the header worked out', () => {
    expect({
      invoice_id: inv.invoice_id,
      revision: inv.revision,
      supersedes: inv.supersedes_invoice_id,
      status: inv.status,
      issued_at: inv.issued_at,
      currency: inv.currency,
      exchange_rate: inv.exchange_rate,
    }).toEqual({
      invoice_id: 'inv_acme-corp_2026-01_r2',
      revision: 2,
      supersedes: 'inv_acme-corp_2026-01_r1',
      status: 'final',
      issued_at: ISSUED_AT,
      currency: 'USD',
      exchange_rate: '1',
    });
  });

  it('has the lines worked out', () => {
    const view = (l: InvoiceLine): unknown[] => [l.line_no, l.kind, l.model, l.bucket, l.quantity, l.unit_price, l.amount_minor];
    expect(inv.lines.map(view)).toEqual([
      [1, 'usage', 'claude-sonnet-4', 'cache_write', 100_000n, '3.75', 38n],
      [2, 'usage', 'claude-sonnet-4', 'output', 20_000n, '15', 30n],
      [3, 'request_fee', 'claude-sonnet-4', 'request', 1_500n, '0.0001', 15n],
      [4, 'usage', 'gpt-4o', 'input', 1_234_567n, '2.50', 309n],
      [5, 'usage', 'gpt-4o', 'cache_read', 800_000n, '1.25', 100n],
      [6, 'usage', 'gpt-4o', 'output', 456_789n, '10.00', 457n],
      [7, 'usage', 'gpt-4o-mini', 'input', 3_000_000n, '0.15', 45n],
      [8, 'usage', 'gpt-4o-mini', 'output', 375_000n, '0.6', 22n],
      [9, 'adjustment', 'gpt-4o', 'output', 12_345n, '10.00', 12n],
      [10, 'discount', null, null, null, null, -77n],
      [11, 'discount', null, null, null, null, -50n],
      [12, 'credit', null, null, null, null, -250n],
    ]);
    expect(inv.lines[2]).toMatchObject({ quantity_unit: 'requests', unit_price_basis: 'per_request', description: 'anthropic/claude-sonnet-4 request fee' });
    expect(inv.lines[3]).toMatchObject({ quantity_unit: 'tokens', unit_price_basis: 'per_1m_tokens', price_version_id: 'openai/gpt-4o@2024-08-06', amount_pico_usd: 3_086_417_500_000n });
    expect(inv.lines[8]).toMatchObject({ original_invoice_id: 'inv_acme-corp_2025-12_r1', original_period: '2025-12' });
    expect(inv.lines[9]!.description).toBe('Discount 7.5% of 10.28 USD');
  });

  it('has the totals worked out', () => {
    expect({
      usage: inv.usage_minor,
      request_fees: inv.request_fees_minor,
      adjustments: inv.adjustments_minor,
      subtotal: inv.subtotal_minor,
      commitment: inv.minimum_commitment_minor,
      top_up: inv.minimum_commitment_top_up_minor,
      percent: inv.percent_discount_minor,
      fixed: inv.fixed_discount_minor,
      discounts: inv.discounts_minor,
      credits_available: inv.credits_available_minor,
      credits_applied: inv.credits_applied_minor,
      credits_remaining: inv.credits_remaining_minor,
      total: inv.total_minor,
    }).toEqual({
      usage: 1_001n,
      request_fees: 15n,
      adjustments: 12n,
      subtotal: 1_028n,
      commitment: 1_000n,
      top_up: 0n,
      percent: 77n,
      fixed: 50n,
      discounts: 127n,
      credits_available: 250n,
      credits_applied: 250n,
      credits_remaining: 0n,
      total: 651n,
    });
    expect(sumLines(inv)).toBe(651n);
  });

  it('does not depend on the order of its input', () => {
    const again = computeInvoice({
      tenant_id: 'acme-corp',
      period: '2026-01',
      revision: 2,
      status: 'final',
      usage: [...usage].reverse(),
      adjustments,
      terms: { minimum_commitment_minor: 1_000n, discount_percent: '7.5', fixed_discount_minor: 50n, credits_available_minor: 250n },
      clock: CLOCK,
    });
    expect(again).toEqual(inv);
  });
});

describe('computeInvoice: input', () => {
  it('defaults: revision 1, draft, USD, issued at the clock, no lines for no usage', () => {
    let reads = 0;
    const inv = invoice({
      clock: () => {
        reads++;
        return ISSUED_AT;
      },
    });
    expect(reads).toBe(1);
    expect(inv).toMatchObject({ invoice_id: 'inv_acme-corp_2026-01_r1', revision: 1, supersedes_invoice_id: null, status: 'draft', currency: 'USD', currency_minor_unit: 2, issued_at: ISSUED_AT, total_minor: 0n });
    expect(inv.lines).toEqual([]);
  });

  it('sums rows of the same key (per-day rows) and keeps tiers and thresholds apart', () => {
    const inv = invoice({
      usage: [
        row({ quantity: 1_000n, amount_pico: 1_000n * 2_500_000n }),
        row({ quantity: 3_000n, amount_pico: 3_000n * 2_500_000n }),
        row({ tier: 'batch', quantity: 1_000n, amount_pico: 1_000n * 1_250_000n }),
        row({ threshold_above_prompt_tokens: 200_000, quantity: 1_000n, amount_pico: 1_000n * 5_000_000n }),
      ],
    });
    expect(inv.lines.map((l) => [l.description, l.quantity, l.unit_price, l.amount_pico_usd])).toEqual([
      ['openai/gpt-4o input tokens', 4_000n, '2.5', 10_000_000_000n],
      ['openai/gpt-4o input tokens (prompts above 200000 tokens)', 1_000n, '5', 5_000_000_000n],
      ['openai/gpt-4o input tokens (batch tier)', 1_000n, '1.25', 1_250_000_000n],
    ]);
  });

  it('leaves the unit price empty when no exact rate gives the amount', () => {
    // 5,000,003 pico for 3 tokens: 1.666667666... USD per 1M tokens, no finite decimal.
    const inv = invoice({ usage: [row({ quantity: 3n, amount_pico: 5_000_003n })] });
    expect(inv.lines[0]).toMatchObject({ unit_price: null, unit_price_usd: null, unit_price_basis: 'per_1m_tokens', amount_minor: 0n });
  });

  it.each<[string, Partial<InvoiceInput>, RegExp]>([
    ['an empty tenant', { tenant_id: '' }, /tenant_id/],
    ['a bad period', { period: '2026-1' }, /period: expected a month/],
    ['revision 0', { revision: 0 }, /revision/],
    ['an unknown status', { status: 'sent' as 'draft' }, /status/],
    ['a clock returning a float', { clock: () => 1.5 }, /clock/],
    ['a negative amount', { usage: [row({ amount_pico: -1n })] }, /usage\[0\]\.amount_pico/],
    ['a number quantity', { usage: [row({ quantity: 5 as unknown as bigint })] }, /usage\[0\]\.quantity/],
    ['an amount without quantity', { usage: [row({ quantity: 0n, amount_pico: 5n })] }, /usage\[0\]\.amount_pico: is 5 for a quantity of 0/],
    ['an unknown bucket', { usage: [row({ bucket: 'audio' as 'input' })] }, /usage\[0\]\.bucket/],
    ['an empty model', { usage: [row({ model: '' })] }, /usage\[0\]\.model/],
    ['a bad unit price', { usage: [row({ unit_price: '1,5' })] }, /usage\[0\]\.unit_price/],
    ['two unit prices for one key', { usage: [row({ unit_price: '2.5' }), row({ unit_price: '2.4' })] }, /usage\[1\]\.unit_price: "2.4" differs from "2.5"/],
  ])('rejects %s with an InvoiceInputError naming the field', (_what, over, message) => {
    let caught: unknown;
    try {
      invoice(over);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvoiceInputError);
    expect((caught as Error).message).toMatch(message);
  });

  it('accepts the same unit price written two ways', () => {
    const inv = invoice({ usage: [row({ unit_price: '2.5', amount_pico: 1n }), row({ unit_price: '2.50', amount_pico: 1n })] });
    expect(inv.lines[0]!.unit_price).toBe('2.5');
  });
});
