import { formatMinor } from './currency';
import { InvoiceInputError } from './errors';
import { invoiceId } from './invoice-id';
import type { Invoice, InvoiceLine } from './types';

/**
 * Invoice revisions. An issued invoice is a financial record and is never changed: a correction
 * (prices fixed after the period was invoiced, terms corrected) is the next revision of the
 * period, `r2`, `r3`, ... It restates the whole period as recomputed (from the raw events below
 * the period's cut and the price versions in force) and ends with one `credit_note` line that
 * reverses what the earlier revisions billed in total. Its total is therefore the difference:
 * what is still due (or, negative, owed back), and the totals of a period's revisions add up to
 * what the period costs.
 */

/** What the revisions of the period up to `invoice` billed in total (the credit note of the next one reverses it). */
export function periodBilled(invoice: Invoice): bigint {
  return invoice.total_minor - invoice.credit_notes_minor;
}

/** The fields of a line that carry money or say what was billed (not its wording or references). */
function chargeOf(line: InvoiceLine): unknown[] {
  return [
    line.kind, line.provider, line.model, line.price_version_id, line.tier, line.threshold_above_prompt_tokens, line.bucket, line.quantity, line.quantity_unit,
    line.unit_price, line.unit_price_usd, line.unit_price_basis, line.amount_pico_usd, line.amount_minor, line.percent, line.original_period,
  ];
}

const charges = (invoice: Invoice): string =>
  JSON.stringify(invoice.lines.filter((l) => l.kind !== 'credit_note').map(chargeOf), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

/**
 * True when `recomputed` bills what `latest` bills: the same lines with the same quantities,
 * prices and amounts, in the same currency. Descriptions and the ids that adjustment lines name
 * are not compared (a credit's "available" wording or a revised earlier invoice's id change no money).
 */
export function sameCharges(latest: Invoice, recomputed: Invoice): boolean {
  return latest.currency === recomputed.currency && latest.exchange_rate === recomputed.exchange_rate && periodBilled(latest) === periodBilled(recomputed) && charges(latest) === charges(recomputed);
}

/**
 * The next revision of a period's invoice: `recomputed` (the period computed again, as
 * `prepareTenantInvoice` returns it: revision 1, no credit note) renumbered after `latest` with a
 * credit note for what the revisions so far billed. Undefined when nothing billed changed, so
 * asking twice for a revision with the same inputs makes one.
 */
export function nextRevision(latest: Invoice, recomputed: Invoice): Invoice | undefined {
  if (recomputed.tenant_id !== latest.tenant_id || recomputed.period !== latest.period) {
    throw new InvoiceInputError('recomputed', `is the invoice of ${recomputed.tenant_id} for ${recomputed.period}, not of ${latest.tenant_id} for ${latest.period}`);
  }
  if (recomputed.credit_notes_minor !== 0n || recomputed.lines.some((l) => l.kind === 'credit_note')) {
    throw new InvoiceInputError('recomputed', 'must be the period computed afresh (no credit note)');
  }
  if (recomputed.currency !== latest.currency) {
    throw new InvoiceInputError('recomputed.currency', `${recomputed.currency} differs from ${latest.currency} of ${latest.invoice_id}: a revision keeps the currency of the invoice it replaces`);
  }
  if (sameCharges(latest, recomputed)) return undefined;
  const revision = latest.revision + 1;
  const billed = periodBilled(latest);
  const amount = `${formatMinor(billed, latest.currency_minor_unit)} ${latest.currency}`;
  const creditNote: InvoiceLine = {
    line_no: recomputed.lines.length + 1,
    kind: 'credit_note',
    description: `Credit note: replaces ${latest.invoice_id} (${amount} billed for ${latest.period} by revision${latest.revision === 1 ? ' 1' : `s 1 to ${latest.revision}`})`,
    provider: null,
    model: null,
    price_version_id: null,
    tier: null,
    threshold_above_prompt_tokens: null,
    bucket: null,
    quantity: null,
    quantity_unit: null,
    unit_price: null,
    unit_price_usd: null,
    unit_price_basis: null,
    amount_pico_usd: null,
    amount_minor: -billed,
    percent: null,
    original_invoice_id: latest.invoice_id,
    original_period: latest.period,
  };
  return {
    ...recomputed,
    invoice_id: invoiceId(latest.tenant_id, latest.period, revision),
    revision,
    supersedes_invoice_id: latest.invoice_id,
    lines: [...recomputed.lines, creditNote],
    credit_notes_minor: -billed,
    total_minor: recomputed.total_minor - billed,
  };
}
