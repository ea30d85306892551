import { createHash } from 'node:crypto';
import {
  classifyError,
  hourStart,
  matchesQuota,
  quotaAmount,
  quotaPeriod,
  statusClass,
  type EventMoney,
  type QuotaDefinition,
  type UsageEvent,
} from '@meterline/domain';
import { quotaCounterSuffix, redisKeys, tenantPrefix } from '@meterline/redis';

/** An event and where it sits in its partition. */
export interface OffsetEvent {
  offset: string;
  event: UsageEvent;
}

/** What the outbox's alert entries carry about their quota (copied back at publish time). */
export interface AlertMeta {
  tenant_id: string;
  quota_id: string;
  metric: string;
  period_label: string;
  period_start: number;
  period_end: number;
  limit: string;
  enforcement: string;
}

export interface TenantBatchPlan {
  tenantId: string;
  keys: [watermark: string, outbox: string];
  args: (string | number)[];
}

/** Quota counters outlive their period by this much (checkQuota of the last period, late events). */
export const COUNTER_GRACE_MS = 35 * 86_400_000;

/** 72 bits of SHA-1 of the event id: what the dedup sets store (a third of a UUID's size). */
export function eventIdHash(eventId: string): string {
  return createHash('sha1').update(eventId).digest('base64url').slice(0, 12);
}

const MONEY_SPLIT = 1_000_000n;
const SPLIT = 1_000_000;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A pico-USD amount as (hi, lo) with amount = hi * 10^6 + lo and 0 <= lo < 10^6: the form the
 * Lua script sums in doubles without losing a pico (see apply-usage-batch-2.lua).
 */
export function splitPico(amount: bigint): [hi: string | number, lo: string | number] {
  // Most amounts fit a double exactly: split them without BigInt division (once per event).
  if (amount <= MAX_SAFE && amount >= -MAX_SAFE) {
    const n = Number(amount);
    const lo = ((n % SPLIT) + SPLIT) % SPLIT;
    return [(n - lo) / SPLIT, lo];
  }
  let lo = amount % MONEY_SPLIT;
  if (lo < 0n) lo += MONEY_SPLIT;
  return [((amount - lo) / MONEY_SPLIT).toString(), lo.toString()];
}

/** Recombines the (hi, lo) sums a rollup hash holds. */
export function joinPico(hi: string | number | undefined, lo: string | number | undefined): bigint {
  return BigInt(hi ?? 0) * MONEY_SPLIT + BigInt(lo ?? 0);
}

/** The smallest amount at which `used` reaches `threshold` percent of `limit`: ceil(limit*t/100). */
export function thresholdTrigger(limit: bigint, threshold: number): bigint {
  const scaled = limit * BigInt(threshold);
  return (scaled + 99n) / 100n;
}

/**
 * Builds the arguments of apply-usage-batch-2.lua for one tenant's events (offset order) of
 * one partition batch. The script decides what is new, duplicate, late or a correction; this
 * only lays the events out with their rollup group and matching quota periods.
 */
export function planTenantBatch(
  tenantId: string,
  partition: number,
  events: readonly OffsetEvent[],
  quotas: readonly QuotaDefinition[],
  options: { allowedLatenessMs: number; dedupWindowSeconds: number; price: (event: UsageEvent) => EventMoney },
): TenantBatchPlan {
  const groups = new Map<string, number>();
  const groupArgs: (string | number)[] = [];
  const slots = new Map<string, number>();
  const slotArgs: (string | number)[] = [];
  const eventArgs: (string | number)[] = [];
  // Price versions: each id once per call, events refer to it by index (0: that side unpriced).
  const versions = new Map<string, number>();
  const versionIndex = (priced: boolean, id: string | null): number => {
    if (!priced) return 0;
    if (id === null) throw new Error('a priced side of an event must name its price version');
    let index = versions.get(id);
    if (index === undefined) versions.set(id, (index = versions.size + 1));
    return index;
  };

  for (const { offset, event } of events) {
    const hour = hourStart(event.occurred_at);
    const dims = JSON.stringify([event.project_id ?? '', event.provider, event.model, event.operation]);
    const groupKey = `${hour}|${dims}`;
    let gi = groups.get(groupKey);
    if (gi === undefined) {
      gi = groups.size + 1;
      groups.set(groupKey, gi);
      groupArgs.push(hour, dims);
    }
    const money = options.price(event);
    const matches: (string | number)[] = [];
    for (const quota of quotas) {
      if (!matchesQuota(quota, event)) continue;
      const amount = quotaAmount(quota, event, money);
      if (amount === 0n) continue;
      const period = quotaPeriod(quota, event.occurred_at);
      const slotKey = quotaCounterSuffix(quota.quota_id, period.start);
      let qi = slots.get(slotKey);
      if (qi === undefined) {
        qi = slots.size + 1;
        slots.set(slotKey, qi);
        const meta: AlertMeta = {
          tenant_id: tenantId,
          quota_id: quota.quota_id,
          metric: quota.metric,
          period_label: period.label,
          period_start: period.start,
          period_end: period.end,
          limit: quota.limit.toString(),
          enforcement: quota.enforcement,
        };
        slotArgs.push(slotKey, period.end + COUNTER_GRACE_MS, JSON.stringify(meta), quota.thresholds.length);
        for (const threshold of quota.thresholds) slotArgs.push(threshold, thresholdTrigger(quota.limit, threshold).toString());
      }
      matches.push(qi, amount.toString());
    }
    const errorClass = classifyError(event.error_type, event.status_code);
    eventArgs.push(
      offset,
      eventIdHash(event.event_id),
      gi,
      event.occurred_at,
      event.input_tokens,
      event.cache_read_tokens,
      event.cache_write_tokens,
      event.output_tokens,
      event.reasoning_tokens,
      errorClass ?? '',
      statusClass(event.status_code),
      event.latency_ms ?? -1,
      event.ttft_ms ?? -1,
      ...splitPico(money.costPico),
      ...splitPico(money.chargePico),
      ...splitPico(money.cacheSavingsPico),
      versionIndex(money.costPriced, money.costVersion),
      versionIndex(money.chargePriced, money.chargeVersion),
      matches.length / 2,
      ...matches,
    );
  }
  return {
    tenantId,
    keys: [redisKeys.watermark(tenantId, partition), redisKeys.outbox(tenantId, partition)],
    args: [
      tenantPrefix(tenantId),
      partition,
      options.allowedLatenessMs,
      options.dedupWindowSeconds,
      redisKeys.epoch(),
      groups.size,
      ...groupArgs,
      slots.size,
      ...slotArgs,
      versions.size,
      ...versions.keys(),
      events.length,
      ...eventArgs,
    ],
  };
}
