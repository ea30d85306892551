import { Job, Worker, DelayedError, UnrecoverableError as BullUnrecoverableError, type ConnectionOptions, type JobState, type Queue } from 'bullmq';
import { periodOf, previousPeriod } from '@meterline/domain';
import {
  CLOSE_PERIOD_JOB,
  INVOICE_JOB,
  MONTHLY_SCHEDULER_ID,
  REVISE_INVOICE_JOB,
  InvoiceQueue,
  closeJobId,
  invoiceJobId,
  type ClosePeriodData,
  type CloseResult,
  type InvoiceJobData,
  type InvoiceRevisionOutcome,
  type ReviseInvoiceData,
  type TenantInvoiceOutcome,
} from '@meterline/invoice-queue';
import { MeterlineError, errorMessage, type Logger } from '@meterline/platform';
import { EarlierInvoicePending, EarlierPeriodOpen, PeriodNotClosableYet, type InvoiceJobs } from './invoice-jobs';

/** How often a job waiting for an earlier month (its close, or a tenant's invoice) looks again. */
const ORDER_RECHECK_MS = 2_000;
const finished = (state: JobState | 'unknown'): boolean => state === 'completed' || state === 'failed';

/** What the worker runs (InvoiceJobs). */
export type InvoiceJobRunner = Pick<InvoiceJobs, 'closePeriod' | 'invoiceTenant' | 'reviseInvoice'>;

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

/**
 * The BullMQ side: a job scheduler (cron, time zone) that starts a period close each month, and
 * a worker running close and invoice jobs. Retries back off exponentially; a job whose worker
 * died is taken over once its lock expires (stalled-job recovery); failed jobs are kept with
 * their reason (a reconciliation report) for `meterline invoice show`.
 */
export class InvoiceScheduler {
  /** The queue's jobs, ids and options (libs/invoice-queue: the API and the CLI queue runs there too). */
  readonly invoices: InvoiceQueue;
  readonly queue: Queue;
  #worker: Worker | undefined;
  readonly #log: Logger;

  constructor(
    private readonly connection: ConnectionOptions,
    private readonly jobs: InvoiceJobRunner,
    private readonly options: InvoiceSchedulerOptions,
    log: Logger,
  ) {
    this.#log = log.child({ component: 'invoice-scheduler' });
    this.invoices = new InvoiceQueue(connection, { name: options.queue, attempts: options.attempts });
    this.queue = this.invoices.queue;
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
  runPeriod(period: string, tenants?: readonly string[]): Promise<Job> {
    return this.invoices.runPeriod(period, tenants);
  }

  /** One job per tenant; an id already queued, running, done or failed is not added again. */
  enqueueInvoices(period: string, tenants: readonly string[]): Promise<void> {
    return this.invoices.enqueueInvoices(period, tenants);
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

  async #process(job: Job, token: string | undefined): Promise<CloseResult | TenantInvoiceOutcome | InvoiceRevisionOutcome> {
    try {
      if (job.name === CLOSE_PERIOD_JOB) {
        const data = job.data as ClosePeriodData;
        const period = data.period ?? previousPeriod(periodOf(this.options.clock()));
        return await this.jobs.closePeriod(period, data.tenants);
      }
      if (job.name === INVOICE_JOB) {
        const data = job.data as InvoiceJobData;
        // The tenant's invoice job of the month before, when queued, finishes first (a catch-up of two months).
        const earlier = await this.#jobState(invoiceJobId(data.tenant, previousPeriod(data.period)));
        if (earlier !== 'missing' && !finished(earlier)) await this.#waitForEarlier(job, token, `the ${previousPeriod(data.period)} invoice job of ${data.tenant} (${earlier})`);
        return await this.jobs.invoiceTenant(data.tenant, data.period);
      }
      if (job.name === REVISE_INVOICE_JOB) {
        const data = job.data as ReviseInvoiceData;
        return await this.jobs.reviseInvoice(data.tenant, data.period);
      }
      throw new BullUnrecoverableError(`unknown job ${JSON.stringify(job.name)} on the invoice queue`);
    } catch (error) {
      if (error instanceof PeriodNotClosableYet) {
        // Wait in the delayed set (no attempt used) until the period may close.
        await job.moveToDelayed(Date.now() + Math.max(1_000, error.readyAt - this.options.clock()), token);
        throw new DelayedError();
      }
      if (error instanceof EarlierPeriodOpen) {
        // Close the earlier month first (its own close job; asked again, the same job), and look again.
        await this.invoices.runPeriod(error.earlier);
        await this.#failWithEarlier(closeJobId(error.earlier), `the close of ${error.earlier}`, error.period);
        await this.#waitForEarlier(job, token, `the close of ${error.earlier}`);
      }
      if (error instanceof EarlierInvoicePending) {
        // Invoice the month before first (queued by its close, or now if that close named other tenants).
        await this.invoices.enqueueInvoices(error.earlier, [error.tenantId]);
        await this.#failWithEarlier(invoiceJobId(error.tenantId, error.earlier), `the ${error.earlier} invoice of ${error.tenantId}`, error.period);
        await this.#waitForEarlier(job, token, `the ${error.earlier} invoice of ${error.tenantId}`);
      }
      throw unrecoverableUnlessRetriable(error);
    }
  }

  async #jobState(id: string): Promise<JobState | 'unknown' | 'missing'> {
    const job = await Job.fromId(this.queue, id);
    return job === undefined ? 'missing' : job.getState();
  }

  /** The earlier job failed for good: this one cannot go on until it is fixed and run again. */
  async #failWithEarlier(id: string, what: string, period: string): Promise<void> {
    const earlier = await Job.fromId(this.queue, id);
    if (earlier === undefined || (await earlier.getState()) !== 'failed') return;
    const reason = (earlier.failedReason || 'no reason recorded').split('\n')[0];
    throw new BullUnrecoverableError(`${period} waits for ${what}, which failed (${reason}); fix it and run it again (meterline invoice run), then this one`);
  }

  /** Waits in the delayed set (no attempt used) and looks again; the job's log says what it waits for. */
  async #waitForEarlier(job: Job, token: string | undefined, what: string): Promise<never> {
    await job.log(`${new Date().toISOString()} waiting for ${what}`);
    this.#log.info({ job: job.id, waiting_for: what }, 'invoice job waits for an earlier month');
    await job.moveToDelayed(Date.now() + ORDER_RECHECK_MS, token);
    throw new DelayedError();
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    await this.invoices.close();
  }
}

/**
 * The error BullMQ sees: the fleet's non-retriable errors (a reconciliation mismatch, a period
 * not closed, invalid billing terms or invoice input) fail the job at once, as BullMQ's
 * UnrecoverableError keeping the code and cause; they can never pass. Everything else (the
 * fleet's retriable errors, and errors outside the family such as a dropped connection)
 * uses the job's attempts.
 */
export function unrecoverableUnlessRetriable(error: unknown): unknown {
  if (!(error instanceof MeterlineError) || error.retriable) return error;
  const unrecoverable = new BullUnrecoverableError(errorMessage(error));
  unrecoverable.cause = error;
  return unrecoverable;
}
