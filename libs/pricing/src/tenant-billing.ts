import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BillingTermsError, parseTenantBilling, type TenantBillingBook } from '@meterline/domain';
import { errorMessage } from '@meterline/platform';
import { PriceBooksError } from './price-book-store';

/** Where the tenants' billing terms live inside the pricing directory. */
export const BILLING_FILE = 'tenants/billing.json';

/**
 * Reads `<dir>/tenants/billing.json` (optional: without it every tenant is invoiced in USD with
 * no terms). Every problem is reported at once, like the price books.
 */
export function loadTenantBilling(dir: string): TenantBillingBook {
  const path = join(dir, BILLING_FILE);
  if (!existsSync(path)) return { source: path, tenants: new Map() };
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new PriceBooksError(`${path}: not JSON: ${errorMessage(error)}`, [`${path}: not JSON: ${errorMessage(error)}`], error);
  }
  try {
    return parseTenantBilling(json, path);
  } catch (error) {
    if (error instanceof BillingTermsError) throw new PriceBooksError(error.message, error.problems.map((p) => `${path}: ${p}`), error);
    throw error;
  }
}
