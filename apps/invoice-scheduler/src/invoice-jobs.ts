import { createHash } from 'node:crypto';
import {
  defaultBilling,
  periodClosableAt,
  prepareTenantInvoice,
  toInvoiceReady,
  type BillableEvent,
  type Invoice,
  type PriceBooks,
  type TenantBillingBook,
  type UsageTotal,
} from '@meterline/domain';
import type { InvoiceAlertRecord, InvoiceReadyRecord } from '@meterline/contract';
import type { InvoicesTable } from '@meterline/clickhouse';
import type { CloseResult, TenantInvoiceOutcome } from '@meterline/invoice-queue';
import { MeterlineError, UnrecoverableError, type Logger } from '@meterline/platform';
import { Coalescer } from './coalescer';
import { waitForPipeline, type CatchUpTarget, type PipelineProgress } from './pipeline-progress';

/**
 * What the two jobs do, without BullMQ: `closePeriod` (the scheduled job) and `invoiceTenant`
 * (one per tenant). The scheduler (scheduler.ts) runs them as BullMQ jobs; the CLI and tests
 * drive the same code.
 *
 *   close:  time >= month end + allowed lateness  ->  cut = end offsets of usage-events (recorded
 *           once)  ->  wait until the sinks and the rollup consumer committed the cut  ->  one
 *           invoice job per tenant with usage (job id from tenant and period)
 *   tenant: already invoiced? deliver it again (same documents, announced once)  ->  load events,
 *           rollups, history  ->  reconciliation gate (a mismatch: resync once, then alert and
 *           fail for good)  ->  compute  ->  store (first write wins)  ->  export  ->  announce
 */

/** The invoice tables and reads the jobs use (libs/clickhouse InvoicesTable). */
export type InvoiceStore = Pick<InvoicesTable, 'getClose' | 'closeBefore' | 'recordClose' | 'tenantsToInvoice' | 'billableEvents' | 'rollupTotals' | 'history' | 'latest' | 'insert'>;

/** Writes an invoice's documents; returns where each went, by format (json, csv, html). */
export interface InvoiceDocuments {
  write(invoice: Invoice): Promise<Record<string, string>>;
}

/** Publishes InvoiceReady (each invoice id once) and invoice alerts. */
export interface InvoiceAnnouncer {
  announce(records: readonly InvoiceReadyRecord[]): Promise<void>;
  alert(record: InvoiceAlertRecord): Promise<void>;
}

export interface InvoiceJobsDeps {
  store: InvoiceStore;
  progress: PipelineProgress;
  catchUp: CatchUpTarget;
  documents: InvoiceDocuments;
  announcer: InvoiceAnnouncer;
  /** The price books in force (the rate card prices by event time; versions are dated inside). */
  prices: () => PriceBooks;
  billing: () => TenantBillingBook;
  /** Queues one invoice job per tenant (BullMQ addBulk with deterministic job ids). */
  enqueueInvoices: (period: string, tenants: readonly string[]) => Promise<void>;
  clock: () => number;
  allowedLatenessMs: number;
  catchUpTimeoutMs: number;
  log: Logger;
}

/** The period cannot be closed before its end plus the allowed lateness; the job waits until `readyAt`. */
export class PeriodNotClosableYet extends MeterlineError {
  constructor(
    readonly period: string,
    readonly readyAt: number,
  ) {
    super('PERIOD_NOT_CLOSABLE_YET', `${period} can be closed from ${new Date(readyAt).toISOString()} (month end plus the allowed lateness)`, { retriable: true });
  }
}

/** Raw events, rollups and priced usage disagree: no final invoice; the report says where. */
export class ReconciliationFailed extends UnrecoverableError {
  constructor(
    readonly tenantId: string,
    readonly period: string,
    readonly report: string,
  ) {
    super('INVOICE_RECONCILIATION_FAILED', report);
  }
}

interface TenantData {
  events: BillableEvent[];
  lateEvents: BillableEvent[];
  rollups: UsageTotal[];
  invoicedPeriods: Map<string, string>;
  creditsUsed: bigint;
}

/** Per period: the cut and the batched reads and writes of its invoice jobs. */
interface PeriodContext {
  /** The billing terms, read once per period and process (a run bills with one set of terms). */
  billing: TenantBillingBook;
  /** The period's cut: end offset per usage-events partition. */
  cut: readonly number[];
  latest: Coalescer<string, Invoice | undefined>;
  load: Coalescer<string, TenantData>;
  insert: Coalescer<Invoice, undefined>;
  announce: Coalescer<InvoiceReadyRecord, undefined>;
}

export class InvoiceJobs {
  readonly #periods = new Map<string, Promise<PeriodContext>>();
  readonly #log: Logger;

  constructor(private readonly deps: InvoiceJobsDeps) {
    this.#log = deps.log.child({ component: 'invoice-jobs' });
  }

