import { hash } from 'node:crypto';
import {
  classifyError,
  hourStart,
  matchesQuota,
  millisToMicros,
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
  partition: number;
  keys: [watermark: string, outbox: string];
  /** Strings and numbers, and one Buffer: the events, packed (see EVENT_FORMAT). */
  args: (string | number | Buffer)[];
}

/**
 * Each event travels packed in one binary argument, not as ~30 arguments: per argument, ioredis
 * and Redis pay more than the bytes cost (formatting, RESP framing, the ARGV table). The Lua
 * struct format of one event's fixed part (little-endian, no padding), as the script reads it:
 *   id hash, offset, group index, occurred_at, input, cache_read, cache_write, cache_write_1h,
 *   output, reasoning, audio_input, audio_output, image_input, image_output, error class index
 *   (0 = none), status class index, latency|-1, ttft|-1 (whole microseconds), cost hi/lo,
 *   charge hi/lo, savings hi/lo, cost version index, charge version index, K;
 * then K x QUOTA_ENTRY_FORMAT: quota slot index, amount (-1: past a double, sent as a string);
 * then U (H) and U x UNIT_ENTRY_FORMAT: unit index, count.
 * Every double holds an integer below 2^53, exactly.
 */
export const EVENT_FORMAT = '<c12 d I4 d dddddddddd B B d d d I4 d I4 d I4 H H H';
export const QUOTA_ENTRY_FORMAT = '<I4 d';
export const UNIT_ENTRY_FORMAT = '<H d';
const EVENT_FIXED_BYTES = 172;
const QUOTA_ENTRY_BYTES = 12;
const UNIT_ENTRY_BYTES = 10;
const ID_BYTES = 12;

/** Quota counters outlive their period by this much (checkQuota of the last period, late events). */
export const COUNTER_GRACE_MS = 35 * 86_400_000;

