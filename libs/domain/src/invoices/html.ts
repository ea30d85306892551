import { formatMinorGrouped } from './currency';
import type { Invoice, InvoiceLine } from './types';

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&#39;';
    }
  });
}

function groupDigits(value: bigint): string {
  return value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const STYLE = `
  :root { color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 10.5pt/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; background: #f4f4f4; }
  main { max-width: 210mm; margin: 12mm auto; padding: 14mm; background: #fff; }
  h1 { font-size: 20pt; margin: 0 0 4mm; }
  .status { display: inline-block; margin-left: 3mm; padding: 0.5mm 2.5mm; border: 1px solid #b00; color: #b00; font-size: 10pt; vertical-align: middle; text-transform: uppercase; letter-spacing: 0.08em; }
  dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 1mm 6mm; margin: 0 0 8mm; }
  dl.meta dt { color: #555; }
  dl.meta dd { margin: 0; }
  table { width: 100%; border-collapse: collapse; }
  th, td { padding: 1.5mm 2mm; text-align: left; vertical-align: top; }
  thead th { border-bottom: 1.5px solid #111; font-weight: 600; }
  tbody td { border-bottom: 1px solid #ddd; }
  .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .sub { display: block; color: #666; font-size: 8.5pt; word-break: break-all; }
  tr.kind-discount td, tr.kind-credit td, tr.kind-credit_note td { color: #064; }
  table.totals { width: auto; margin: 6mm 0 0 auto; }
  table.totals th { font-weight: normal; color: #333; padding-right: 8mm; }
  table.totals tr.total th, table.totals tr.total td { border-top: 1.5px solid #111; font-weight: 700; font-size: 12pt; }
  footer { margin-top: 10mm; color: #555; font-size: 8.5pt; }
  @page { size: A4; margin: 14mm; }
  @media print {
    body { background: #fff; }
    main { margin: 0; padding: 0; max-width: none; }
    thead { display: table-header-group; }
    tr, table.totals { break-inside: avoid; }
    a { color: inherit; text-decoration: none; }
  }
`;

function lineRow(line: InvoiceLine, invoice: Invoice): string {
  const e = escapeHtml;
  const details: string[] = [];
  if (line.price_version_id !== null) details.push(`price ${line.price_version_id}`);
  if (line.original_invoice_id !== null) details.push(`adjusts ${line.original_invoice_id} (${line.original_period ?? ''})`);
  const detail = details.length > 0 ? `<span class="sub">${e(details.join(' · '))}</span>` : '';
  const quantity = line.quantity === null ? '' : `${groupDigits(line.quantity)}<span class="sub">${e(line.quantity_unit ?? '')}</span>`;
  let unit = '';
  if (line.unit_price_basis !== null) {
    const basis = line.unit_price_basis === 'per_request' ? 'per request' : 'per 1M tokens';
    unit = line.unit_price === null ? `—<span class="sub">varies</span>` : `${e(line.unit_price)}<span class="sub">${basis}</span>`;
  }
  return (
    `<tr class="kind-${e(line.kind)}">` +
    `<td class="num">${line.line_no}</td>` +
    `<td>${e(line.description)}${detail}</td>` +
    `<td class="num">${quantity}</td>` +
    `<td class="num">${unit}</td>` +
    `<td class="num">${e(formatMinorGrouped(line.amount_minor, invoice.currency_minor_unit))}</td>` +
    `</tr>`
  );
}

/**
 * The invoice as one self-contained, printable HTML page (inline CSS with print rules, no script,
 * no external resource; a Content-Security-Policy forbids both). Every text from the invoice is
 * escaped, so a model named `<script>` is shown, never run.
 */
export function renderInvoiceHtml(invoice: Invoice): string {
  const e = escapeHtml;
  const money = (amount: bigint): string => e(formatMinorGrouped(amount, invoice.currency_minor_unit));
  const issued = new Date(invoice.issued_at).toISOString();
  const meta: [string, string][] = [
    ['Invoice', invoice.invoice_id],
    ['Tenant', invoice.tenant_id],
    ['Period', invoice.period],
    ['Revision', invoice.supersedes_invoice_id === null ? String(invoice.revision) : `${invoice.revision} (replaces ${invoice.supersedes_invoice_id})`],
    ['Status', invoice.status],
    ['Issued', issued],
    ['Currency', invoice.currency === 'USD' ? 'USD' : `${invoice.currency} (1 USD = ${invoice.exchange_rate} ${invoice.currency})`],
  ];
  const totals: [string, bigint, string][] = [['Usage', invoice.usage_minor, '']];
  if (invoice.request_fees_minor !== 0n) totals.push(['Request fees', invoice.request_fees_minor, '']);
  if (invoice.adjustments_minor !== 0n) totals.push(['Adjustments (late usage)', invoice.adjustments_minor, '']);
  totals.push(['Subtotal', invoice.subtotal_minor, '']);
  if (invoice.minimum_commitment_top_up_minor !== 0n) totals.push(['Minimum commitment top-up', invoice.minimum_commitment_top_up_minor, '']);
  if (invoice.discounts_minor !== 0n) totals.push(['Discounts', -invoice.discounts_minor, '']);
  if (invoice.credits_applied_minor !== 0n) totals.push(['Credits applied', -invoice.credits_applied_minor, '']);
  if (invoice.credit_notes_minor !== 0n) totals.push([`Credit note (replaces ${invoice.supersedes_invoice_id ?? ''})`, invoice.credit_notes_minor, '']);
  totals.push([`Total (${invoice.currency})`, invoice.total_minor, 'total']);

  const parts = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Invoice ${e(invoice.invoice_id)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>Invoice${invoice.status === 'draft' ? ' <span class="status">draft</span>' : ''}</h1>`,
    '<dl class="meta">',
    ...meta.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`),
    '</dl>',
    '<table class="lines">',
    `<thead><tr><th class="num">#</th><th>Description</th><th class="num">Quantity</th><th class="num">Unit price (${e(invoice.currency)})</th><th class="num">Amount (${e(invoice.currency)})</th></tr></thead>`,
    '<tbody>',
    ...(invoice.lines.length === 0 ? ['<tr><td></td><td colspan="4">No usage in this period.</td></tr>'] : invoice.lines.map((line) => lineRow(line, invoice))),
    '</tbody>',
    '</table>',
    '<table class="totals">',
    '<tbody>',
    ...totals.map(([label, amount, cls]) => `<tr${cls === '' ? '' : ` class="${cls}"`}><th>${e(label)}</th><td class="num">${money(amount)}</td></tr>`),
    '</tbody>',
    '</table>',
    '<footer>',
    invoice.credits_remaining_minor !== 0n ? `<p>Credit remaining after this invoice: ${money(invoice.credits_remaining_minor)} ${e(invoice.currency)}.</p>` : '',
    `<p>Each line is its exact usage charge rounded once (half-even) to the currency's minor unit; totals are sums of the rounded lines. Unit prices are per 1M tokens or per request.</p>`,
    '</footer>',
    '</main>',
    '</body>',
    '</html>',
    '',
  ];
  return parts.filter((p, i) => p !== '' || i === parts.length - 1).join('\n');
}
