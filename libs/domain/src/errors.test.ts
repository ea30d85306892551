import { describe, expect, it } from 'vitest';
import { MeterlineError } from './errors';
import { parseScopes } from './access';
import { decodeInvoice, parseExchangeRate, parseTenantBilling } from './invoices';
import { DecimalError, parseCatalog, parseExactDecimal } from './pricing';
import { checkUsage } from './pricing/price';
import { parseQuotaDefinition } from './quotas';

/** The error `fn` throws (the test fails when it throws nothing). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

// Every error the domain throws is of the fleet's family: retriers (the invoice scheduler, the
// sink) read `retriable` and `cause`, never the message. Input errors never pass on a retry.
describe('domain errors are MeterlineErrors', () => {
  const cases: { name: string; error: () => unknown; code: string; cause?: (cause: unknown) => boolean }[] = [
    { name: 'DecimalError', error: () => thrownBy(() => parseExactDecimal('12,5')), code: 'DECIMAL_INVALID' },
    { name: 'InvoiceInputError (a bad exchange rate, caused by the DecimalError)', error: () => thrownBy(() => parseExchangeRate('EUR', 'abc')), code: 'INVOICE_INPUT_INVALID', cause: (c) => c instanceof DecimalError },
    { name: 'InvoiceInputError (a stored invoice that is not JSON, caused by the SyntaxError)', error: () => thrownBy(() => decodeInvoice('{', 'stored')), code: 'INVOICE_INPUT_INVALID', cause: (c) => c instanceof SyntaxError },
    { name: 'BillingTermsError', error: () => thrownBy(() => parseTenantBilling({ format: 'nonsense' }, 'billing.json')), code: 'BILLING_TERMS_INVALID' },
    { name: 'QuotaDefinitionError', error: () => thrownBy(() => parseQuotaDefinition({ tenant_id: '' })), code: 'QUOTA_DEFINITION_INVALID' },
    { name: 'CatalogError', error: () => thrownBy(() => parseCatalog({ entries: 'none' }, 'costs.json')), code: 'CATALOG_INVALID' },
    { name: 'PricingInputError', error: () => thrownBy(() => checkUsage({ provider: 'p', model: 'm', occurred_at: 0, input_tokens: -1, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0 })), code: 'PRICING_INPUT_INVALID' },
    { name: 'AccessError', error: () => thrownBy(() => parseScopes(['root'])), code: 'SCOPE_UNKNOWN' },
  ];
  it.each(cases)('$name', ({ error, code, cause }) => {
    const thrown = error();
    expect(thrown).toBeInstanceOf(MeterlineError);
    expect(thrown).toMatchObject({ code, retriable: false });
    if (cause) expect(cause((thrown as Error).cause)).toBe(true);
  });
});
