import { Job, Queue, type ConnectionOptions, type DefaultJobOptions, type JobState } from 'bullmq';
import {
  CLOSE_PERIOD_JOB,
  INVOICE_JOB,
  REVISE_INVOICE_JOB,
  closeJobId,
  invoiceJobId,
  reviseJobId,
  runTenants,
  type ClosePeriodData,
  type CloseResult,
  type InvoiceJobData,
  type InvoiceRevisionOutcome,
  type ReviseInvoiceData,
  type TenantInvoiceOutcome,
} from './jobs';

export interface InvoiceQueueOptions {
  /** The BullMQ queue name (METERLINE_INVOICE_QUEUE). */
  name: string;
  /** Attempts per job before it fails for good (METERLINE_INVOICE_ATTEMPTS). */
  attempts: number;
}

/**
 * The options every job of the queue gets, whoever adds it: retries with exponential backoff,
 * finished jobs kept 90 days (their ids keep a re-run from computing an invoice again), failed
 * jobs kept with their reason.
 */
export function invoiceJobOptions(attempts: number): DefaultJobOptions {
  return { attempts, backoff: { type: 'exponential', delay: 2_000 }, removeOnComplete: { age: 90 * 86_400 }, removeOnFail: false };
}

/** Where a run (a close job and the tenant invoice jobs it queued) stands. */
export type InvoiceRunStatus = 'queued' | 'closing' | 'invoicing' | 'completed' | 'failed';

export interface InvoiceRunState {
  /** The close job's id. */
  run_id: string;
  period: string;
  /** The tenants asked for; null: every tenant with usage in the period (or late usage). */
  tenants: string[] | null;
  status: InvoiceRunStatus;
  /** The close job's BullMQ state (`delayed`: waiting until the period may close, or a retry's backoff). */
  job_state: JobState | 'unknown';
  attempts: number;
  /** Why the close failed (its last attempt), null when it did not. */
  failed_reason: string | null;
  /** How many tenants the close queued invoice jobs for; null until the close finished. */
  tenants_to_invoice: number | null;
  invoices: { completed: number; failed: number; pending: number; missing: number };
  /** The invoices of the tenant jobs that completed (created by this run or found stored). */
  invoice_ids: string[];
  /** Tenant jobs that failed for good, with the first line of their reason. */
  failures: { tenant_id: string; reason: string }[];
}

/** Where a revision request stands; the revision (or the unchanged latest one) once completed. */
export interface InvoiceRevisionState {
  revision_job_id: string;
  tenant_id: string;
  period: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  job_state: JobState | 'unknown';
  attempts: number;
  failed_reason: string | null;
  /** null until completed. */
  outcome: InvoiceRevisionOutcome['outcome'] | null;
  invoice_id: string | null;
  revision: number | null;
  supersedes_invoice_id: string | null;
}

const BATCH = 500;

/**
 * The invoice queue: queues period closes and tenant invoice jobs under their deterministic ids,
 * and reads a run's state back. The invoice scheduler's worker runs the jobs; the API and the CLI
 * queue them here too (the same Redis and queue name), so a run asked for while the fleet runs is
 * worked by the fleet.
 */
export class InvoiceQueue {
  readonly queue: Queue;

  constructor(connection: ConnectionOptions, options: InvoiceQueueOptions) {
    this.queue = new Queue(options.name, { connection, defaultJobOptions: invoiceJobOptions(options.attempts) });
  }

  /** Queues a close of `period` (some tenants, or all); the same run asked for again is the same job. */
  async runPeriod(period: string, tenants?: readonly string[]): Promise<Job> {
    const only = runTenants(tenants);
    const data: ClosePeriodData = only === undefined ? { period } : { period, tenants: only };
    return this.queue.add(CLOSE_PERIOD_JOB, data, { jobId: closeJobId(period, only) });
  }

  /** One job per tenant; an id already queued, running, done or failed is not added again. */
  async enqueueInvoices(period: string, tenants: readonly string[]): Promise<void> {
    for (let i = 0; i < tenants.length; i += 1_000) {
      await this.queue.addBulk(tenants.slice(i, i + 1_000).map((tenant) => ({ name: INVOICE_JOB, data: { tenant, period } satisfies InvoiceJobData, opts: { jobId: invoiceJobId(tenant, period) } })));
    }
  }

