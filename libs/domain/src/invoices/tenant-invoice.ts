import type { Catalog } from '../pricing/catalog';
import { chargeUsage, type TenantOverrides } from '../pricing/charge';
import { aggregateChargedEvents, type ChargedEvent } from './aggregate';
import type { TenantBilling } from './billing-terms';
import { computeInvoice } from './compute';
import { periodOf } from './period';
import { reconcileInvoiceInputs, pricedTotals, type ReconcileMismatch, type UsageTotal } from './reconcile';
import { bucketOf, tokenLineNames } from '../pricing/price';
import type { TokenBucket } from '../usage-event/usage-event';
import { unitBucket } from './buckets';
import type { Invoice, InvoiceBucket, LateUsageAdjustment } from './types';

/**
 * From one tenant's stored events to its final invoice for a month, with the reconciliation gate
 * first. Pure: the invoice job loads the data and the clock, this decides.
 *
 * Which events an invoice bills is decided by the period's cut (the end offset of every
 * usage-events partition when the month was closed) so that each event is billed exactly once:
 *  - the month's events below the cut are its usage lines;
 *  - the month's events at or past the cut arrived after it was invoiced: the next invoice bills
 *    them, as adjustments (`lateEvents` there: events of earlier, closed months between the
 *    previous cut and this one).
 * Events are the deduplicated raw rows (the first copy of an event id), so a duplicate that
 * arrives after the cut is not billed again.
 */

/** A stored usage event, as much of it as billing needs: every token bucket and unit. */
export type BillableEvent = Record<TokenBucket, number> & {
  provider: string;
  model: string;
  /** Event time, epoch ms. */
  occurred_at: number;
  tier: string | null;
  /** Per-request priced units, name -> count. */
  units: Readonly<Record<string, number>>;
  source_partition: number;
  source_offset: number;
};

export interface TenantInvoiceInput {
  tenant_id: string;
  period: string;
  /** Every stored event of the tenant in the period, below the cut or not (the gate compares all of them with the rollups). */
  events: readonly BillableEvent[];
  /** Events of earlier closed months that arrived between the previous cut and this one. */
  lateEvents: readonly BillableEvent[];
  /** End offset per usage-events partition (index = partition) when the period was closed. */
  cut: readonly number[];
  /** The hourly rollups' totals for the tenant and period. */
  rollupTotals: readonly UsageTotal[];
  books: { rateCard: Catalog; overrides?: TenantOverrides | undefined; costBook: Catalog };
  billing: TenantBilling;
  /** Credit used by the tenant's earlier final invoices, minor units. */
  creditsUsedBefore: bigint;
  /** Final invoices of earlier months: period → invoice id (late usage names them). */
  invoicedPeriods: ReadonlyMap<string, string>;
  clock: () => number;
}

export type TenantInvoiceResult =
  | { ok: true; invoice: Invoice; billedEvents: number; deferredEvents: number; lateEvents: number }
  | { ok: false; mismatches: ReconcileMismatch[]; report: string };

/** What a late event's adjustment names when its month has no invoice of the tenant (it had no usage there when closed). */
export const NO_ORIGINAL_INVOICE = 'none';

/** Tokens and requests per (provider, model, bucket), as the raw table counts them. */
export function rawTotals(events: readonly BillableEvent[]): UsageTotal[] {
  const sums = new Map<string, UsageTotal>();
  const add = (provider: string, model: string, bucket: InvoiceBucket, quantity: bigint): void => {
    const key = JSON.stringify([provider, model, bucket]);
    const found = sums.get(key);
    if (found === undefined) sums.set(key, { provider, model, bucket, quantity });
    else found.quantity += quantity;
  };
  for (const e of events) {
    add(e.provider, e.model, 'request', 1n);
    for (const bucket of tokenLineNames) if (e[bucketOf(bucket)] > 0) add(e.provider, e.model, bucket, BigInt(e[bucketOf(bucket)]));
    for (const [name, count] of Object.entries(e.units)) if (count > 0) add(e.provider, e.model, unitBucket(name), BigInt(count));
  }
  return [...sums.values()];
}

