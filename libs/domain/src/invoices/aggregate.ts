import type { ChargedUsage } from '../pricing/charge';
import { DecimalError, parseExactDecimal } from '../pricing/money';
import { bucketOf, tokenLineNames, type UsageToPrice } from '../pricing/price';
import { compareBuckets, INVOICE_BUCKETS_DESCRIPTION, isInvoiceBucket, isPerUnitBucket, unitBucket } from './buckets';
import { exactQuotient } from './currency';
import { InvoiceInputError } from './errors';
import type { InvoiceBucket, PricedUsageAggregate } from './types';

/** One charged event: the event's names and token buckets, and what `chargeUsage` charged for it. */
export interface ChargedEvent {
  /**
   * The event as sent. Its `provider` and `model` (not the catalog's canonical names, which differ
   * for aliases) key the aggregate, so priced totals reconcile with raw events and rollups.
   */
  usage: Omit<UsageToPrice, 'occurred_at' | 'tier'>;
  charge: ChargedUsage;
}

/** The key an aggregate is summed under: (provider, model, price version, tier, threshold, bucket). */
export function aggregateKey(a: PricedUsageAggregate): string {
  return JSON.stringify([a.provider, a.model, a.price_version_id, a.tier ?? null, a.threshold_above_prompt_tokens ?? null, a.bucket]);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Deterministic order of usage lines: provider, model, price version, tier, threshold, then bucket (input .. image_output, units by name, request). */
export function compareAggregates(a: PricedUsageAggregate, b: PricedUsageAggregate): number {
  return (
    compareText(a.provider, b.provider) ||
    compareText(a.model, b.model) ||
    compareText(a.price_version_id, b.price_version_id) ||
    compareText(a.tier ?? '', b.tier ?? '') ||
    (a.threshold_above_prompt_tokens ?? -1) - (b.threshold_above_prompt_tokens ?? -1) ||
    compareBuckets(a.bucket, b.bucket)
  );
}

/**
 * The rate that makes `quantity * rate = amount_pico` exactly, in USD per 1M tokens (per request
 * for `request`), or null when there is none with a finite decimal expansion (or no quantity).
 */
export function averageUnitPrice(bucket: InvoiceBucket, quantity: bigint, amountPico: bigint): string | null {
  if (quantity <= 0n) return null;
  // Per token: pico / tokens * 1e6 tokens / 1e12 pico-per-USD. Per request or unit: pico / count / 1e12.
  const scale = isPerUnitBucket(bucket) ? 1_000_000_000_000n : 1_000_000n;
  return exactQuotient(amountPico, quantity * scale);
}

/**
 * Sums per-event `chargeUsage` results into invoice input, one aggregate per (provider, model,
 * price version, tier, threshold, bucket), amounts exact (pico-USD, nothing rounded). The
 * `request` aggregate counts every event (its amount may be 0, and then no fee line is billed);
 * a token bucket appears once any event of the key has tokens in it. Each aggregate's
 * `unit_price` is the exact average rate (see {@link averageUnitPrice}), which is the catalog rate
 * (after tenant discount or markup) whenever the per-event charges were not rounded.
 * Output is sorted as invoice lines are.
 */
export function aggregateChargedEvents(events: Iterable<ChargedEvent>): PricedUsageAggregate[] {
  const sums = new Map<string, PricedUsageAggregate>();
  const add = (template: Omit<PricedUsageAggregate, 'quantity' | 'amount_pico'>, quantity: bigint, amount: bigint): void => {
    const key = aggregateKey({ ...template, quantity, amount_pico: amount });
    const found = sums.get(key);
    if (found === undefined) sums.set(key, { ...template, quantity, amount_pico: amount });
    else {
      found.quantity += quantity;
      found.amount_pico += amount;
    }
  };
  let index = 0;
  for (const { usage, charge } of events) {
    if ((charge as { priced: unknown }).priced !== true) {
      throw new InvoiceInputError(`events[${index}].charge`, 'is not priced; unpriced events cannot be invoiced (the reconciliation gate reports them)');
    }
    const base = {
      provider: usage.provider,
      model: usage.model,
      price_version_id: charge.priceVersionId,
      tier: charge.tier,
      threshold_above_prompt_tokens: charge.thresholdAbovePromptTokens,
    };
    for (const bucket of tokenLineNames) {
      const field = bucketOf(bucket);
      const tokens = usage[field] ?? 0;
      if (!Number.isSafeInteger(tokens) || tokens < 0) {
        throw new InvoiceInputError(`events[${index}].usage.${field}`, `must be a non-negative integer, got ${String(tokens)}`);
      }
      const amount = charge.lines[bucket];
      if (tokens === 0 && amount === 0n) continue;
      add({ ...base, bucket }, BigInt(tokens), amount);
    }
    for (const [name, count] of Object.entries(usage.units ?? {})) {
      if (count === 0) continue;
      add({ ...base, bucket: unitBucket(name) }, BigInt(count), charge.unitLines[name] ?? 0n);
    }
    add({ ...base, bucket: 'request' }, 1n, charge.lines.request);
    index++;
  }
  const out = [...sums.values()];
  for (const a of out) a.unit_price = averageUnitPrice(a.bucket, a.quantity, a.amount_pico);
  return out.sort(compareAggregates);
}

function checkName(value: unknown, field: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new InvoiceInputError(field, `must be a non-empty string, got ${JSON.stringify(value)}`);
}

/** Validates one aggregate of the input; `field` is its place in the input (`usage[2]`). */
export function checkAggregate(a: PricedUsageAggregate, field: string): void {
  checkName(a.provider, `${field}.provider`);
  checkName(a.model, `${field}.model`);
  checkName(a.price_version_id, `${field}.price_version_id`);
  if (!isInvoiceBucket(a.bucket)) throw new InvoiceInputError(`${field}.bucket`, `must be one of ${INVOICE_BUCKETS_DESCRIPTION}, got ${JSON.stringify(a.bucket)}`);
  if (a.tier !== undefined && a.tier !== null) checkName(a.tier, `${field}.tier`);
  const threshold = a.threshold_above_prompt_tokens;
  if (threshold !== undefined && threshold !== null && (!Number.isSafeInteger(threshold) || threshold <= 0)) {
    throw new InvoiceInputError(`${field}.threshold_above_prompt_tokens`, `must be a positive integer or null, got ${String(threshold)}`);
  }
  if (typeof a.quantity !== 'bigint' || a.quantity < 0n) throw new InvoiceInputError(`${field}.quantity`, `must be a bigint >= 0, got ${String(a.quantity)}`);
  if (typeof a.amount_pico !== 'bigint' || a.amount_pico < 0n) {
    throw new InvoiceInputError(`${field}.amount_pico`, `must be a bigint >= 0 (pico-USD), got ${String(a.amount_pico)}`);
  }
  if (a.quantity === 0n && a.amount_pico !== 0n) throw new InvoiceInputError(`${field}.amount_pico`, `is ${a.amount_pico} for a quantity of 0`);
  if (a.unit_price !== undefined && a.unit_price !== null) {
    try {
      if (parseExactDecimal(a.unit_price).units < 0n) throw new InvoiceInputError(`${field}.unit_price`, `must be >= 0, got ${JSON.stringify(a.unit_price)}`);
    } catch (error) {
      if (error instanceof DecimalError) throw new InvoiceInputError(`${field}.unit_price`, error.message, error);
      throw error;
    }
  }
}

/** Equal values (`"2.50"` and `"2.5"`); both already validated. */
function sameDecimal(a: string, b: string): boolean {
  const x = parseExactDecimal(a);
  const y = parseExactDecimal(b);
  return x.units === y.units && x.scale === y.scale;
}

/**
 * Validates and sums aggregates with the same key (a caller may feed per-day rows). Extra fields
 * (such as the original invoice of an adjustment) must be part of `extraKey`. Two rows of one key
 * with different explicit unit prices are an error.
 */
export function mergeAggregates<T extends PricedUsageAggregate>(rows: readonly T[], field: string, extraKey: (row: T) => string = () => ''): T[] {
  const merged = new Map<string, T>();
  rows.forEach((row, i) => {
    checkAggregate(row, `${field}[${i}]`);
    const key = `${extraKey(row)}|${aggregateKey(row)}`;
    const found = merged.get(key);
    if (found === undefined) {
      merged.set(key, { ...row });
      return;
    }
    const a = found.unit_price ?? null;
    const b = row.unit_price ?? null;
    if (a !== null && b !== null && !sameDecimal(a, b)) {
      throw new InvoiceInputError(`${field}[${i}].unit_price`, `${JSON.stringify(b)} differs from ${JSON.stringify(a)} given for the same ${row.provider}/${row.model} ${row.bucket} usage`);
    }
    found.quantity += row.quantity;
    found.amount_pico += row.amount_pico;
    found.unit_price = a ?? b;
  });
  return [...merged.values()];
}