  /** Queues a regeneration of the tenant's invoice for `period` (a new revision when the charges changed). */
  async revise(tenant: string, period: string): Promise<Job> {
    return this.queue.add(REVISE_INVOICE_JOB, { tenant, period } satisfies ReviseInvoiceData, { jobId: reviseJobId(tenant, period) });
  }

  /** The state of the revision request `jobId`; undefined when the queue has no such revision job. */
  async revisionState(jobId: string): Promise<InvoiceRevisionState | undefined> {
    const job = await Job.fromId<ReviseInvoiceData, InvoiceRevisionOutcome | null>(this.queue, jobId);
    if (job?.name !== REVISE_INVOICE_JOB) return undefined;
    const state = await job.getState();
    const result = state === 'completed' ? (job.returnvalue ?? null) : null;
    const status = state === 'completed' ? 'completed' : state === 'failed' ? 'failed' : state === 'active' ? 'running' : 'queued';
    return {
      revision_job_id: jobId, tenant_id: job.data.tenant, period: job.data.period, status, job_state: state, attempts: job.attemptsMade,
      failed_reason: state === 'failed' ? job.failedReason || 'no reason recorded' : null,
      outcome: result?.outcome ?? null, invoice_id: result?.invoice_id ?? null, revision: result?.revision ?? null, supersedes_invoice_id: result?.supersedes_invoice_id ?? null,
    };
  }

  /** The state of the run whose close job is `runId`; undefined when the queue has no such close job. */
  async runState(runId: string): Promise<InvoiceRunState | undefined> {
    const close = await Job.fromId<ClosePeriodData, CloseResult | null>(this.queue, runId);
    if (close?.name !== CLOSE_PERIOD_JOB) return undefined;
    const jobState = await close.getState();
    const result = jobState === 'completed' ? close.returnvalue : null;
    // A scheduled close names its period only once it ran (the month before its clock's).
    const period = close.data.period ?? result?.period;
    if (period === undefined) return undefined;
    const tenants = result?.tenant_ids ?? close.data.tenants;
    const base = {
      run_id: runId, period, tenants: close.data.tenants ?? null, job_state: jobState, attempts: close.attemptsMade,
      failed_reason: jobState === 'failed' ? close.failedReason || 'no reason recorded' : null, tenants_to_invoice: result?.tenants ?? null,
    };
    const invoices = { completed: 0, failed: 0, pending: 0, missing: 0 };
    if (result === null || result === undefined || tenants === undefined) {
      const status: InvoiceRunStatus = jobState === 'failed' ? 'failed' : jobState === 'active' ? 'closing' : 'queued';
      return { ...base, status, invoices, invoice_ids: [], failures: [] };
    }
    const ids: string[] = [];
    const failures: { tenant_id: string; reason: string }[] = [];
    for (let i = 0; i < tenants.length; i += BATCH) {
      const chunk = tenants.slice(i, i + BATCH);
      const states = await Promise.all(chunk.map((tenant) => this.#tenantJob(tenant, period)));
      states.forEach(({ state, job }, k) => {
        if (state === 'missing') invoices.missing++;
        else if (state === 'completed') {
          invoices.completed++;
          const outcome = job?.returnvalue;
          // A tenant with no usage and no commitment completes without an invoice.
          if (outcome?.invoice_id !== null && outcome?.invoice_id !== undefined) ids.push(outcome.invoice_id);
        } else if (state === 'failed') {
          invoices.failed++;
          failures.push({ tenant_id: chunk[k]!, reason: (job?.failedReason || 'no reason recorded').split('\n')[0]!.slice(0, 500) });
        } else invoices.pending++;
      });
    }
    const status: InvoiceRunStatus = invoices.pending > 0 ? 'invoicing' : failures.length > 0 ? 'failed' : 'completed';
    return { ...base, status, invoices, invoice_ids: ids.sort(), failures };
  }

  async #tenantJob(tenant: string, period: string): Promise<{ state: JobState | 'unknown' | 'missing'; job: Job<InvoiceJobData, TenantInvoiceOutcome | null> | undefined }> {
    const job = await Job.fromId<InvoiceJobData, TenantInvoiceOutcome | null>(this.queue, invoiceJobId(tenant, period));
    return job === undefined ? { state: 'missing', job } : { state: await job.getState(), job };
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
