import { describe, expect, it } from 'vitest';
import { computeInvoice } from './compute';
import { toInvoiceCsv, toInvoiceJson } from './export';
import { renderInvoiceHtml } from './html';
import { decodeInvoice, encodeInvoice } from './stored';

describe('stored invoice', () => {
  const invoice = computeInvoice({
    tenant_id: 'acme/€',
    period: '2026-01',
    status: 'final',
    usage: [{ provider: 'openai', model: 'gpt-4o', price_version_id: 'openai/gpt-4o@2024-08-06', bucket: 'input', quantity: 12_345_678_901n, amount_pico: 30_864_197_252_500_000n }],
    adjustments: [{ provider: 'openai', model: 'gpt-4o', price_version_id: 'openai/gpt-4o@2024-08-06', bucket: 'output', quantity: 10n, amount_pico: 100_000_000n, original_invoice_id: 'none', original_period: '2025-12' }],
    terms: { minimum_commitment_minor: 10n, discount_percent: '2.5', credits_available_minor: 7n },
    clock: () => Date.UTC(2026, 1, 1, 2),
  });

  it('reads back the very invoice it stored, so every export can be made again byte for byte', () => {
    const back = decodeInvoice(encodeInvoice(invoice));
    expect(back).toEqual(invoice);
    expect(toInvoiceJson(back)).toBe(toInvoiceJson(invoice));
    expect(toInvoiceCsv(back)).toBe(toInvoiceCsv(invoice));
    expect(renderInvoiceHtml(back)).toBe(renderInvoiceHtml(invoice));
  });

  it.each<[string, string, RegExp]>([
    ['not JSON', '{', /stored invoice: is not JSON/],
    ['another format', '{"format":"x","lines":[]}', /stored invoice\.format: expected meterline\.invoice\/v1/],
    ['a total that is not an integer', JSON.stringify({ ...JSON.parse(encodeInvoice(invoice)), total_minor: 1.5 }), /stored invoice\.total_minor: expected an integer as a decimal string, got 1\.5/],
  ])('names what is wrong: %s', (_what, text, message) => {
    expect(() => decodeInvoice(text)).toThrow(message);
  });
});
