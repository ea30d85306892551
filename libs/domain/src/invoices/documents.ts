import { toInvoiceCsv, toInvoiceJson } from './export';
import { renderInvoiceHtml } from './html';
import type { Invoice } from './types';

/**
 * The documents of an invoice, one definition for every place that hands them out: the invoice
 * scheduler's files (`<id>.<extension>`), the CLI's export and the API's document route (its
 * media type). Each is a pure function of the invoice: the same invoice, the same bytes.
 */
export const invoiceDocumentFormats = ['json', 'csv', 'html'] as const;
export type InvoiceDocumentFormat = (typeof invoiceDocumentFormats)[number];

export interface InvoiceDocumentKind {
  /** The file extension, without the dot. */
  extension: string;
  /** The media type (charset included for the text formats). */
  mediaType: string;
  render: (invoice: Invoice) => string;
}

export const invoiceDocuments: Readonly<Record<InvoiceDocumentFormat, InvoiceDocumentKind>> = Object.freeze({
  json: { extension: 'json', mediaType: 'application/json; charset=utf-8', render: toInvoiceJson },
  csv: { extension: 'csv', mediaType: 'text/csv; charset=utf-8', render: (invoice: Invoice) => toInvoiceCsv(invoice) },
  html: { extension: 'html', mediaType: 'text/html; charset=utf-8', render: renderInvoiceHtml },
});

/** The document of `invoice` in `format`. */
export function renderInvoiceDocument(invoice: Invoice, format: InvoiceDocumentFormat): string {
  return invoiceDocuments[format].render(invoice);
}

/** The format whose media type is `mediaType` (parameters ignored), if any. */
export function invoiceDocumentFormatOf(mediaType: string): InvoiceDocumentFormat | undefined {
  const bare = mediaType.split(';')[0]!.trim().toLowerCase();
  return invoiceDocumentFormats.find((format) => invoiceDocuments[format].mediaType.startsWith(`${bare};`));
}
