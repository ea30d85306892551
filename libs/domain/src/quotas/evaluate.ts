import { createHash } from 'node:crypto';
import type { TokenBucket, UsageEvent } from '../usage-event/usage-event';
import type { QuotaDefinition, QuotaEnforcement, QuotaMetric } from './definition';
import { quotaPeriod, type QuotaPeriod } from './period';

/** The event counts towards the quota: same tenant, and equal on every scope field the quota has. */
export function matchesQuota(
  def: Pick<QuotaDefinition, 'tenant_id' | 'scope'>,
  event: Pick<UsageEvent, 'tenant_id' | 'project_id' | 'api_key_hash' | 'model'>,
): boolean {
  if (event.tenant_id !== def.tenant_id) return false;
  const { project_id, api_key_hash, model } = def.scope;
  if (project_id !== undefined && event.project_id !== project_id) return false;
  if (api_key_hash !== undefined && event.api_key_hash !== api_key_hash) return false;
  if (model !== undefined && event.model !== model) return false;
  return true;
}

type TokenFields = Pick<UsageEvent, TokenBucket>;

/**
 * What one event adds to the quota's counter (see `quotaMetrics`). Buckets are disjoint, so:
 * total_tokens = prompt_tokens + completion_tokens = every bucket; prompt_tokens = input +
 * cache_read + cache_write (both TTLs) + audio and image input; completion_tokens = output +
 * reasoning + audio and image output; a bucket metric = that bucket; requests = 1;
 * cost_pico_usd / charge_pico_usd = the event's provider cost / customer charge (0 when that
 * side is unpriced).
 */
export function quotaAmount(def: Pick<QuotaDefinition, 'metric'>, event: TokenFields, money?: { costPico: bigint; chargePico: bigint }): bigint {
  const metric: QuotaMetric = def.metric;
  switch (metric) {
    case 'total_tokens':
      return bucketSum(event, promptBuckets) + bucketSum(event, completionBuckets);
    case 'prompt_tokens':
      return bucketSum(event, promptBuckets);
    case 'completion_tokens':
      return bucketSum(event, completionBuckets);
    case 'cache_read_tokens':
    case 'cache_write_tokens':
    case 'cache_write_1h_tokens':
    case 'reasoning_tokens':
    case 'audio_input_tokens':
    case 'audio_output_tokens':
    case 'image_input_tokens':
    case 'image_output_tokens':
      return BigInt(event[metric]);
    case 'requests':
      return 1n;
    case 'cost_pico_usd':
      return money?.costPico ?? 0n;
    case 'charge_pico_usd':
      return money?.chargePico ?? 0n;
  }
}

const count = (x: number): boolean => Number.isSafeInteger(x) && x >= 0;
/**
 * What a group of events adds to the quota's counter, from their sums (an hour's rollup, say):
 * every metric but `requests` is a sum of each event's buckets or money, so quotaAmount of the
 * sums is the sum of quotaAmount of the events; `requests` is their count.
 */
export function quotaAmountOfTotals(def: Pick<QuotaDefinition, 'metric'>, totals: TokenFields & { requests: number }, money: { costPico: bigint; chargePico: bigint }): bigint {
  return def.metric === 'requests' ? BigInt(totals.requests) : quotaAmount(def, totals, money);
}

