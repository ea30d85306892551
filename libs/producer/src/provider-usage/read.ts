import { totalTokens, type UsageBuckets } from '@meterline/domain';
import { UsageAdapterError } from './errors';

/** The disjoint token buckets of a usage event (see `UsageEvent` in @meterline/domain). */
export type { UsageBuckets };

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

  /** A nested object that may be absent or null (then empty). */
  optionalObject(parent: Record<string, unknown>, key: string): Record<string, unknown> {
    const value = parent[key];
    if (value === undefined || value === null) return {};
    return this.object(value, key);
  }

  /** A count. `required` counts throw when absent or null; optional ones read as 0. */
  count(obj: Record<string, unknown>, key: string, field: string, required: boolean): number {
    const value = obj[key];
    if (value === undefined || value === null) {
      if (required) this.fail(field, 'required', `missing (got ${value === null ? 'null' : 'nothing'}); it is required to split the usage`);
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

  /** Checks the buckets against the provider's reported total, when there is one. */
  checkTotal(buckets: UsageBuckets, reported: number | undefined, field: string, options: AdapterOptions | undefined): void {
    if (reported === undefined || options?.checkTotal === false) return;
    const sum = totalTokens(buckets);
    if (sum !== reported) {
      this.fail(
        field,
        'total_mismatch',
        `the buckets add up to ${sum} (input ${buckets.input_tokens} + cache_read ${buckets.cache_read_tokens} + cache_write ${buckets.cache_write_tokens} + output ${buckets.output_tokens} + reasoning ${buckets.reasoning_tokens}) but the provider reports ${reported}`,
      );
    }
  }

  /** An optional reported total. */
  optionalTotal(obj: Record<string, unknown>, key: string, field: string): number | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    return this.checkCount(value, field);
  }
}
