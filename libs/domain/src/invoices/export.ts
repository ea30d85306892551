import { formatMinor } from './currency';
import type { Invoice, InvoiceLine } from './types';

/**
 * Invoice documents: stable JSON and RFC 4180 CSV. Pure functions of the invoice; the same
 * invoice always gives the same bytes (fixed key and column order, no clock, no locale).
 */

function amountPair(amount: bigint, decimals: number): { minor: string; decimal: string } {
  return { minor: amount.toString(), decimal: formatMinor(amount, decimals) };
}

function lineJson(line: InvoiceLine, invoice: Invoice): Record<string, unknown> {
  const amount = amountPair(line.amount_minor, invoice.currency_minor_unit);
  return {
    line_no: line.line_no,
    kind: line.kind,
    description: line.description,
    provider: line.provider,
    model: line.model,
    price_version_id: line.price_version_id,
    tier: line.tier,
    threshold_above_prompt_tokens: line.threshold_above_prompt_tokens,
    bucket: line.bucket,
    quantity: line.quantity === null ? null : line.quantity.toString(),
    quantity_unit: line.quantity_unit,
    unit_price: line.unit_price,
    unit_price_usd: line.unit_price_usd,
    unit_price_basis: line.unit_price_basis,
    amount_pico_usd: line.amount_pico_usd === null ? null : line.amount_pico_usd.toString(),
    amount_minor: amount.minor,
    amount: amount.decimal,
    percent: line.percent,
    original_invoice_id: line.original_invoice_id,
    original_period: line.original_period,
  };
}

/** The totals of an invoice in the order they are computed (see `computeInvoice`). */
export const invoiceTotalFields = [
  'usage',
  'request_fees',
  'adjustments',
  'subtotal',
  'minimum_commitment',
  'minimum_commitment_top_up',
  'percent_discount',
  'fixed_discount',
  'discounts',
  'credits_available',
  'credits_applied',
  'credits_remaining',
  'credit_notes',
  'total',
] as const;
export type InvoiceTotalField = (typeof invoiceTotalFields)[number];

export function invoiceTotal(invoice: Invoice, field: InvoiceTotalField): bigint {
  return invoice[`${field}_minor`];
}

/**
 * The invoice as JSON: fixed key order, two-space indent, a final newline. Money is written as
 * strings, twice: `<name>_minor` (integer minor units, exact) and `<name>` (the decimal amount in
 * the currency, e.g. "3.70" or, in JPY, "1500"); quantities and pico amounts as integer strings;
 * `issued_at` as an ISO 8601 UTC instant and `issued_at_ms` as epoch ms.
 */
