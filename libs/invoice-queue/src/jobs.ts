/**
 * The jobs of the invoice queue, as every producer and worker of the queue must spell them: the
 * invoice scheduler (worker and monthly job scheduler), the API's on-demand runs and the CLI.
 * Job ids are deterministic, so a period or a tenant asked for twice is one job: BullMQ does not
 * add an id it already holds (queued, running, done or failed).
 */

/** The two kinds of job on the invoice queue. */
export const CLOSE_PERIOD_JOB = 'close-period';
export const INVOICE_JOB = 'invoice';
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
  invoice_id: string;
  tenant_id: string;
  period: string;
  total_minor: string;
  currency: string;
  /** created: computed now; existing: it was already stored (a re-run), delivered again. */
  outcome: 'created' | 'existing';
}

/** BullMQ job ids cannot contain ':'; the tenant id is URI-encoded (as in invoice ids). */
export const invoiceJobId = (tenant: string, period: string): string => `invoice-${period}-${encodeURIComponent(tenant)}`;
export const closeJobId = (period: string, tenants?: readonly string[]): string =>
  tenants === undefined ? `close-${period}` : `close-${period}-${tenants.map(encodeURIComponent).join(',')}`;

/** The tenants of a run, sorted and each once: a run of [b, a, a] is the run of [a, b] (one close job id). */
export function runTenants(tenants: readonly string[] | undefined): string[] | undefined {
  return tenants === undefined ? undefined : [...new Set(tenants)].sort();
}
