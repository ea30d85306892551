import { describe, expect, it } from 'vitest';
import { computeInvoice } from './compute';
import { invoiceDocumentFormatOf, invoiceDocuments, renderInvoiceDocument } from './documents';
import { toInvoiceCsv, toInvoiceJson } from './export';
import { renderInvoiceHtml } from './html';

const invoice = computeInvoice({
  tenant_id: 'acme',
  period: '2026-01',
  usage: [{ provider: 'openai', model: 'gpt-4o', price_version_id: 'openai/gpt-4o@2024-08-06', bucket: 'output', quantity: 1_000n, amount_pico: 10_000_000_000n, unit_price: '10' }],
  clock: () => Date.UTC(2026, 1, 1),
});

describe('invoice documents', () => {
  it.each([
    ['json', 'json', 'application/json; charset=utf-8', toInvoiceJson(invoice)],
    ['csv', 'csv', 'text/csv; charset=utf-8', toInvoiceCsv(invoice)],
    ['html', 'html', 'text/html; charset=utf-8', renderInvoiceHtml(invoice)],
  ] as const)('%s: extension %s, media type %s, the same bytes as its renderer', (format, extension, mediaType, bytes) => {
    expect(invoiceDocuments[format]).toMatchObject({ extension, mediaType });
    expect(renderInvoiceDocument(invoice, format)).toBe(bytes);
  });

  it.each([
    ['application/json', 'json'],
    ['text/csv', 'csv'],
    ['TEXT/HTML; charset=utf-8', 'html'],
    ['text/plain', undefined],
    ['application/pdf', undefined],
    ['', undefined],
  ])('the media type %j is the format %s', (mediaType, format) => expect(invoiceDocumentFormatOf(mediaType)).toBe(format));
});
