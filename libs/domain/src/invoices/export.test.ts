import { describe, expect, it } from 'vitest';
import { computeInvoice } from './compute';
import { csvField, invoiceCsvColumns, toInvoiceCsv, toInvoiceJson, toInvoiceReady } from './export';
import { escapeHtml, renderInvoiceHtml } from './html';
import type { Invoice, PricedUsageAggregate } from './types';

const ISSUED_AT = Date.UTC(2026, 1, 1, 6, 0, 0); // 2026-02-01T06:00:00.000Z

function row(over: Partial<PricedUsageAggregate> = {}): PricedUsageAggregate {
  return { provider: 'openai', model: 'gpt-4o', price_version_id: 'openai/gpt-4o@2024-08-06', bucket: 'output', quantity: 123_456n, amount_pico: 123_456n * 10_000_000n, unit_price: '10', ...over };
}

// 123,456 output tokens at $10/1M = $1.23456 -> 123 cents; fixed discount 0.23; credits 0.30 -> total 0.70.
const small: Invoice = computeInvoice({
  tenant_id: 'acme',
  period: '2026-01',
  usage: [row()],
  terms: { fixed_discount_minor: 23n, credits_available_minor: 30n },
  clock: () => ISSUED_AT,
});

describe('toInvoiceJson', () => {
  it('writes the invoice with money as strings, in a fixed order', () => {
    const expected = {
      format: 'meterline.invoice/v1',
      invoice_id: 'inv_acme_2026-01_r1',
      tenant_id: 'acme',
      period: '2026-01',
      revision: 1,
      supersedes_invoice_id: null,
      status: 'draft',
      issued_at: '2026-02-01T06:00:00.000Z',
      issued_at_ms: ISSUED_AT,
      currency: 'USD',
      currency_minor_unit: 2,
      exchange_rate: '1',
      totals: {
        usage_minor: '123',
        usage: '1.23',
        request_fees_minor: '0',
        request_fees: '0.00',
        adjustments_minor: '0',
        adjustments: '0.00',
        subtotal_minor: '123',
        subtotal: '1.23',
        minimum_commitment_minor: '0',
        minimum_commitment: '0.00',
        minimum_commitment_top_up_minor: '0',
        minimum_commitment_top_up: '0.00',
        percent_discount_minor: '0',
        percent_discount: '0.00',
        fixed_discount_minor: '23',
        fixed_discount: '0.23',
        discounts_minor: '23',
        discounts: '0.23',
        credits_available_minor: '30',
        credits_available: '0.30',
        credits_applied_minor: '30',
        credits_applied: '0.30',
        credits_remaining_minor: '0',
        credits_remaining: '0.00',
        credit_notes_minor: '0',
        credit_notes: '0.00',
        total_minor: '70',
        total: '0.70',
      },
      lines: [
        {
          line_no: 1,
          kind: 'usage',
          description: 'openai/gpt-4o output tokens',
          provider: 'openai',
          model: 'gpt-4o',
          price_version_id: 'openai/gpt-4o@2024-08-06',
          tier: null,
          threshold_above_prompt_tokens: null,
          bucket: 'output',
          quantity: '123456',
          quantity_unit: 'tokens',
          unit_price: '10',
          unit_price_usd: '10',
          unit_price_basis: 'per_1m_tokens',
          amount_pico_usd: '1234560000000',
          amount_minor: '123',
          amount: '1.23',
          percent: null,
          original_invoice_id: null,
          original_period: null,
        },
        {
          line_no: 2,
          kind: 'discount',
          description: 'Fixed discount 0.23 USD',
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
          amount_minor: '-23',
          amount: '-0.23',
          percent: null,
          original_invoice_id: null,
          original_period: null,
        },
        {
          line_no: 3,
          kind: 'credit',
          description: 'Credit applied: 0.30 USD of 0.30 USD available, 0.00 USD remaining',
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
          amount_minor: '-30',
          amount: '-0.30',
          percent: null,
          original_invoice_id: null,
          original_period: null,
        },
      ],
    };
    const json = toInvoiceJson(small);
    // Stable bytes: the same document, key order included, two-space indent and a final newline.
    expect(json).toBe(`${JSON.stringify(expected, null, 2)}\n`);
  });

  it('writes JPY amounts without a point', () => {
    const jpy = computeInvoice({ tenant_id: 'acme', period: '2026-01', currency: 'JPY', exchange_rate: '150', usage: [row()], clock: () => ISSUED_AT });
    const doc = JSON.parse(toInvoiceJson(jpy)) as { totals: Record<string, string>; lines: { amount: string; unit_price: string }[] };
    // $1.23456 * 150 = 185.184 yen -> 185
    expect(doc.totals.total_minor).toBe('185');
    expect(doc.totals.total).toBe('185');
    expect(doc.lines[0]).toMatchObject({ amount: '185', unit_price: '1500' });
  });
});

