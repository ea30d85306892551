import { describe, expect, it } from 'vitest';
import { InvoiceInputError } from './errors';
import { invoiceId, isInvoicePeriod, parseInvoiceId } from './invoice-id';

describe('invoiceId', () => {
  it.each<[string, string, number, string]>([
    ['acme-corp', '2026-01', 1, 'inv_acme-corp_2026-01_r1'],
    ['acme-corp', '2026-12', 12, 'inv_acme-corp_2026-12_r12'],
    ['a_b', '2026-01', 2, 'inv_a_b_2026-01_r2'],
    ['a b/c', '2026-01', 1, 'inv_a%20b%2Fc_2026-01_r1'],
    // A tenant id that looks like the end of an id still reads back unambiguously (from the right).
    ['x_2026-01_r1', '2026-02', 3, 'inv_x_2026-01_r1_2026-02_r3'],
    ['Zürich', '2026-01', 1, 'inv_Z%C3%BCrich_2026-01_r1'],
  ])('(%j, %s, %i) = %s and reads back', (tenant, period, revision, id) => {
    expect(invoiceId(tenant, period, revision)).toBe(id);
    expect(parseInvoiceId(id)).toEqual({ tenant_id: tenant, period, revision });
  });

  it.each<[string, string, number]>([
    ['', '2026-01', 1],
    ['acme', '2026-13', 1],
    ['acme', '2026-00', 1],
    ['acme', '2026-1', 1],
    ['acme', '26-01', 1],
    ['acme', '2026-01-01', 1],
    ['acme', '2026-01', 0],
    ['acme', '2026-01', 1.5],
  ])('rejects (%j, %j, %s)', (tenant, period, revision) => {
    expect(() => invoiceId(tenant, period, revision)).toThrow(InvoiceInputError);
  });

  it.each(['inv_acme_2026-01_r01', 'inv__2026-01_r1', 'inv_%41_2026-01_r1', 'inv_acme_2026-13_r1', 'inv_acme_2026-01', 'acme_2026-01_r1', 'inv_%E0%A4%A_2026-01_r1'])(
    'parseInvoiceId(%j) is undefined',
    (id) => {
      expect(parseInvoiceId(id)).toBeUndefined();
    },
  );

  it('isInvoicePeriod', () => {
    expect(isInvoicePeriod('2026-01')).toBe(true);
    expect(isInvoicePeriod('2026-10')).toBe(true);
    expect(isInvoicePeriod('2026-1')).toBe(false);
    expect(isInvoicePeriod(' 2026-01')).toBe(false);
  });
});
