import { emptyUsageBuckets, tokenBuckets, totalTokens, type TokenBucket, type UsageEvent } from '@meterline/domain';
import { UsageAdapterError } from './errors';

/**
 * What an adapter returns: the disjoint token buckets of a usage event (see `UsageEvent` in
 * @meterline/domain), the per-request priced units (name -> count, only counts above 0) and the
 * provider's service tier (null when the object does not say). Spread it into `meter.record()`.
 */
export type UsageBuckets = Pick<UsageEvent, TokenBucket | 'units' | 'service_tier'>;

/** Every bucket 0, no units, no tier: the base an adapter fills in. */
export function emptyBuckets(): UsageBuckets {
  return { ...emptyUsageBuckets(), units: {}, service_tier: null };
}

export interface AdapterOptions {
  /**
   * Check that the buckets add up to the total the provider reports (when it reports one) and
   * throw `total_mismatch` when they do not. Default true: a mismatch means the payload is not
   * what the adapter expects, and a silent miscount would bill the wrong amount.
   */
  checkTotal?: boolean;
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** True when a value holds a count above 0 anywhere inside it (a number, or an object/array of them). */
export function carriesCounts(value: unknown): boolean {
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'bigint') return value !== 0n;
  if (Array.isArray(value)) return value.some(carriesCounts);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(carriesCounts);
  return false;
}

/** A units map without the zero counts (an event's units list only work that was done). */
export function positiveUnits(counts: Record<string, number>): Record<string, number> {
  const units: Record<string, number> = {};
  for (const [name, count] of Object.entries(counts)) if (count > 0) units[name] = count;
  return units;
}

function describeBuckets(buckets: UsageBuckets): string {
  return tokenBuckets
    .filter((bucket) => buckets[bucket] !== 0)
    .map((bucket) => `${bucket} ${buckets[bucket]}`)
    .join(' + ');
}

/** Reads provider payloads: every count is a non-negative safe integer, absent/null only when optional. */
export class UsageReader {
  constructor(readonly provider: string) {}

  fail(field: string, rule: string, detail: string): never {
    throw new UsageAdapterError(this.provider, field, rule, detail);
  }

  /** The usage object itself (or a nested details object when `field` is given). */
  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(field, 'object', `expected an object, got ${describeValue(value)}`);
    }
    return value as Record<string, unknown>;
  }

  /** A nested object that may be absent or null (then empty). `field` is its full path. */
  optionalObject(parent: Record<string, unknown>, key: string, field: string = key): Record<string, unknown> {
    const value = parent[key];
    if (value === undefined || value === null) return {};
    return this.object(value, field);
  }

  /** A list that may be absent or null (then empty). */
  optionalArray(parent: Record<string, unknown>, key: string, field: string = key): readonly unknown[] {
    const value = parent[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) this.fail(field, 'array', `expected an array, got ${describeValue(value)}`);
    return value;
  }

  /** A string that may be absent or null (then null). */
  optionalString(parent: Record<string, unknown>, key: string, field: string = key): string | null {
    const value = parent[key];
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string') this.fail(field, 'string', `expected a string, got ${describeValue(value)}`);
    return value;
  }

  /** A count. `required` counts throw when absent or null; optional ones read as 0. */
  count(obj: Record<string, unknown>, key: string, field: string, required: boolean, hint = ''): number {
    const value = obj[key];
    if (value === undefined || value === null) {
      if (required) this.fail(field, 'required', `missing (got ${value === null ? 'null' : 'nothing'}); it is required to split the usage${hint}`);
      return 0;
    }
    return this.checkCount(value, field);
  }

  checkCount(value: unknown, field: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail(field, 'non_negative_integer', `must be a non-negative integer token count, got ${describeValue(value)}`);
    }
    return value;
  }

  /** `whole - part`, throwing `rule` when the part is larger. */
  subtract(whole: number, wholeField: string, part: number, partField: string, rule: string): number {
    if (part > whole) this.fail(partField, rule, `${partField} (${part}) is more than ${wholeField} (${whole}), which includes it`);
    return whole - part;
  }

  /**
   * Refuses a key the adapter does not know when it carries a count above 0: a new kind of token
   * or priced request the provider started reporting must not be billed as nothing. Unknown keys
   * holding only zeros, strings or booleans pass (they change nothing the bill depends on).
   */
  rejectUnknown(obj: Record<string, unknown>, known: ReadonlySet<string>, prefix: string): void {
    for (const [key, value] of Object.entries(obj)) {
      if (known.has(key) || !carriesCounts(value)) continue;
      const field = prefix === '' ? key : `${prefix}.${key}`;
      this.fail(field, 'unknown_field', `is not a field this adapter knows, and it carries ${describeValue(value)}: billing it as nothing could be wrong`);
    }
  }

  /** Checks the buckets against the provider's reported total, when there is one. */
  checkTotal(buckets: UsageBuckets, reported: number | undefined, field: string, options: AdapterOptions | undefined): void {
    if (reported === undefined || options?.checkTotal === false) return;
    const sum = totalTokens(buckets);
    if (sum !== reported) {
      this.fail(field, 'total_mismatch', `the buckets add up to ${sum} (${describeBuckets(buckets) || '0'}) but the provider reports ${reported}`);
    }
  }

  /** An optional reported total. */
  optionalTotal(obj: Record<string, unknown>, key: string, field: string): number | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    return this.checkCount(value, field);
  }
}
