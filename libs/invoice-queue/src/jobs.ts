import { randomUUID } from 'node:crypto';

/**
 * The jobs of the invoice queue, as every producer and worker of the queue must spell them: the
 * invoice scheduler (worker and monthly job scheduler), the API's on-demand runs and the CLI.
 * Job ids are deterministic, so a period or a tenant asked for twice is one job: BullMQ does not
 * add an id it already holds (queued, running, done or failed).
 */

/** The kinds of job on the invoice queue. */
export const CLOSE_PERIOD_JOB = 'close-period';
export const INVOICE_JOB = 'invoice';
/** Regenerates a tenant's invoice for a closed period as its next revision (when the charges changed). */
export const REVISE_INVOICE_JOB = 'revise-invoice';
/** The id of the monthly job scheduler (one per queue). */
export const MONTHLY_SCHEDULER_ID = 'monthly-invoices';

export interface ClosePeriodData {
  /** `YYYY-MM`; absent on scheduled runs: the month before the clock's month. */
  period?: string;
  /** Only these tenants (a manual run for some tenants); absent: every tenant with usage. */
  tenants?: string[];
}

export interface InvoiceJobData {
  tenant: string;
  period: string;
}

/** What a close job returns. */
export interface CloseResult {
  period: string;
  cut: number[];
  /** How many tenant invoice jobs the close queued. */
  tenants: number;
  /** Those tenants (absent on closes finished before it was recorded). */
  tenant_ids?: string[];
}

/** What a tenant invoice job returns. */
export interface TenantInvoiceOutcome {
  /** null when the tenant gets no invoice (`no_usage`). */
  invoice_id: string | null;
  tenant_id: string;
  period: string;
  total_minor: string;
  currency: string;
  /**
   * created: computed now; existing: it was already stored (a re-run), delivered again;
   * no_usage: no usage to bill and no minimum commitment, so no invoice (not an empty one).
   */
  outcome: 'created' | 'existing' | 'no_usage';
}

export interface ReviseInvoiceData {
  tenant: string;
  period: string;
}

/** What a revision job returns: the revision made, or the latest one when the charges did not change. */
export interface InvoiceRevisionOutcome {
  invoice_id: string;
  revision: number;
  supersedes_invoice_id: string | null;
  tenant_id: string;
  period: string;
  /** What the revision leaves due (< 0: owed back), integer minor units as a decimal string. */
  total_minor: string;
  currency: string;
  /** created: a new revision; unchanged: recomputed, the charges are those of the latest revision, none made. */
  outcome: 'created' | 'unchanged';
}

/** BullMQ job ids cannot contain ':'; the tenant id is URI-encoded (as in invoice ids). */
export const invoiceJobId = (tenant: string, period: string): string => `invoice-${period}-${encodeURIComponent(tenant)}`;
export const closeJobId = (period: string, tenants?: readonly string[]): string =>
  tenants === undefined ? `close-${period}` : `close-${period}-${tenants.map(encodeURIComponent).join(',')}`;

/**
 * A revision request's job id: each request is its own job (a later request after prices changed
 * again must run, not find the earlier one done); the job itself makes no revision when the
 * charges are unchanged, so asking twice makes one.
 */
export const reviseJobId = (tenant: string, period: string): string => `revise-${period}-${encodeURIComponent(tenant)}-${randomUUID()}`;

/** The tenants of a run, sorted and each once: a run of [b, a, a] is the run of [a, b] (one close job id). */
export function runTenants(tenants: readonly string[] | undefined): string[] | undefined {
  return tenants === undefined ? undefined : [...new Set(tenants)].sort();
}
