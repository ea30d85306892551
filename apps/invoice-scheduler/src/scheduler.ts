import { Queue, Worker, DelayedError, UnrecoverableError as BullUnrecoverableError, type ConnectionOptions, type Job } from 'bullmq';
import { periodOf, previousPeriod } from '@meterline/domain';
import { errorMessage, isRetriable, type Logger } from '@meterline/platform';
import { PeriodNotClosableYet, type CloseResult, type InvoiceJobs, type TenantInvoiceOutcome } from './invoice-jobs';

/** The two kinds of job on the invoice queue. */
export const CLOSE_PERIOD_JOB = 'close-period';
export const INVOICE_JOB = 'invoice';
/** The id of the monthly job scheduler (one per queue). */
export const MONTHLY_SCHEDULER_ID = 'monthly-invoices';

export interface ClosePeriodData {
  /** `YYYY-MM`; absent on scheduled runs: the month before the clock's month. */
  period?: string;
  /** Only these tenants (a manual run for one tenant); absent: every tenant with usage. */
  tenants?: string[];
}

export interface InvoiceJobData {
  tenant: string;
  period: string;
}

export interface InvoiceSchedulerOptions {
  queue: string;
  cron: string;
  timeZone: string;
  concurrency: number;
  attempts: number;
  /** How often stalled jobs are looked for, and how long a worker's lock lasts without renewal. */
  stalledIntervalMs: number;
  clock: () => number;
}

/** BullMQ job ids cannot contain ':'; the tenant id is URI-encoded (as in invoice ids). */
export const invoiceJobId = (tenant: string, period: string): string => `invoice-${period}-${encodeURIComponent(tenant)}`;
export const closeJobId = (period: string, tenants?: readonly string[]): string =>
  tenants === undefined ? `close-${period}` : `close-${period}-${tenants.map(encodeURIComponent).join(',')}`;

/**
 * The BullMQ side: a job scheduler (cron, time zone) that starts a period close each month, and
 * a worker running close and invoice jobs. Retries back off exponentially; a job whose worker
 * died is taken over once its lock expires (stalled-job recovery); failed jobs are kept with
 * their reason (a reconciliation report) for `meterline invoice show`.
 */
export class InvoiceScheduler {
  readonly queue: Queue;
  #worker: Worker | undefined;
  readonly #log: Logger;

  constructor(
    private readonly connection: ConnectionOptions,
    private readonly jobs: InvoiceJobs,
    private readonly options: InvoiceSchedulerOptions,
    log: Logger,
  ) {
    this.#log = log.child({ component: 'invoice-scheduler' });
    this.queue = new Queue(options.queue, {
      connection,
      defaultJobOptions: {
        attempts: options.attempts,
        backoff: { type: 'exponential', delay: 2_000 },
        removeOnComplete: { age: 90 * 86_400 },
        removeOnFail: false,
      },
    });
  }

  /** Upserts the monthly scheduler (idempotent: every instance may call it). */
  async schedule(): Promise<void> {
    await this.queue.upsertJobScheduler(MONTHLY_SCHEDULER_ID, { pattern: this.options.cron, tz: this.options.timeZone }, { name: CLOSE_PERIOD_JOB, data: {} satisfies ClosePeriodData });
    this.#log.info({ cron: this.options.cron, tz: this.options.timeZone, queue: this.options.queue }, 'monthly invoice run scheduled');
  }

  async unschedule(): Promise<void> {
    await this.queue.removeJobScheduler(MONTHLY_SCHEDULER_ID);
  }

  /** Queues a close of `period` now (the CLI's `invoice run`); the same period twice is one job. */
  async runPeriod(period: string, tenants?: readonly string[]): Promise<Job> {
    const data: ClosePeriodData = tenants === undefined ? { period } : { period, tenants: [...tenants] };
    return this.queue.add(CLOSE_PERIOD_JOB, data, { jobId: closeJobId(period, tenants) });
  }

  /** One job per tenant; an id already queued, running, done or failed is not added again. */
  async enqueueInvoices(period: string, tenants: readonly string[]): Promise<void> {
    for (let i = 0; i < tenants.length; i += 1_000) {
      await this.queue.addBulk(tenants.slice(i, i + 1_000).map((tenant) => ({ name: INVOICE_JOB, data: { tenant, period } satisfies InvoiceJobData, opts: { jobId: invoiceJobId(tenant, period) } })));
    }
  }

  startWorker(): Worker {
    this.#worker ??= new Worker(this.options.queue, (job, token) => this.#process(job, token), {
      connection: this.connection,
      concurrency: this.options.concurrency,
      lockDuration: this.options.stalledIntervalMs,
      stalledInterval: this.options.stalledIntervalMs,
      maxStalledCount: 3,
    });
    this.#worker.on('failed', (job, error) => {
      if (job !== undefined) this.#log.warn({ job: job.id, name: job.name, attempts: job.attemptsMade, err: error.message.split('\n')[0] }, 'invoice job failed');
    });
    this.#worker.on('error', (error) => this.#log.warn({ err: error.message }, 'invoice worker error'));
    return this.#worker;
  }

  async #process(job: Job, token: string | undefined): Promise<CloseResult | TenantInvoiceOutcome> {
    try {
      if (job.name === CLOSE_PERIOD_JOB) {
        const data = job.data as ClosePeriodData;
        const period = data.period ?? previousPeriod(periodOf(this.options.clock()));
        return await this.jobs.closePeriod(period, data.tenants);
      }
      if (job.name === INVOICE_JOB) {
        const data = job.data as InvoiceJobData;
        return await this.jobs.invoiceTenant(data.tenant, data.period);
      }
      throw new BullUnrecoverableError(`unknown job ${JSON.stringify(job.name)} on the invoice queue`);
    } catch (error) {
      if (error instanceof PeriodNotClosableYet) {
        // Wait in the delayed set (no attempt used) until the period may close.
        await job.moveToDelayed(Date.now() + Math.max(1_000, error.readyAt - this.options.clock()), token);
        throw new DelayedError();
      }
      // Our non-retriable errors (a reconciliation mismatch, a period not closed) fail at once.
      if (!isRetriable(error) && !(error instanceof BullUnrecoverableError) && error instanceof Error && 'retriable' in error) {
        throw new BullUnrecoverableError(errorMessage(error));
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    await this.queue.close();
  }
}
