import { unitNamePattern } from '../usage-event/usage-event';
import { tokenLineNames, type TokenLineName } from '../pricing/price';

/** An invoice bucket for one per-request priced unit: `unit:web_search`. */
export type UnitBucket = `unit:${string}`;

/**
 * A usage bucket on an invoice: the ten disjoint token buckets, one bucket per unit
 * (`unit:<name>`, quantity = units) and `request` (the per-request fee, quantity = requests).
 */
export type InvoiceBucket = TokenLineName | UnitBucket | 'request';

/** Fixed buckets in invoice order; unit buckets sort between the token buckets and `request`, by name. */
export const fixedInvoiceBuckets: readonly InvoiceBucket[] = [...tokenLineNames, 'request'];
const order = new Map<string, number>(tokenLineNames.map((name, i) => [name, i]));
const UNIT_RANK = tokenLineNames.length;
const REQUEST_RANK = UNIT_RANK + 1;

export function unitBucket(name: string): UnitBucket {
  return `unit:${name}`;
}

/** The unit name of a unit bucket, undefined for any other bucket. */
export function unitOfBucket(bucket: string): string | undefined {
  return bucket.startsWith('unit:') ? bucket.slice(5) : undefined;
}

export function isInvoiceBucket(bucket: unknown): bucket is InvoiceBucket {
  if (typeof bucket !== 'string') return false;
  if (bucket === 'request' || order.has(bucket)) return true;
  const unit = unitOfBucket(bucket);
  return unit !== undefined && unitNamePattern.test(unit);
}

/** Whether a bucket is counted per request or unit (prices per 1 rather than per 1M tokens). */
export function isPerUnitBucket(bucket: InvoiceBucket): boolean {
  return bucket === 'request' || bucket.startsWith('unit:');
}

/** Invoice order: token buckets (input .. image_output), unit buckets by name, then `request`. */
export function compareBuckets(a: string, b: string): number {
  const ra = a === 'request' ? REQUEST_RANK : (order.get(a) ?? UNIT_RANK);
  const rb = b === 'request' ? REQUEST_RANK : (order.get(b) ?? UNIT_RANK);
  return ra - rb || (a < b ? -1 : a > b ? 1 : 0);
}

export const INVOICE_BUCKETS_DESCRIPTION = `${fixedInvoiceBuckets.join(', ')} or unit:<name>`;

const labels: Record<TokenLineName | 'request', string> = {
  input: 'input tokens',
  cache_read: 'cache read tokens',
  cache_write: 'cache write tokens (5 min)',
  cache_write_1h: 'cache write tokens (1 hour)',
  output: 'output tokens',
  reasoning: 'reasoning tokens',
  audio_input: 'audio input tokens',
  audio_output: 'audio output tokens',
  image_input: 'image input tokens',
  image_output: 'image output tokens',
  request: 'request fee',
};

/** What an invoice line calls a bucket: `cache write tokens (1 hour)`, `web_search units`. */
export function bucketLabel(bucket: InvoiceBucket): string {
  const unit = unitOfBucket(bucket);
  return unit === undefined ? labels[bucket as TokenLineName | 'request'] : `${unit} units`;
}
