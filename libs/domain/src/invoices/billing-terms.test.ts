import { describe, expect, it } from 'vitest';
import { BillingTermsError, parseTenantBilling, TENANT_BILLING_FORMAT } from './billing-terms';

const doc = (tenants: unknown[]) => ({ format: TENANT_BILLING_FORMAT, tenants });

describe('parseTenantBilling', () => {
  it('reads amounts in the currency major unit into minor units', () => {
    const book = parseTenantBilling(
      doc([
        { tenant_id: 'acme', minimum_commitment: '500', credits: '200.5', discount_percent: '12.5', fixed_discount: '10.00' },
        { tenant_id: 'kyoto', currency: 'JPY', exchange_rate: '151.3', minimum_commitment: '50000' },
      ]),
      'billing.json',
    );
    expect(book.tenants.get('acme')).toEqual({ tenant_id: 'acme', currency: 'USD', exchange_rate: '1', terms: { minimum_commitment_minor: 50_000n, fixed_discount_minor: 1_000n, discount_percent: '12.5' }, credits_granted_minor: 20_050n });
    expect(book.tenants.get('kyoto')).toEqual({ tenant_id: 'kyoto', currency: 'JPY', exchange_rate: '151.3', terms: { minimum_commitment_minor: 50_000n }, credits_granted_minor: 0n });
  });

  it('lists every problem, naming the tenant and the field', () => {
    let error: unknown;
    try {
      parseTenantBilling(
        doc([
          { tenant_id: 'a', currency: 'XYZ' },
          { tenant_id: 'b', currency: 'EUR' },
          { tenant_id: 'c', currency: 'JPY', exchange_rate: '150', credits: '10.5' },
          { tenant_id: 'd', minimum_commitment: '-1' },
          { tenant_id: 'e', discount_percent: '120' },
          { tenant_id: 'e' },
          { tenant_id: 'f', surprise: 1 },
        ]),
        'billing.json',
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BillingTermsError);
    const problems = (error as BillingTermsError).problems;
    expect(problems).toHaveLength(7);
    expect(problems[0]).toMatch(/^tenant a: currency: unknown currency "XYZ"/);
    expect(problems[1]).toMatch(/^tenant b: exchange_rate: an invoice in EUR needs exchange_rate/);
    expect(problems[2]).toMatch(/^tenant c\.credits: "10\.5" has more decimals than the currency's minor unit \(0\); write an amount in JPY such as "500"/);
    expect(problems[3]).toMatch(/^tenant d\.minimum_commitment: "-1" is negative/);
    expect(problems[4]).toMatch(/^tenant e\.discount_percent: "120" is not between 0 and 100/);
    expect(problems[5]).toBe('tenant e.tenant_id: listed twice');
    expect(problems[6]).toMatch(/^tenant f: .*surprise/);
  });

  it('rejects a document of another format', () => {
    expect(() => parseTenantBilling({ format: 'x', tenants: [] }, 'billing.json')).toThrow(/billing\.json: 1 problem/);
  });
});