export function toInvoiceJson(invoice: Invoice): string {
  const totals: Record<string, string> = {};
  for (const field of invoiceTotalFields) {
    const amount = amountPair(invoiceTotal(invoice, field), invoice.currency_minor_unit);
    totals[`${field}_minor`] = amount.minor;
    totals[field] = amount.decimal;
  }
  const doc = {
    format: invoice.format,
    invoice_id: invoice.invoice_id,
    tenant_id: invoice.tenant_id,
    period: invoice.period,
    revision: invoice.revision,
    supersedes_invoice_id: invoice.supersedes_invoice_id,
    status: invoice.status,
    issued_at: new Date(invoice.issued_at).toISOString(),
    issued_at_ms: invoice.issued_at,
    currency: invoice.currency,
    currency_minor_unit: invoice.currency_minor_unit,
    exchange_rate: invoice.exchange_rate,
    totals,
    lines: invoice.lines.map((line) => lineJson(line, invoice)),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export const invoiceCsvColumns = [
  'invoice_id',
  'line_no',
  'kind',
  'description',
  'provider',
  'model',
  'price_version_id',
  'tier',
  'threshold_above_prompt_tokens',
  'bucket',
  'quantity',
  'quantity_unit',
  'unit_price',
  'unit_price_basis',
  'unit_price_usd',
  'amount_pico_usd',
  'currency',
  'amount_minor',
  'amount',
  'original_invoice_id',
  'original_period',
] as const;

/** Columns holding free text, which may start with a character a spreadsheet reads as a formula. */
const textColumns = new Set<string>(['description', 'provider', 'model', 'price_version_id', 'tier', 'original_invoice_id']);
const FORMULA_START = /^[=+\-@\t\r]/;

/** One RFC 4180 field: quoted when it holds a comma, a double quote, CR or LF; quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export interface InvoiceCsvOptions {
  /**
   * Prefix text cells that start with `=`, `+`, `-`, `@`, tab or CR with `'`, so a spreadsheet
   * does not run them as formulas (CSV injection). Numbers are never changed. Default true.
   */
  guardFormulas?: boolean;
}

/**
 * The invoice as CSV (RFC 4180): a header row, then one row per line in line order; CRLF after
 * every row; empty cells for nulls. Totals are not rows: they are the sum of `amount_minor`.
 */
export function toInvoiceCsv(invoice: Invoice, options: InvoiceCsvOptions = {}): string {
  const guard = options.guardFormulas ?? true;
  const rows: string[] = [invoiceCsvColumns.join(',')];
  for (const line of invoice.lines) {
    const cells: Record<(typeof invoiceCsvColumns)[number], string> = {
      invoice_id: invoice.invoice_id,
      line_no: String(line.line_no),
      kind: line.kind,
      description: line.description,
      provider: line.provider ?? '',
      model: line.model ?? '',
      price_version_id: line.price_version_id ?? '',
      tier: line.tier ?? '',
      threshold_above_prompt_tokens: line.threshold_above_prompt_tokens === null ? '' : String(line.threshold_above_prompt_tokens),
      bucket: line.bucket ?? '',
      quantity: line.quantity === null ? '' : line.quantity.toString(),
      quantity_unit: line.quantity_unit ?? '',
      unit_price: line.unit_price ?? '',
      unit_price_basis: line.unit_price_basis ?? '',
      unit_price_usd: line.unit_price_usd ?? '',
      amount_pico_usd: line.amount_pico_usd === null ? '' : line.amount_pico_usd.toString(),
      currency: invoice.currency,
      amount_minor: line.amount_minor.toString(),
      amount: formatMinor(line.amount_minor, invoice.currency_minor_unit),
      original_invoice_id: line.original_invoice_id ?? '',
      original_period: line.original_period ?? '',
    };
    rows.push(
      invoiceCsvColumns
        .map((column) => {
          const value = cells[column];
          return csvField(guard && textColumns.has(column) && FORMULA_START.test(value) ? `'${value}` : value);
        })
        .join(','),
    );
  }
  return `${rows.join('\r\n')}\r\n`;
}

/** The `InvoiceReady` record (schemas/invoice-ready/v1.avsc) announcing an invoice on the invoices topic. */
export interface InvoiceReady {
  invoice_id: string;
  revision: number;
  tenant_id: string;
  period: string;
  currency: string;
  /** Integer minor units as a decimal string. */
  total_minor: string;
  status: string;
  line_count: number;
  /** Epoch ms. */
  issued_at: number;
  /** Where each document was written, by format (`json`, `csv`, `html`). */
  exports: Record<string, string>;
}

/** The `InvoiceReady` record of an invoice whose documents were written to `exports` (format -> path or URL). */
export function toInvoiceReady(invoice: Invoice, exports: Readonly<Record<string, string>>): InvoiceReady {
  return {
    invoice_id: invoice.invoice_id,
    revision: invoice.revision,
    tenant_id: invoice.tenant_id,
    period: invoice.period,
    currency: invoice.currency,
    total_minor: invoice.total_minor.toString(),
    status: invoice.status,
    line_count: invoice.lines.length,
    issued_at: invoice.issued_at,
    exports: Object.fromEntries(Object.entries(exports).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  };
}
