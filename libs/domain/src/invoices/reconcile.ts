import { compareBuckets, INVOICE_BUCKETS_DESCRIPTION, isInvoiceBucket } from './buckets';
import { InvoiceInputError } from './errors';
import { checkPeriod } from './invoice-id';
import type { InvoiceBucket, PricedUsageAggregate } from './types';

/**
 * The reconciliation gate before an invoice is cut: the tokens (and requests) of the period must
 * be the same whether counted from the raw events, from the hourly rollups or from the priced usage
 * the invoice is computed from. Any difference (a lost or double-counted event, an unpriced
 * model, a stale rollup) stops the invoice with a report naming every difference.
 */

/** A quantity of one (provider, model, bucket): tokens, or requests for `request`. */
export interface UsageTotal {
  provider: string;
  model: string;
  bucket: InvoiceBucket;
  quantity: bigint;
}

export interface ReconcileInput {
  tenant_id: string;
  /** `YYYY-MM` */
  period: string;
  /** From the raw events table (deduplicated). */
  raw: readonly UsageTotal[];
  /** From the hourly rollups. */
  rollup: readonly UsageTotal[];
  /** From the priced usage (see {@link pricedTotals}); the `request` bucket counts every event, fee or not. */
  priced: readonly UsageTotal[];
}

export interface ReconcileMismatch {
  tenant_id: string;
  period: string;
  provider: string;
  model: string;
  bucket: InvoiceBucket;
  raw: bigint;
  rollup: bigint;
  priced: bigint;
}

export type ReconcileResult = { ok: true } | { ok: false; mismatches: ReconcileMismatch[]; report: string };

/** Sums priced aggregates per (provider, model, bucket), over price versions, tiers and thresholds. */
export function pricedTotals(aggregates: readonly PricedUsageAggregate[]): UsageTotal[] {
  const sums = new Map<string, UsageTotal>();
  for (const a of aggregates) {
    const key = JSON.stringify([a.provider, a.model, a.bucket]);
    const found = sums.get(key);
    if (found === undefined) sums.set(key, { provider: a.provider, model: a.model, bucket: a.bucket, quantity: a.quantity });
    else found.quantity += a.quantity;
  }
  return [...sums.values()];
}

type Source = 'raw' | 'rollup' | 'priced';

interface Row {
  provider: string;
  model: string;
  bucket: InvoiceBucket;
  raw: bigint;
  rollup: bigint;
  priced: bigint;
}

function describeDifference(row: Row): string {
  const parts: string[] = [];
  for (const source of ['rollup', 'priced'] as const) {
    const diff = row[source] - row.raw;
    if (diff !== 0n) parts.push(`${source}-raw ${diff > 0n ? '+' : ''}${diff}`);
  }
  return parts.join(', ');
}

/** A plain-text table: columns padded to their widest cell, numbers right-aligned, no trailing spaces. */
function textTable(header: readonly string[], rows: readonly string[][], numeric: readonly boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (numeric[i] === true ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [render(header), render(widths.map((w) => '-'.repeat(w))), ...rows.map(render)].join('\n');
}

/**
 * Compares the per (provider, model, bucket) quantities of raw events, rollups and priced usage.
 * A key missing from a source counts 0 there. Returns `{ ok: true }` when all three agree
 * everywhere, else the mismatches and a report such as:
 *
 * ```
 * Reconciliation failed for tenant acme, period 2026-01: 1 mismatch between raw events, rollups and priced usage
 * tenant  period   model          bucket  raw   rollup  priced  difference
 * ------  -------  -------------  ------  ----  ------  ------  -------------
 * acme    2026-01  openai/gpt-4o  input   1000     990    1000  rollup-raw -10
 * ```
 */
export function reconcileInvoiceInputs(input: ReconcileInput): ReconcileResult {
  if (typeof input.tenant_id !== 'string' || input.tenant_id.length === 0) throw new InvoiceInputError('tenant_id', 'must be a non-empty string');
  checkPeriod(input.period, 'period');
  const rows = new Map<string, Row>();
  for (const source of ['raw', 'rollup', 'priced'] as const satisfies readonly Source[]) {
    input[source].forEach((total, i) => {
      const field = `${source}[${i}]`;
      if (typeof total.provider !== 'string' || total.provider.length === 0) throw new InvoiceInputError(`${field}.provider`, 'must be a non-empty string');
      if (typeof total.model !== 'string' || total.model.length === 0) throw new InvoiceInputError(`${field}.model`, 'must be a non-empty string');
      if (!isInvoiceBucket(total.bucket)) throw new InvoiceInputError(`${field}.bucket`, `must be one of ${INVOICE_BUCKETS_DESCRIPTION}, got ${JSON.stringify(total.bucket)}`);
      if (typeof total.quantity !== 'bigint' || total.quantity < 0n) throw new InvoiceInputError(`${field}.quantity`, `must be a bigint >= 0, got ${String(total.quantity)}`);
      const key = JSON.stringify([total.provider, total.model, total.bucket]);
      let row = rows.get(key);
      if (row === undefined) {
        row = { provider: total.provider, model: total.model, bucket: total.bucket, raw: 0n, rollup: 0n, priced: 0n };
        rows.set(key, row);
      }
      row[source] += total.quantity;
    });
  }
  const bad = [...rows.values()]
    .filter((r) => r.raw !== r.rollup || r.raw !== r.priced)
    .sort(
      (a, b) =>
        (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0) ||
        (a.model < b.model ? -1 : a.model > b.model ? 1 : 0) ||
        compareBuckets(a.bucket, b.bucket),
    );
  if (bad.length === 0) return { ok: true };
  const mismatches = bad.map((r) => ({ tenant_id: input.tenant_id, period: input.period, ...r }));
  const title = `Reconciliation failed for tenant ${input.tenant_id}, period ${input.period}: ${bad.length} mismatch${bad.length === 1 ? '' : 'es'} between raw events, rollups and priced usage`;
  const table = textTable(
    ['tenant', 'period', 'model', 'bucket', 'raw', 'rollup', 'priced', 'difference'],
    bad.map((r) => [input.tenant_id, input.period, `${r.provider}/${r.model}`, r.bucket, String(r.raw), String(r.rollup), String(r.priced), describeDifference(r)]),
    [false, false, false, false, true, true, true, false],
  );
  return { ok: false, mismatches, report: `${title}\n${table}\n` };
}
