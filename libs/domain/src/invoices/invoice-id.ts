import { InvoiceInputError } from './errors';

/**
 * Invoice ids are deterministic: the same (tenant, period, revision) always gives the same id, so
 * a re-run of an invoice job writes the same invoice (idempotent) and a correction is a new
 * revision with a new id.
 *
 *   inv_<tenant>_<YYYY-MM>_r<revision>          e.g. inv_acme-corp_2026-01_r1
 *
 * `<tenant>` is the tenant id through `encodeURIComponent` (letters, digits and `-_.!~*'()` stay
 * as they are; `/`, spaces and the rest become `%XX`), so an id is safe in a URL and a file name.
 * The id is read from the right (`_r<digits>` is the revision, the seven characters before it the
 * period), so a tenant id containing `_` or even `_2026-01_r1` cannot make two ids collide.
 */

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;
const INVOICE_ID = /^inv_(.+)_(\d{4}-(?:0[1-9]|1[0-2]))_r([1-9]\d*)$/s;

/** True for a billing period `YYYY-MM` (month 01..12). */
export function isInvoicePeriod(period: string): boolean {
  return typeof period === 'string' && PERIOD.test(period);
}

export function checkPeriod(period: string, field: string): void {
  if (!isInvoicePeriod(period)) throw new InvoiceInputError(field, `expected a month "YYYY-MM" (e.g. "2026-01"), got ${JSON.stringify(period)}`);
}

export function checkRevision(revision: number, field = 'revision'): void {
  if (!Number.isSafeInteger(revision) || revision < 1) throw new InvoiceInputError(field, `revision must be an integer >= 1, got ${String(revision)}`);
}

/** The id of the invoice of `tenantId` for `period` (`YYYY-MM`), revision `revision` (>= 1). */
export function invoiceId(tenantId: string, period: string, revision: number): string {
  if (typeof tenantId !== 'string' || tenantId.length === 0) throw new InvoiceInputError('tenant_id', 'tenant_id must be a non-empty string');
  checkPeriod(period, 'period');
  checkRevision(revision);
  return `inv_${encodeURIComponent(tenantId)}_${period}_r${revision}`;
}

export interface ParsedInvoiceId {
  tenant_id: string;
  period: string;
  revision: number;
}

/** Reads an id built by {@link invoiceId}; undefined for anything else. */
export function parseInvoiceId(id: string): ParsedInvoiceId | undefined {
  const m = INVOICE_ID.exec(id);
  if (m === null) return undefined;
  const [, encoded = '', period = '', rev = ''] = m;
  let tenant: string;
  try {
    tenant = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  const revision = Number(rev);
  if (!Number.isSafeInteger(revision)) return undefined;
  // Only the canonical spelling is an id (no `%41` for `A`), so parse and build are inverses.
  if (encodeURIComponent(tenant) !== encoded || tenant.length === 0) return undefined;
  return { tenant_id: tenant, period, revision };
}