describe('toInvoiceCsv', () => {
  it.each<[string, string]>([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\rhere', '"cr\rhere"'],
    ['', ''],
  ])('csvField(%j) = %s', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  it('writes a header and one row per line, CRLF, quoting commas and quotes', () => {
    const inv = computeInvoice({
      tenant_id: 'acme',
      period: '2026-01',
      usage: [row({ provider: 'acme, inc', model: 'gpt-4o, "mini"', price_version_id: 'acme, inc/gpt@1' })],
      terms: { fixed_discount_minor: 23n },
      clock: () => ISSUED_AT,
    });
    const csv = toInvoiceCsv(inv);
    expect(csv.split('\r\n')).toEqual([
      'invoice_id,line_no,kind,description,provider,model,price_version_id,tier,threshold_above_prompt_tokens,bucket,quantity,quantity_unit,unit_price,unit_price_basis,unit_price_usd,amount_pico_usd,currency,amount_minor,amount,original_invoice_id,original_period',
      'inv_acme_2026-01_r1,1,usage,"acme, inc/gpt-4o, ""mini"" output tokens","acme, inc","gpt-4o, ""mini""","acme, inc/gpt@1",,,output,123456,tokens,10,per_1m_tokens,10,1234560000000,USD,123,1.23,,',
      'inv_acme_2026-01_r1,2,discount,Fixed discount 0.23 USD,,,,,,,,,,,,,USD,-23,-0.23,,',
      '',
    ]);
    expect(invoiceCsvColumns).toHaveLength(21);
  });

  it('writes adjustment lines with the original invoice and period', () => {
    const inv = computeInvoice({
      tenant_id: 'acme',
      period: '2026-01',
      usage: [],
      adjustments: [{ ...row({ tier: 'batch' }), original_invoice_id: 'inv_acme_2025-12_r1', original_period: '2025-12' }],
      clock: () => ISSUED_AT,
    });
    expect(toInvoiceCsv(inv).split('\r\n')[1]).toBe(
      'inv_acme_2026-01_r1,1,adjustment,Late usage of 2025-12 (invoice inv_acme_2025-12_r1): openai/gpt-4o output tokens (batch tier),openai,gpt-4o,openai/gpt-4o@2024-08-06,batch,,output,123456,tokens,10,per_1m_tokens,10,1234560000000,USD,123,1.23,inv_acme_2025-12_r1,2025-12',
    );
  });

  it('guards text cells a spreadsheet would run as a formula, and can be told not to', () => {
    const inv = computeInvoice({ tenant_id: 'acme', period: '2026-01', usage: [row({ model: '=HYPERLINK("http://x","y")', provider: '@evil' })], clock: () => ISSUED_AT });
    const cells = (csv: string): string => csv.split('\r\n')[1]!;
    expect(cells(toInvoiceCsv(inv))).toBe(
      `inv_acme_2026-01_r1,1,usage,"'@evil/=HYPERLINK(""http://x"",""y"") output tokens",'@evil,"'=HYPERLINK(""http://x"",""y"")",openai/gpt-4o@2024-08-06,,,output,123456,tokens,10,per_1m_tokens,10,1234560000000,USD,123,1.23,,`,
    );
    expect(cells(toInvoiceCsv(inv, { guardFormulas: false }))).toContain(`,@evil,"=HYPERLINK(""http://x"",""y"")",`);
  });

  it('is only the header for an invoice without lines', () => {
    const empty = computeInvoice({ tenant_id: 'acme', period: '2026-01', usage: [], clock: () => ISSUED_AT });
    expect(toInvoiceCsv(empty)).toBe(`${invoiceCsvColumns.join(',')}\r\n`);
  });
});

describe('renderInvoiceHtml', () => {
  it.each<[string, string]>([
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    [`a & b "c" 'd'`, 'a &amp; b &quot;c&quot; &#39;d&#39;'],
    ['plain', 'plain'],
  ])('escapeHtml(%j) = %s', (text, expected) => {
    expect(escapeHtml(text)).toBe(expected);
  });

  const hostile = computeInvoice({
    tenant_id: 'acme & <co>',
    period: '2026-01',
    usage: [row({ model: '<script>alert("pwned")</script>' }), row({ bucket: 'input', quantity: 3n, amount_pico: 5_000_003n, unit_price: null })],
    adjustments: [{ ...row(), original_invoice_id: 'legacy"<42>', original_period: '2025-12' }],
    terms: { discount_percent: '10', credits_available_minor: 1_000_000n },
    clock: () => ISSUED_AT,
  });
  const html = renderInvoiceHtml(hostile);

  it('escapes every text from the invoice: a <script> model name is shown, not run', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('openai/&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; output tokens');
    expect(html).toContain('<dd>acme &amp; &lt;co&gt;</dd>');
    expect(html).toContain('legacy&quot;&lt;42&gt;');
    expect(html).not.toContain('<co>');
  });

  it('is a self-contained printable page', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html.endsWith('</html>\n')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(html).toContain('@media print');
    expect(html).toContain('@page { size: A4;');
    expect(html).not.toMatch(/<link|<img|src=|@import|url\(/i);
    expect(html).toContain('<title>Invoice inv_acme%20%26%20%3Cco%3E_2026-01_r1</title>');
    expect(html).toContain('<span class="status">draft</span>');
  });

  it('shows lines, unit prices and totals', () => {
    // Usage: 1.23 (script model) + 0.00 (3 tokens, no exact unit price); adjustment 1.23; subtotal 2.46;
    // 10% = 0.246 -> 0.25; credits 2.21 of 10,000.00.
    expect(html).toContain('<td class="num">123,456<span class="sub">tokens</span></td><td class="num">10<span class="sub">per 1M tokens</span></td><td class="num">1.23</td>');
    expect(html).toContain('<td class="num">—<span class="sub">varies</span></td><td class="num">0.00</td>');
    expect(html).toContain('<tr><th>Subtotal</th><td class="num">2.46</td></tr>');
    expect(html).toContain('<tr><th>Discounts</th><td class="num">-0.25</td></tr>');
    expect(html).toContain('<tr><th>Credits applied</th><td class="num">-2.21</td></tr>');
    expect(html).toContain('<tr class="total"><th>Total (USD)</th><td class="num">0.00</td></tr>');
    expect(html).toContain('Credit remaining after this invoice: 9,997.79 USD.');
    expect(html).toContain('adjusts legacy&quot;&lt;42&gt; (2025-12)');
  });

  it('does not mark a final invoice as a draft, and names the exchange rate', () => {
    const final = computeInvoice({ tenant_id: 'acme', period: '2026-01', status: 'final', currency: 'EUR', exchange_rate: '0.9137', usage: [row()], clock: () => ISSUED_AT });
    const page = renderInvoiceHtml(final);
    expect(page).not.toContain('class="status"');
    expect(page).toContain('<dd>EUR (1 USD = 0.9137 EUR)</dd>');
    // $1.23456 * 0.9137 = 1.128017... EUR -> 1.13
    expect(page).toContain('<tr class="total"><th>Total (EUR)</th><td class="num">1.13</td></tr>');
  });
});

describe('toInvoiceReady', () => {
  it('summarises the invoice for the invoices topic', () => {
    expect(toInvoiceReady(small, { json: 's3://invoices/acme/2026-01/r1.json', csv: 's3://invoices/acme/2026-01/r1.csv' })).toEqual({
      invoice_id: 'inv_acme_2026-01_r1',
      revision: 1,
      tenant_id: 'acme',
      period: '2026-01',
      currency: 'USD',
      total_minor: '70',
      status: 'draft',
      line_count: 3,
      issued_at: ISSUED_AT,
      exports: { csv: 's3://invoices/acme/2026-01/r1.csv', json: 's3://invoices/acme/2026-01/r1.json' },
    });
  });
});
