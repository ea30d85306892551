import { createHash } from 'node:crypto';
import {
  closeDecision,
  defaultBilling,
  invoiceDue,
  nextRevision,
  periodClosableAt,
  prepareTenantInvoice,
  previousPeriod,
  tenantsForClose,
  toInvoiceReady,
  type BillableEvent,
  type Invoice,
  type PriceBooks,
  type TenantBilling,
  type TenantBillingBook,
  type TenantInvoiceResult,
  type UsageTotal,
} from '@meterline/domain';
import type { InvoiceAlertRecord, InvoiceReadyRecord } from '@meterline/contract';
import type { InvoicesTable, PeriodClose } from '@meterline/clickhouse';
import type { CloseResult, InvoiceRevisionOutcome, TenantInvoiceOutcome } from '@meterline/invoice-queue';
import { MeterlineError, UnrecoverableError, type Logger } from '@meterline/platform';
import type { CloseLock } from './close-lock';
import { Coalescer } from './coalescer';
import { waitForPipeline, type CatchUpTarget, type PipelineProgress } from './pipeline-progress';

/**
 * What the two jobs do, without BullMQ: `closePeriod` (the scheduled job) and `invoiceTenant`
 * (one per tenant). The scheduler (scheduler.ts) runs them as BullMQ jobs; the CLI and tests
 * drive the same code.
 *
 *   close:  time >= month end + allowed lateness  ->  in order (under the close lock): the first
 *           close ever, or the month after the last closed; a later month waits for the months
 *           before it, an earlier one is refused  ->  cut = end offsets of usage-events (recorded
 *           once)  ->  wait until the sinks and the rollup consumer committed the cut  ->  one
 *           invoice job per tenant with usage or a minimum commitment (job id from tenant and period)
 *   tenant: already invoiced? deliver it again (same documents, announced once)  ->  the tenant's
 *           invoice of the month before must exist when it had usage there (else wait)  ->  load
 *           events, rollups, history  ->  no usage and no commitment: no invoice  ->  reconciliation
 *           gate (a mismatch: resync once, then alert and fail for good)  ->  compute  ->  store
 *           (first write wins)  ->  export  ->  announce
 *   revise: the period computed again from its raw events (the same cuts) with the prices in
 *           force  ->  the next revision with a credit note, unless the charges are the same
 *           ->  store  ->  export  ->  announce
 */

/** The invoice tables and reads the jobs use (libs/clickhouse InvoicesTable). */
export type InvoiceStore = Pick<
  InvoicesTable,
  'getClose' | 'closeBefore' | 'closedMonths' | 'recordClose' | 'tenantsToInvoice' | 'billableEvents' | 'rollupTotals' | 'history' | 'creditsUsedOutside' | 'latest' | 'insert'
>;

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
  /** One close decision at a time across the fleet (closeDecision, then the record). */
  closeLock: CloseLock;
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

/** A month after the last closed one waits until the months before it are closed (`earlier` first). */
export class EarlierPeriodOpen extends MeterlineError {
  constructor(
    readonly period: string,
    readonly earlier: string,
  ) {
    super('EARLIER_PERIOD_OPEN', `${period} closes after ${earlier}: months close in order, and ${earlier} is not closed yet`, { retriable: true });
  }
}

/** A month that is never closed (before the first closed month); the message says why. */
export class PeriodOutOfOrder extends UnrecoverableError {
  constructor(
    readonly period: string,
    reason: string,
  ) {
    super('PERIOD_OUT_OF_ORDER', `${period} cannot be closed: ${reason}`);
  }
}