const promptBuckets = ['input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'audio_input_tokens', 'image_input_tokens'] as const satisfies readonly TokenBucket[];
const completionBuckets = ['output_tokens', 'reasoning_tokens', 'audio_output_tokens', 'image_output_tokens'] as const satisfies readonly TokenBucket[];

/**
 * The sum of some buckets, exactly: one BigInt from a double sum while every part is a
 * non-negative safe integer and so is the sum (then no partial sum was rounded; this runs per
 * event and quota), else BigInt per part (which throws for a non-integer).
 */
function bucketSum(e: TokenFields, buckets: readonly TokenBucket[]): bigint {
  let sum = 0;
  let exact = true;
  for (const bucket of buckets) {
    const n = e[bucket];
    sum += n;
    if (!count(n)) exact = false;
  }
  if (exact && Number.isSafeInteger(sum)) return BigInt(sum);
  let big = 0n;
  for (const bucket of buckets) big += BigInt(e[bucket]);
  return big;
}

/**
 * The thresholds (percent of `limit`) that the counter crossed going from `before` to `after`:
 * those with `before * 100 < limit * t <= after * 100`. Integer arithmetic only, so 80 % of a
 * limit of 3 is crossed at exactly 2.4, i.e. when the counter reaches 3. Ascending.
 */
export function crossedThresholds(thresholds: readonly number[], limit: bigint, before: bigint, after: bigint): number[] {
  const lo = before * 100n;
  const hi = after * 100n;
  return thresholds
    .filter((t) => {
      if (!Number.isSafeInteger(t)) throw new RangeError(`threshold must be an integer percentage, got ${String(t)}`);
      const mark = limit * BigInt(t);
      return lo < mark && mark <= hi;
    })
    .sort((a, b) => a - b);
}

/**
 * Deterministic id of a threshold alert: the same crossing found twice (a replay, a second
 * consumer) gets the same id, so consumers of `quota-alerts` can drop repeats. The first 32 hex
 * characters of the SHA-256 of a JSON array of the parts (which cannot be ambiguous).
 */
export function alertId(tenant_id: string, quota_id: string, periodLabel: string, threshold: number): string {
  const canonical = JSON.stringify(['meterline.quota-alert/v1', tenant_id, quota_id, periodLabel, threshold]);
  return createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 32);
}

export interface QuotaStatus {
  quota_id: string;
  tenant_id: string;
  metric: QuotaMetric;
  enforcement: QuotaEnforcement;
  limit: bigint;
  used: bigint;
  /** `limit - used`, never below 0. */
  remaining: bigint;
  /** `used / limit` in percent, rounded down to 2 decimals. For display only; decisions use bigints. */
  percent_used: number;
  /** The limit is reached: `used >= limit`. */
  exceeded: boolean;
  /** False only for a hard quota that is exceeded. */
  allowed: boolean;
  period: QuotaPeriod;
  /** When the counter starts again from 0: the end of the period. */
  resets_at: number;
}

/** The status of a quota whose current-period counter is `used`, at `nowMs` (injected clock). */
export function evaluateQuota(def: QuotaDefinition, used: bigint, nowMs: number): QuotaStatus {
  if (used < 0n) throw new RangeError(`used must be >= 0, got ${used}`);
  if (def.limit <= 0n) throw new RangeError(`quota ${def.quota_id} has limit ${def.limit}; limits are positive`);
  const period = quotaPeriod(def, nowMs);
  const exceeded = used >= def.limit;
  return {
    quota_id: def.quota_id,
    tenant_id: def.tenant_id,
    metric: def.metric,
    enforcement: def.enforcement,
    limit: def.limit,
    used,
    remaining: exceeded ? 0n : def.limit - used,
    percent_used: Number((used * 10_000n) / def.limit) / 100,
    exceeded,
    allowed: !(def.enforcement === 'hard' && exceeded),
    period,
    resets_at: period.end,
  };
}

export interface AllowDecision {
  /** False when any hard quota is exceeded. */
  allowed: boolean;
  /** Every status given, in order. */
  quotas: QuotaStatus[];
  /** The statuses that refuse the call (hard and exceeded). */
  blocking: QuotaStatus[];
}

/** Combines the statuses of every quota that applies to a call. No quotas: allowed. */
export function checkAllowed(statuses: readonly QuotaStatus[]): AllowDecision {
  const blocking = statuses.filter((s) => !s.allowed);
  return { allowed: blocking.length === 0, quotas: [...statuses], blocking };
}