/** 72 bits of SHA-1 of the event id: what the dedup sets store (a third of a UUID's size). */
export function eventIdHash(eventId: string): string {
  // One-shot hash: no Hash object per event (about a tenth of the consumer's CPU otherwise).
  return hash('sha1', eventId, 'base64url').slice(0, 12);
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

/** A money hi part as a double: exact below 2^53 (one event of up to $9 billion). */
function moneyPart(part: string | number): number {
  const n = Number(part);
  if (!Number.isSafeInteger(n)) throw new RangeError(`an event's amount of ${String(part)} x 10^6 pico-USD is past what the script sums exactly`);
  return n;
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
 * The rollup dimensions as the script's group argument (JSON), memoised per combination in
 * nested maps (provider, model, operation, project): lookups of the event's own strings, no
 * key built per event.
 */
type DimsTree = Map<string, Map<string, Map<string, Map<string | null, string>>>>;
let dimsTree: DimsTree = new Map();
let dimsCount = 0;
function dimsOf(event: UsageEvent): string {
  let byModel = dimsTree.get(event.provider);
  if (byModel === undefined) dimsTree.set(event.provider, (byModel = new Map<string, Map<string, Map<string | null, string>>>()));
  let byOperation = byModel.get(event.model);
  if (byOperation === undefined) byModel.set(event.model, (byOperation = new Map<string, Map<string | null, string>>()));
  let byProject = byOperation.get(event.operation);
  if (byProject === undefined) byOperation.set(event.operation, (byProject = new Map<string | null, string>()));
  let dims = byProject.get(event.project_id);
  if (dims === undefined) {
    if (dimsCount >= 100_000) {
      dimsTree = new Map();
      dimsCount = 0;
    }
    dims = JSON.stringify([event.project_id ?? '', event.provider, event.model, event.operation]);
    byProject.set(event.project_id, dims);
    dimsCount++;
  }
  return dims;
}

/** Counts by index (error or status class, price version), in the order first seen. */
type IndexCounts = Map<number, number>;

/**
 * What a rollup group's events in one call add up to: the script's `sums` (see its header).
 * The script starts a group that no event can make late from these, and takes back the events
 * that do not count, instead of adding every event in Lua.
 */
export class GroupSums {
  static readonly FIELDS = 26;
  readonly values = new Float64Array(GroupSums.FIELDS);
  /** False once a sum passed 2^53: the script then sums the group event by event. */
  exact = true;
  readonly errorClasses: IndexCounts = new Map();
  readonly statusClasses: IndexCounts = new Map();
  readonly costVersions: IndexCounts = new Map();
  readonly chargeVersions: IndexCounts = new Map();
  /** Unit index -> count summed (not events): the fifth list. */
  readonly units: IndexCounts = new Map();

  /**
   * One event: class and version indexes as packed (0 = none / unpriced), latency and ttft in
   * whole microseconds (-1 when absent), its units as (index, count) pairs.
   */
  add(event: UsageEvent, errorClass: number, statusClassIndex: number, latency: number, ttft: number, money: readonly number[], costVersion: number, chargeVersion: number, units: readonly number[]): void {
    const v = this.values;
    v[0]! += 1;
    this.#sum(1, event.input_tokens);
    this.#sum(2, event.cache_read_tokens);
    this.#sum(3, event.cache_write_tokens);
    this.#sum(4, event.cache_write_1h_tokens);
    this.#sum(5, event.output_tokens);
    this.#sum(6, event.reasoning_tokens);
    this.#sum(7, event.audio_input_tokens);
    this.#sum(8, event.audio_output_tokens);
    this.#sum(9, event.image_input_tokens);
    this.#sum(10, event.image_output_tokens);
    if (errorClass > 0) {
      v[11]! += 1;
      count(this.errorClasses, errorClass);
    }
    count(this.statusClasses, statusClassIndex);
    if (latency >= 0) {
      this.#sum(12, latency);
      v[13]! += 1;
      if (latency > v[14]!) v[14] = latency;
    }
    if (ttft >= 0) {
      this.#sum(15, ttft);
      v[16]! += 1;
      if (ttft > v[17]!) v[17] = ttft;
    }
    for (let m = 0; m < 6; m++) this.#sum(18 + m, money[m]!);
    if (costVersion > 0) count(this.costVersions, costVersion);
    else v[24]! += 1;
    if (chargeVersion > 0) count(this.chargeVersions, chargeVersion);
    else v[25]! += 1;
    for (let u = 0; u < units.length; u += 2) {
      const sum = (this.units.get(units[u]!) ?? 0) + units[u + 1]!;
      if (sum > MAX_SAFE_NUMBER) this.exact = false;
      this.units.set(units[u]!, sum);
    }
  }

  #sum(field: number, value: number): void {
    const sum = (this.values[field]! += value);
    if (sum > MAX_SAFE_NUMBER || sum < -MAX_SAFE_NUMBER) this.exact = false;
  }

  /** The packed form, or '' when a sum is past what a double holds exactly. */
  pack(): Buffer | '' {
    if (!this.exact) return '';
    const lists = [this.errorClasses, this.statusClasses, this.costVersions, this.chargeVersions, this.units];
    const out = Buffer.allocUnsafe(8 * GroupSums.FIELDS + lists.reduce((n, list) => n + 2 + 10 * list.size, 0));
    let at = 0;
    for (const value of this.values) at = out.writeDoubleLE(value, at);
    for (const list of lists) {
      at = out.writeUInt16LE(list.size, at);
      for (const [index, n] of list) at = out.writeDoubleLE(n, out.writeUInt16LE(index, at));
    }
    return out;
  }
}

function count(counts: IndexCounts, index: number): void {
  counts.set(index, (counts.get(index) ?? 0) + 1);
}

const MAX_SAFE_NUMBER = Number.MAX_SAFE_INTEGER;

/**
 * Builds the arguments of apply-usage-batch-2.lua for one tenant's events (offset order) of
 * one partition batch. The script decides what is new, duplicate, late or a correction; this
 * lays the events out with their rollup group and matching quota periods, and sums each group
 * and quota over all the events (the script takes back what it does not count).
 */
export function planTenantBatch(
  tenantId: string,
  partition: number,
  events: readonly OffsetEvent[],
  quotas: readonly QuotaDefinition[],
  options: {
    allowedLatenessMs: number;
    dedupWindowSeconds: number;
    price: (event: UsageEvent) => EventMoney;
    /** The key whose presence lets the script apply (default the state epoch; a rebuild gives its lease). */
    stateKey?: string;
  },
): TenantBatchPlan {
  // Rollup groups by hour, then by dimensions (no per-event key string beyond the dims one).
  const groups = new Map<number, Map<string, number>>();
  const groupList: { hour: number; dims: string; sums: GroupSums }[] = [];
  const slots = new Map<string, number>();
  const slotArgs: (string | number)[] = [];
  // Per quota slot: where its total goes in slotArgs, and the total (-1: past a double).
  const slotTotals: { argAt: number; total: number }[] = [];
  let maxOccurredAt = 0;
  // Quota amounts a double cannot hold (past 2^53, or negative), as decimal strings.
  const bigAmounts: string[] = [];
  // Price versions, error and status classes: each name once per call, events refer to it by
  // index (version 0: that side unpriced; error class 0: none).
  const versions = new Map<string, number>();
  const versionIndex = (priced: boolean, id: string | null): number => {
    if (!priced) return 0;
    if (id === null) throw new Error('a priced side of an event must name its price version');
    let index = versions.get(id);
    if (index === undefined) versions.set(id, (index = versions.size + 1));
    return index;
  };
  const classes = { error: new Map<string, number>(), status: new Map<string, number>(), unit: new Map<string, number>() };
  const classIndex = (names: Map<string, number>, name: string): number => {
    let index = names.get(name);
    if (index === undefined) names.set(name, (index = names.size + 1));
    return index;
  };
  const lastSlot: ({ start: number; end: number; index: number } | undefined)[] = [];
  let unitEntries = 0;
  for (const { event } of events) for (const _ in event.units) unitEntries++;
  const packed = Buffer.allocUnsafe(events.length * (EVENT_FIXED_BYTES + QUOTA_ENTRY_BYTES * quotas.length + 2) + UNIT_ENTRY_BYTES * unitEntries);
  let at = 0;
  const putDouble = (value: number): void => {
    at = packed.writeDoubleLE(value, at);
  };
  const putUint32 = (value: number): void => {
    at = packed.writeUInt32LE(value, at);
  };
  const putUint16 = (value: number): void => {
    at = packed.writeUInt16LE(value, at);
  };
  const putUint8 = (value: number): void => {
    at = packed.writeUInt8(value, at);
  };
  const matches: number[] = [];
  const matchAmounts: number[] = [];
  const eventUnits: number[] = [];

  for (const { offset, event } of events) {
    const hour = hourStart(event.occurred_at);
    const dims = dimsOf(event);
    let ofHour = groups.get(hour);
    if (ofHour === undefined) groups.set(hour, (ofHour = new Map<string, number>()));
    let gi = ofHour.get(dims);
    if (gi === undefined) {
      groupList.push({ hour, dims, sums: new GroupSums() });
      gi = groupList.length;
      ofHour.set(dims, gi);
    }
    if (event.occurred_at > maxOccurredAt) maxOccurredAt = event.occurred_at;
    const money = options.price(event);
    matches.length = 0;
    matchAmounts.length = 0;
    for (let q = 0; q < quotas.length; q++) {
      const quota = quotas[q]!;
      if (!matchesQuota(quota, event)) continue;
      const amount = quotaAmount(quota, event, money);
      if (amount === 0n) continue;
      // Most events fall in the same period as the quota's previous one: reuse its slot.
      const last = lastSlot[q];
      let qi: number;
      if (last !== undefined && last.start <= event.occurred_at && event.occurred_at < last.end) qi = last.index;
      else {
        const period = quotaPeriod(quota, event.occurred_at);
        const slotKey = quotaCounterSuffix(quota.quota_id, period.start);
        let index = slots.get(slotKey);
        if (index === undefined) {
          index = slots.size + 1;
          slots.set(slotKey, index);
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
          slotTotals.push({ argAt: slotArgs.length + 3, total: 0 });
          slotArgs.push(slotKey, period.end + COUNTER_GRACE_MS, JSON.stringify(meta), 0, quota.thresholds.length);
          for (const threshold of quota.thresholds) slotArgs.push(threshold, thresholdTrigger(quota.limit, threshold).toString());
        }
        lastSlot[q] = { start: period.start, end: period.end, index };
        qi = index;
      }
      matches.push(qi);
      const slot = slotTotals[qi - 1]!;
      if (amount >= 0n && amount <= MAX_SAFE) {
        matchAmounts.push(Number(amount));
        if (slot.total >= 0) slot.total = slot.total + Number(amount) <= MAX_SAFE_NUMBER ? slot.total + Number(amount) : -1;
      } else {
        // HINCRBY adds the decimal string exactly, past 2^53 too.
        matchAmounts.push(-1);
        bigAmounts.push(amount.toString());
        slot.total = -1;
      }
    }
    const sourceOffset = Number(offset);
    if (!Number.isSafeInteger(sourceOffset)) throw new RangeError(`offset ${offset} is past 2^53: the script holds offsets in doubles`);
    const errorClass = classifyError(event.error_type, event.status_code);
    const [costHi, costLo] = splitPico(money.costPico);
    const [chargeHi, chargeLo] = splitPico(money.chargePico);
    const [savingsHi, savingsLo] = splitPico(money.cacheSavingsPico);
    const moneyParts = [moneyPart(costHi), Number(costLo), moneyPart(chargeHi), Number(chargeLo), moneyPart(savingsHi), Number(savingsLo)];
    const errorIndex = errorClass === null ? 0 : classIndex(classes.error, errorClass);
    const statusIndex = classIndex(classes.status, statusClass(event.status_code));
    // Whole microseconds: the script sums integers exactly (fractional ms would not be).
    const latency = event.latency_ms === null ? -1 : millisToMicros(event.latency_ms);
    const ttft = event.ttft_ms === null ? -1 : millisToMicros(event.ttft_ms);
    const costVersion = versionIndex(money.costPriced, money.costVersion);
    const chargeVersion = versionIndex(money.chargePriced, money.chargeVersion);
    eventUnits.length = 0;
    for (const name in event.units) {
      const n = event.units[name]!;
      if (n > 0) eventUnits.push(classIndex(classes.unit, name), n);
    }
    groupList[gi - 1]!.sums.add(event, errorIndex, statusIndex, latency, ttft, moneyParts, costVersion, chargeVersion, eventUnits);
    at += packed.write(eventIdHash(event.event_id), at, ID_BYTES, 'latin1');
    putDouble(sourceOffset);
    putUint32(gi);
    putDouble(event.occurred_at);
    putDouble(event.input_tokens);
    putDouble(event.cache_read_tokens);
    putDouble(event.cache_write_tokens);
    putDouble(event.cache_write_1h_tokens);
    putDouble(event.output_tokens);
    putDouble(event.reasoning_tokens);
    putDouble(event.audio_input_tokens);
    putDouble(event.audio_output_tokens);
    putDouble(event.image_input_tokens);
    putDouble(event.image_output_tokens);
    putUint8(errorIndex);
    putUint8(statusIndex);
    putDouble(latency);
    putDouble(ttft);
    putDouble(moneyParts[0]!);
    putUint32(moneyParts[1]!);
    putDouble(moneyParts[2]!);
    putUint32(moneyParts[3]!);
    putDouble(moneyParts[4]!);
    putUint32(moneyParts[5]!);
    putUint16(costVersion);
    putUint16(chargeVersion);
    putUint16(matches.length);
    for (let m = 0; m < matches.length; m++) {
      putUint32(matches[m]!);
      putDouble(matchAmounts[m]!);
    }
    putUint16(eventUnits.length / 2);
    for (let u = 0; u < eventUnits.length; u += 2) {
      putUint16(eventUnits[u]!);
      putDouble(eventUnits[u + 1]!);
    }
  }
  for (const { argAt, total } of slotTotals) slotArgs[argAt] = total;
  return {
    tenantId,
    partition,
    keys: [redisKeys.watermark(tenantId, partition), redisKeys.outbox(tenantId, partition)],
    args: [
      tenantPrefix(tenantId),
      partition,
      options.allowedLatenessMs,
      options.dedupWindowSeconds,
      options.stateKey ?? redisKeys.epoch(),
      groupList.length,
      ...groupList.flatMap(({ hour, dims, sums }) => [hour, dims, sums.pack()]),
      slots.size,
      ...slotArgs,
      versions.size,
      ...versions.keys(),
      classes.error.size,
      ...classes.error.keys(),
      classes.status.size,
      ...classes.status.keys(),
      classes.unit.size,
      ...classes.unit.keys(),
      maxOccurredAt,
      events.length,
      packed.subarray(0, at),
      ...bigAmounts,
    ],
  };
}