/** The tenant had usage to bill in the month before, and that invoice is not stored yet: it comes first. */
export class EarlierInvoicePending extends MeterlineError {
  constructor(
    readonly tenantId: string,
    readonly period: string,
    readonly earlier: string,
  ) {
    super('EARLIER_INVOICE_PENDING', `the ${period} invoice of ${tenantId} comes after its ${earlier} invoice (credit is used in order, late usage names it), which is not stored yet`, { retriable: true });
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
  /** Whether the tenant had usage to bill in the month before and that invoice is not stored yet. */
  earlierPending: Coalescer<string, boolean>;
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
    const close = await this.deps.closeLock.run(() => this.#closeInOrder(period));
    await waitForPipeline(progress, catchUp, close.cut, { timeoutMs: this.deps.catchUpTimeoutMs, log: this.#log, what: `closing ${period}` });
    const previous = await store.closeBefore(period);
    const tenants = onlyTenants ?? tenantsForClose(await store.tenantsToInvoice(period, close.cut, previous), this.deps.billing());
    await this.deps.enqueueInvoices(period, tenants);
    this.#log.info({ period, tenants: tenants.length }, 'invoice jobs queued');
    return { period, cut: close.cut, tenants: tenants.length, tenant_ids: [...tenants] };
  }

  /** The period's close: found, or recorded now when it is next in order (under the close lock). */
  async #closeInOrder(period: string): Promise<PeriodClose> {
    const { store, progress, catchUp } = this.deps;
    const existing = await store.getClose(period);
    const decision = closeDecision(period, existing === undefined ? await store.closedMonths() : undefined, existing !== undefined);
    switch (decision.kind) {
      case 'closed':
        return existing!;
      case 'wait':
        throw new EarlierPeriodOpen(period, decision.earlier);
      case 'refuse':
        throw new PeriodOutOfOrder(period, decision.reason);
      case 'close': {
        const cut = await progress.endOffsets(catchUp.usageEventsTopic);
        const close = await store.recordClose({ period, topic: catchUp.usageEventsTopic, cut, closed_at: this.deps.clock() });
        this.#log.info({ period, cut: close.cut }, 'period closed: invoices bill the events below this cut');
        return close;
      }
    }
  }

  async invoiceTenant(tenantId: string, period: string): Promise<TenantInvoiceOutcome> {
    const ctx = await this.#context(period);
    const existing = await ctx.latest.call(tenantId);
    if (existing !== undefined) return this.#deliver(ctx, existing, 'existing');
    if (await ctx.earlierPending.call(tenantId)) throw new EarlierInvoicePending(tenantId, period, previousPeriod(period));

    const billing = ctx.billing.tenants.get(tenantId) ?? defaultBilling(tenantId);
    const data = await ctx.load.call(tenantId);
    if (!invoiceDue({ events: data.events, lateEvents: data.lateEvents, cut: ctx.cut, billing })) {
      this.#log.info({ tenant: tenantId, period }, 'no invoice: no usage to bill and no minimum commitment');
      return { invoice_id: null, tenant_id: tenantId, period, total_minor: '0', currency: billing.currency, outcome: 'no_usage' };
    }
    const invoice = await this.#compute(ctx, tenantId, period, data, (d) => ({ billing, creditsUsedBefore: d.creditsUsed }));
    await ctx.insert.call(invoice);
    // The first write of an id wins (a stalled job taken over may have raced us): deliver that one.
    const stored = (await ctx.latest.call(tenantId)) ?? invoice;
    return this.#deliver(ctx, stored, 'created');
  }

  /**
   * Regenerates the tenant's invoice for a closed period: the same events (the period's below its
   * cut, the late ones between the cuts), priced with the books in force, the terms in force in
   * the currency and at the exchange rate of the invoice it replaces. A new revision (a credit
   * note for what the earlier ones billed) when the charges changed; else the latest stands.
   */
  async reviseInvoice(tenantId: string, period: string): Promise<InvoiceRevisionOutcome> {
    const ctx = await this.#context(period);
    const latest = (await this.deps.store.latest([tenantId], period)).get(tenantId);
    if (latest === undefined) throw new UnrecoverableError('INVOICE_NOT_FOUND', `${tenantId} has no invoice for ${period} to revise`);
    const terms = this.deps.billing().tenants.get(tenantId) ?? defaultBilling(tenantId);
    if (terms.currency !== latest.currency) {
      throw new UnrecoverableError('REVISION_CURRENCY_CHANGED', `${latest.invoice_id} is in ${latest.currency}, the billing terms now in ${terms.currency}: a revision keeps the currency of the invoice it replaces`);
    }
    // Credit used by every other month (later ones too) is not available again.
    const usedElsewhere = (await this.deps.store.creditsUsedOutside([tenantId], period)).get(tenantId) ?? 0n;
    const billing: TenantBilling = { ...terms, exchange_rate: latest.exchange_rate };
    const recomputed = await this.#compute(ctx, tenantId, period, await ctx.load.call(tenantId), () => ({ billing, creditsUsedBefore: usedElsewhere }));
    const revision = nextRevision(latest, recomputed);
    if (revision === undefined) {
      await this.#deliver(ctx, latest, 'existing');
      return revisionOutcome(latest, 'unchanged');
    }
    await this.deps.store.insert([revision]);
    const stored = (await this.deps.store.latest([tenantId], period)).get(tenantId) ?? revision;
    await this.#deliver(ctx, stored, 'created');
    this.#log.info({ tenant: tenantId, period, invoice: stored.invoice_id, supersedes: stored.supersedes_invoice_id, total_minor: stored.total_minor.toString() }, 'invoice revised');
    return revisionOutcome(stored, stored.invoice_id === revision.invoice_id ? 'created' : 'unchanged');
  }

  /** The period's invoice of the tenant, behind the reconciliation gate (a mismatch: alert and fail for good). */
  async #compute(ctx: PeriodContext, tenantId: string, period: string, first: TenantData, terms: (data: TenantData) => { billing: TenantBilling; creditsUsedBefore: bigint }): Promise<Invoice> {
    const prepare = (data: TenantData): TenantInvoiceResult =>
      prepareTenantInvoice({
        tenant_id: tenantId,
        period,
        events: data.events,
        lateEvents: data.lateEvents,
        cut: ctx.cut,
        rollupTotals: data.rollups,
        books: this.deps.prices(),
        ...terms(data),
        invoicedPeriods: data.invoicedPeriods,
        clock: this.deps.clock,
      });
    let result = prepare(first);
    if (!result.ok) {
      // Late events in flight can reach the raw table before the rollups (or the reverse): let
      // both catch up with what exists now and look once more before calling it a mismatch.
      const now = await this.deps.progress.endOffsets(this.deps.catchUp.usageEventsTopic);
      await waitForPipeline(this.deps.progress, this.deps.catchUp, now, { timeoutMs: this.deps.catchUpTimeoutMs, log: this.#log, what: `re-checking ${tenantId} ${period}` });
      result = prepare(await ctx.load.call(tenantId));
    }
    if (result.ok) return result.invoice;
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

  async #deliver(ctx: PeriodContext, invoice: Invoice, outcome: 'created' | 'existing'): Promise<TenantInvoiceOutcome> {
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
    const earlier = previousPeriod(period);
    // The month before, when closed (not when this is the first month closed) and its own previous close.
    const earlierClose = previous?.period === earlier ? previous : undefined;
    const beforeEarlier = earlierClose === undefined ? undefined : await store.closeBefore(earlier);
    const inOrder = <V>(tenants: readonly string[], map: Map<string, V>, fallback: V): V[] => tenants.map((t) => map.get(t) ?? fallback);
    return {
      billing: this.deps.billing(),
      cut: close.cut,
      latest: new Coalescer(async (tenants) => {
        const found = await store.latest(tenants, period);
        return tenants.map((t) => found.get(t));
      }),
      earlierPending: new Coalescer(async (tenants) => {
        if (earlierClose === undefined) return tenants.map(() => false);
        // Usage decides, not a commitment: terms added later must not invoice months before them.
        const [withUsage, invoiced] = await Promise.all([store.tenantsToInvoice(earlier, earlierClose.cut, beforeEarlier, tenants), store.latest(tenants, earlier)]);
        const due = new Set(withUsage);
        return tenants.map((t) => due.has(t) && !invoiced.has(t));
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

function revisionOutcome(invoice: Invoice, outcome: InvoiceRevisionOutcome['outcome']): InvoiceRevisionOutcome {
  return {
    invoice_id: invoice.invoice_id, revision: invoice.revision, supersedes_invoice_id: invoice.supersedes_invoice_id, tenant_id: invoice.tenant_id, period: invoice.period,
    total_minor: invoice.total_minor.toString(), currency: invoice.currency, outcome,
  };
}
