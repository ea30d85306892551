import { describe, expect, it } from 'vitest';
import { computeInvoice } from './compute';
import { toInvoiceCsv, toInvoiceJson } from './export';
import { renderInvoiceHtml } from './html';
import { nextRevision, periodBilled, sameCharges } from './revision';
import { decodeInvoice, encodeInvoice } from './stored';
import type { Invoice, InvoiceInput } from './types';

const PV = 'openai/gpt-4o@2024-08-06';
const FIXED = 'openai/gpt-4o@2026-01-15';
/** The period computed from usage priced at `picoPerToken` (output tokens), with a commitment and credit. */
function period(picoPerToken: bigint, options: { version?: string; credits?: bigint; tenant?: string; currency?: string; clock?: number } = {}): Invoice {
  const quantity = 2_000_000n;
  const input: InvoiceInput = {
    tenant_id: options.tenant ?? 'acme',
    period: '2026-01',
    status: 'final',
    usage: [{ provider: 'openai', model: 'gpt-4o', price_version_id: options.version ?? PV, bucket: 'output', quantity, amount_pico: quantity * picoPerToken }],
    adjustments: [{ provider: 'openai', model: 'gpt-4o', price_version_id: PV, bucket: 'input', quantity: 1_000n, amount_pico: 2_500_000_000n, original_invoice_id: 'none', original_period: '2025-12' }],
    terms: { minimum_commitment_minor: 1_000n, credits_available_minor: options.credits ?? 300n },
    clock: () => options.clock ?? Date.UTC(2026, 1, 1, 2),
    ...(options.currency === undefined ? {} : { currency: options.currency, exchange_rate: '0.9' }),
  };
  return computeInvoice(input);
}
const sum = (invoice: Invoice): bigint => invoice.lines.reduce((s, l) => s + l.amount_minor, 0n);

describe('invoice revisions: the period restated with a credit note for what was billed before', () => {
  const r1 = period(10_000_000n); // 2M output tokens at $10/1M: $20.00, plus $0.0025 late usage
  const corrected = period(15_000_000n, { version: FIXED, clock: Date.UTC(2026, 2, 3) }); // the price fixed to $15/1M

  it('r2: the recomputed lines, then one credit note reversing r1; its total is what is still due', () => {
    const r2 = nextRevision(r1, corrected)!;
    expect({ id: r2.invoice_id, revision: r2.revision, supersedes: r2.supersedes_invoice_id, issued: r2.issued_at }).toEqual({ id: 'inv_acme_2026-01_r2', revision: 2, supersedes: 'inv_acme_2026-01_r1', issued: corrected.issued_at });
    expect(r2.lines.slice(0, -1)).toEqual(corrected.lines);
    const note = r2.lines.at(-1)!;
    expect(note).toMatchObject({ line_no: corrected.lines.length + 1, kind: 'credit_note', amount_minor: -r1.total_minor, original_invoice_id: r1.invoice_id, original_period: '2026-01', quantity: null });
    expect(note.description).toBe('Credit note: replaces inv_acme_2026-01_r1 (17.00 USD billed for 2026-01 by revision 1)');
    // r1: $20.00 of usage (the late $0.0025 rounds to 0), above the $10.00 commitment, less $3.00 of credit.
    expect(r1.total_minor).toBe(2_000n - 300n);
    expect(corrected.total_minor).toBe(3_000n - 300n);
    expect({ notes: r2.credit_notes_minor, total: r2.total_minor, subtotal: r2.subtotal_minor, credits: r2.credits_applied_minor }).toEqual({ notes: -1_700n, total: 1_000n, subtotal: 3_000n, credits: 300n });
    expect(sum(r2)).toBe(r2.total_minor);
    expect(r1.total_minor + r2.total_minor).toBe(corrected.total_minor);
    expect(periodBilled(r2)).toBe(corrected.total_minor);
  });

  it('r3 after r2 reverses what r1 and r2 billed together; the totals of the revisions add up to the period', () => {
    const r2 = nextRevision(r1, corrected)!;
    const lowered = period(5_000_000n, { version: FIXED }); // $10.00: below the commitment, topped up to it
    const r3 = nextRevision(r2, lowered)!;
    expect({ id: r3.invoice_id, supersedes: r3.supersedes_invoice_id, notes: r3.credit_notes_minor }).toEqual({ id: 'inv_acme_2026-01_r3', supersedes: r2.invoice_id, notes: -(r1.total_minor + r2.total_minor) });
    expect(r3.lines.at(-1)!.description).toBe('Credit note: replaces inv_acme_2026-01_r2 (27.00 USD billed for 2026-01 by revisions 1 to 2)');
    expect(lowered.total_minor).toBe(1_000n - 300n);
    expect(r3.total_minor).toBe(700n - 2_700n); // owed back
    expect(sum(r3)).toBe(r3.total_minor);
    expect(r1.total_minor + r2.total_minor + r3.total_minor).toBe(lowered.total_minor);
  });

  it('the same charges again make no revision (asking twice makes one); wording and later issue times do not count', () => {
    const r2 = nextRevision(r1, corrected)!;
    expect(nextRevision(r2, period(15_000_000n, { version: FIXED, clock: Date.UTC(2026, 5, 1) }))).toBeUndefined();
    expect(nextRevision(r1, period(10_000_000n, { clock: Date.UTC(2026, 5, 1) }))).toBeUndefined();
    // More credit available than the period needs (its line's wording changes), the same credit applied: the same charges.
    expect(sameCharges(period(10_000_000n, { credits: 5_000n }), period(10_000_000n, { credits: 9_000n }))).toBe(true);
    expect(sameCharges(r1, period(10_000_000n, { credits: 100n }))).toBe(false);
    expect(sameCharges(r1, period(10_000_000n, { version: FIXED }))).toBe(false);
  });

  it('refuses what is not the same period recomputed', () => {
    expect(() => nextRevision(r1, period(1n, { tenant: 'globex' }))).toThrow(/invoice of globex for 2026-01, not of acme/);
    expect(() => nextRevision(r1, period(1n, { currency: 'EUR' }))).toThrow(/keeps the currency/);
    expect(() => nextRevision(r1, nextRevision(r1, corrected)!)).toThrow(/no credit note/);
  });

  it('documents show the credit note; the stored revision reads back; an invoice stored before credit notes reads with none', () => {
    const r2 = nextRevision(r1, corrected)!;
    const json = JSON.parse(toInvoiceJson(r2)) as { supersedes_invoice_id: string; totals: Record<string, string>; lines: { kind: string; amount: string }[] };
    expect({ supersedes: json.supersedes_invoice_id, notes: json.totals.credit_notes, total: json.totals.total, last: json.lines.at(-1) }).toMatchObject({ supersedes: r1.invoice_id, notes: '-17.00', total: '10.00', last: { kind: 'credit_note', amount: '-17.00' } });
    expect(toInvoiceCsv(r2).trimEnd().split('\r\n').at(-1)).toContain(',credit_note,Credit note: replaces inv_acme_2026-01_r1');
    const html = renderInvoiceHtml(r2);
    expect(html).toContain('<th>Credit note (replaces inv_acme_2026-01_r1)</th><td class="num">-17.00</td>');
    expect(html).toContain('<dt>Revision</dt><dd>2 (replaces inv_acme_2026-01_r1)</dd>');
    expect(decodeInvoice(encodeInvoice(r2))).toEqual(r2);
    const legacy = JSON.parse(encodeInvoice(r1)) as Record<string, unknown>;
    delete legacy.credit_notes_minor;
    expect(decodeInvoice(JSON.stringify(legacy))).toEqual(r1);
  });
});