/** Below the period's cut: the event had arrived when the month was closed. */
export function belowCut(event: Pick<BillableEvent, 'source_partition' | 'source_offset'>, cut: readonly number[]): boolean {
  return event.source_offset < (cut[event.source_partition] ?? 0);
}

export function prepareTenantInvoice(input: TenantInvoiceInput): TenantInvoiceResult {
  const { tenant_id, period, books } = input;
  const charge = (e: BillableEvent) =>
    chargeUsage(books.rateCard, books.overrides, books.costBook, {
      tenant_id,
      provider: e.provider,
      model: e.model,
      occurred_at: e.occurred_at,
      tier: e.tier,
      input_tokens: e.input_tokens,
      cache_read_tokens: e.cache_read_tokens,
      cache_write_tokens: e.cache_write_tokens,
      cache_write_1h_tokens: e.cache_write_1h_tokens,
      output_tokens: e.output_tokens,
      reasoning_tokens: e.reasoning_tokens,
      audio_input_tokens: e.audio_input_tokens,
      audio_output_tokens: e.audio_output_tokens,
      image_input_tokens: e.image_input_tokens,
      image_output_tokens: e.image_output_tokens,
      units: e.units,
    });

  // Gate: every event of the month, counted three ways. An unpriced event is missing from the
  // priced side, so it blocks the invoice like a lost one would (never billed as $0).
  const pricedAll: ChargedEvent[] = [];
  const billed: ChargedEvent[] = [];
  let deferred = 0;
  for (const e of input.events) {
    const charged = charge(e);
    if (!charged.priced) continue;
    const event: ChargedEvent = { usage: e, charge: charged };
    pricedAll.push(event);
    if (belowCut(e, input.cut)) billed.push(event);
    else deferred++;
  }
  const gate = reconcileInvoiceInputs({ tenant_id, period, raw: rawTotals(input.events), rollup: input.rollupTotals, priced: pricedTotals(aggregateChargedEvents(pricedAll)) });
  if (!gate.ok) return gate;

  // Late usage: priced like any usage, by its own event time; one adjustment group per original month.
  const late = new Map<string, ChargedEvent[]>();
  const unpricedLate: BillableEvent[] = [];
  for (const e of input.lateEvents) {
    const charged = charge(e);
    if (!charged.priced) {
      unpricedLate.push(e);
      continue;
    }
    const month = periodOf(e.occurred_at);
    let list = late.get(month);
    if (list === undefined) late.set(month, (list = []));
    list.push({ usage: e, charge: charged });
  }
  if (unpricedLate.length > 0) {
    const lateGate = reconcileInvoiceInputs({ tenant_id, period, raw: rawTotals(unpricedLate), rollup: rawTotals(unpricedLate), priced: [] });
    if (!lateGate.ok) return { ...lateGate, report: `${lateGate.report}(late usage of earlier months that the rate card cannot price)\n` };
  }
  const adjustments: LateUsageAdjustment[] = [];
  for (const [month, events] of late) {
    const original = input.invoicedPeriods.get(month) ?? NO_ORIGINAL_INVOICE;
    for (const a of aggregateChargedEvents(events)) adjustments.push({ ...a, original_invoice_id: original, original_period: month });
  }

  const credits = input.billing.credits_granted_minor - input.creditsUsedBefore;
  const invoice = computeInvoice({
    tenant_id,
    period,
    revision: 1,
    status: 'final',
    currency: input.billing.currency,
    exchange_rate: input.billing.exchange_rate,
    usage: aggregateChargedEvents(billed),
    adjustments,
    terms: { ...input.billing.terms, credits_available_minor: credits > 0n ? credits : 0n },
    clock: input.clock,
  });
  return { ok: true, invoice, billedEvents: billed.length, deferredEvents: deferred, lateEvents: input.lateEvents.length };
}
