import { InvoiceInputError } from './errors';
import { INVOICE_FORMAT, type Invoice, type InvoiceLine } from './types';

/**
 * The invoice as stored (the `invoice` column): every field, bigints as decimal strings, so the
 * stored text reads back to the very invoice that was computed and every export can be made
 * again from it, byte for byte. (The JSON export is for people and billing systems and
 * carries decimals; this one is for round trips.)
 */

const invoiceBigints = [
  'usage_minor', 'request_fees_minor', 'adjustments_minor', 'subtotal_minor', 'minimum_commitment_minor', 'minimum_commitment_top_up_minor',
  'percent_discount_minor', 'fixed_discount_minor', 'discounts_minor', 'credits_available_minor', 'credits_applied_minor', 'credits_remaining_minor', 'credit_notes_minor', 'total_minor',
] as const satisfies readonly (keyof Invoice)[];
const lineBigints = ['quantity', 'amount_pico_usd', 'amount_minor'] as const satisfies readonly (keyof InvoiceLine)[];

export function encodeInvoice(invoice: Invoice): string {
  return JSON.stringify(invoice, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

function big(value: unknown, field: string, nullable: boolean): bigint | null {
  if (value === null && nullable) return null;
  if (typeof value !== 'string' || !/^-?\d+$/.test(value)) throw new InvoiceInputError(field, `expected an integer as a decimal string, got ${JSON.stringify(value)}`);
  return BigInt(value);
}

/** Reads what {@link encodeInvoice} wrote; `source` names it in errors. */
export function decodeInvoice(text: string, source = 'stored invoice'): Invoice {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InvoiceInputError(source, `is not JSON: ${error instanceof Error ? error.message : String(error)}`, error);
  }
  if (typeof raw !== 'object' || raw === null) throw new InvoiceInputError(source, 'is not an object');
  const doc = raw as Record<string, unknown>;
  if (doc.format !== INVOICE_FORMAT) throw new InvoiceInputError(`${source}.format`, `expected ${INVOICE_FORMAT}, got ${JSON.stringify(doc.format)}`);
  if (!Array.isArray(doc.lines)) throw new InvoiceInputError(`${source}.lines`, 'is not an array');
  // Invoices stored before revisions had credit notes carry none.
  const out: Record<string, unknown> = { ...doc, credit_notes_minor: doc.credit_notes_minor ?? '0' };
  for (const field of invoiceBigints) out[field] = big(out[field], `${source}.${field}`, false);
  out.lines = (doc.lines as unknown[]).map((line, i) => {
    if (typeof line !== 'object' || line === null) throw new InvoiceInputError(`${source}.lines[${i}]`, 'is not an object');
    const l: Record<string, unknown> = { ...(line as Record<string, unknown>) };
    for (const field of lineBigints) l[field] = big(l[field], `${source}.lines[${i}].${field}`, field !== 'amount_minor');
    return l;
  });
  return out as unknown as Invoice;
}