  async closePeriod(period: string, onlyTenants?: readonly string[]): Promise<CloseResult> {
    const { store, progress, catchUp } = this.deps;
    const readyAt = periodClosableAt(period, this.deps.allowedLatenessMs);
    if (this.deps.clock() < readyAt) throw new PeriodNotClosableYet(period, readyAt);
    let close = await store.getClose(period);
    if (close === undefined) {
      const cut = await progress.endOffsets(catchUp.usageEventsTopic);
      close = await store.recordClose({ period, topic: catchUp.usageEventsTopic, cut, closed_at: this.deps.clock() });
      this.#log.info({ period, cut: close.cut }, 'period closed: invoices bill the events below this cut');
    }
    await waitForPipeline(progress, catchUp, close.cut, { timeoutMs: this.deps.catchUpTimeoutMs, log: this.#log, what: `closing ${period}` });
    const previous = await store.closeBefore(period);
    const tenants = onlyTenants ?? (await store.tenantsToInvoice(period, close.cut, previous));
    await this.deps.enqueueInvoices(period, tenants);
    this.#log.info({ period, tenants: tenants.length }, 'invoice jobs queued');
    return { period, cut: close.cut, tenants: tenants.length, tenant_ids: [...tenants] };
  }

  async invoiceTenant(tenantId: string, period: string): Promise<TenantInvoiceOutcome> {
    const ctx = await this.#context(period);
    const existing = await ctx.latest.call(tenantId);
    if (existing !== undefined) return this.#deliver(ctx, existing, 'existing');

    const prepare = (data: TenantData) => {
      const books = this.deps.prices();
      return prepareTenantInvoice({
        tenant_id: tenantId,
        period,
        events: data.events,
        lateEvents: data.lateEvents,
        cut: ctx.cut,
        rollupTotals: data.rollups,
        books,
        billing: ctx.billing.tenants.get(tenantId) ?? defaultBilling(tenantId),
        creditsUsedBefore: data.creditsUsed,
        invoicedPeriods: data.invoicedPeriods,
        clock: this.deps.clock,
      });
    };
    let result = prepare(await ctx.load.call(tenantId));
    if (!result.ok) {
      // Late events in flight can reach the raw table before the rollups (or the reverse): let
      // both catch up with what exists now and look once more before calling it a mismatch.
      const now = await this.deps.progress.endOffsets(this.deps.catchUp.usageEventsTopic);
      await waitForPipeline(this.deps.progress, this.deps.catchUp, now, { timeoutMs: this.deps.catchUpTimeoutMs, log: this.#log, what: `re-checking ${tenantId} ${period}` });
      result = prepare(await ctx.load.call(tenantId));
    }
    if (!result.ok) {
      const alert: InvoiceAlertRecord = {
        alert_id: `invalert_${createHash('sha256').update(JSON.stringify([tenantId, period, result.report])).digest('hex').slice(0, 32)}`,
        kind: 'reconciliation_mismatch',
        tenant_id: tenantId,
        period,
        mismatch_count: result.mismatches.length,
        report: result.report,
        detected_at: this.deps.clock(),
      };
      await this.deps.announcer.alert(alert);
      this.#log.error({ tenant: tenantId, period, mismatches: result.mismatches.length, alert_id: alert.alert_id }, `invoice blocked: reconciliation failed\n${result.report}`);
      throw new ReconciliationFailed(tenantId, period, result.report);
    }
    await ctx.insert.call(result.invoice);
    // The first write of an id wins (a stalled job taken over may have raced us): deliver that one.
    const stored = (await ctx.latest.call(tenantId)) ?? result.invoice;
    return this.#deliver(ctx, stored, 'created');
  }

  async #deliver(ctx: PeriodContext, invoice: Invoice, outcome: TenantInvoiceOutcome['outcome']): Promise<TenantInvoiceOutcome> {
    const exports = await this.deps.documents.write(invoice);
    await ctx.announce.call(toInvoiceReady(invoice, exports));
    return { invoice_id: invoice.invoice_id, tenant_id: invoice.tenant_id, period: invoice.period, total_minor: invoice.total_minor.toString(), currency: invoice.currency, outcome };
  }

  #context(period: string): Promise<PeriodContext> {
    let ctx = this.#periods.get(period);
    if (ctx === undefined) {
      ctx = this.#makeContext(period);
      this.#periods.set(period, ctx);
      // A failed lookup (ClickHouse down, period not closed) must not stick: the retry looks again.
      ctx.catch(() => this.#periods.delete(period));
    }
    return ctx;
  }

  async #makeContext(period: string): Promise<PeriodContext> {
    const { store } = this.deps;
    const close = await store.getClose(period);
    if (close === undefined) throw new UnrecoverableError('PERIOD_NOT_CLOSED', `${period} has no close: run the period close first (meterline invoice run --period ${period})`);
    const previous = await store.closeBefore(period);
    const inOrder = <V>(tenants: readonly string[], map: Map<string, V>, fallback: V): V[] => tenants.map((t) => map.get(t) ?? fallback);
    return {
      billing: this.deps.billing(),
      cut: close.cut,
      latest: new Coalescer(async (tenants) => {
        const found = await store.latest(tenants, period);
        return tenants.map((t) => found.get(t));
      }),
      load: new Coalescer(async (tenants) => {
        const [events, rollups, history] = await Promise.all([store.billableEvents(tenants, period, close.cut, previous), store.rollupTotals(tenants, period), store.history(tenants, period)]);
        const none = { events: [], lateEvents: [] };
        const noHistory = { invoicedPeriods: new Map<string, string>(), creditsUsed: 0n };
        const e = inOrder(tenants, events, none);
        const r = inOrder(tenants, rollups, []);
        const h = inOrder(tenants, history, noHistory);
        return tenants.map((_, i) => ({ ...e[i]!, rollups: r[i]!, ...h[i]! }));
      }),
      insert: new Coalescer(async (invoices) => {
        await store.insert(invoices);
        return invoices.map(() => undefined);
      }),
      announce: new Coalescer(async (records) => {
        await this.deps.announcer.announce(records);
        return records.map(() => undefined);
      }),
    };
  }
}
