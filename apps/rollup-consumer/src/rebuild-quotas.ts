import { MAX_QUOTA_LIMIT, matchesQuota, quotaAmountOfTotals, quotaPeriod, type QuotaDefinition, type QuotaPeriod, type TokenBucket } from '@meterline/domain';
import { UnrecoverableError } from '@meterline/platform';
import { redisKeys } from '@meterline/redis';
import { COUNTER_GRACE_MS } from './plan-batch';
import type { SlotShape, SlotTotals } from './rebuild-sources';

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Periods by kind, zone and now: every quota of one kind and zone has the same (2,000 quotas walked 36 days back each cost seconds). */
const inForce = new Map<string, QuotaPeriod[]>();

/** Every period of a quota whose counter the stream can still read: its end + grace is after now. */
export function periodsInForce(definition: QuotaDefinition, now: number): QuotaPeriod[] {
  const key = `${definition.period}|${definition.time_zone}|${now}`;
  let periods = inForce.get(key);
  if (periods === undefined) {
    periods = [];
    for (let period = quotaPeriod(definition, now); period.end + COUNTER_GRACE_MS > now; period = quotaPeriod(definition, period.start - 1)) periods.push(period);
    if (inForce.size >= 1_000) inForce.clear();
    inForce.set(key, periods);
  }
  return periods;
}

/**
 * Where a quota's counters are rebuilt from: the hourly rollups when they can answer it (no API
 * key scope, every period in force starts and ends on a UTC hour), else raw events' sums.
 */
export function routeQuotas(definitions: readonly QuotaDefinition[], now: number): { fromRollups: QuotaDefinition[]; fromRaw: QuotaDefinition[]; horizonMs: number } {
  const fromRollups: QuotaDefinition[] = [];
  const fromRaw: QuotaDefinition[] = [];
  let horizonMs = now;
  for (const definition of definitions) {
    const periods = periodsInForce(definition, now);
    for (const period of periods) horizonMs = Math.min(horizonMs, period.start);
    const hourly = definition.scope.api_key_hash === undefined && periods.every((p) => p.start % HOUR === 0 && p.end % HOUR === 0);
    (hourly ? fromRollups : fromRaw).push(definition);
  }
  return { fromRollups, fromRaw, horizonMs };
}

/**
 * How to slice these quotas' usage: tenants with a quota narrowing by project, by model keep that
 * dimension; tenants whose every quota's periods in force start and end on a UTC day get day
 * slots (a UTC day or month quota), the others the read's finest.
 */
export function slotShape(definitions: readonly QuotaDefinition[], now: number): SlotShape {
  const offDay = new Set(definitions.filter((d) => periodsInForce(d, now).some((p) => p.start % DAY !== 0 || p.end % DAY !== 0)).map((d) => d.tenant_id));
  return {
    byProject: [...new Set(definitions.filter((d) => d.scope.project_id !== undefined).map((d) => d.tenant_id))],
    byModel: [...new Set(definitions.filter((d) => d.scope.model !== undefined).map((d) => d.tenant_id))],
    byDay: [...new Set(definitions.map((d) => d.tenant_id))].filter((tenant) => !offDay.has(tenant)),
  };
}

export interface RebuiltCounter {
  key: string;
  definition: QuotaDefinition;
  period: QuotaPeriod;
  used: bigint;
}

const BUCKETS: readonly TokenBucket[] = ['input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens'];

function exactNumber(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UnrecoverableError('REBUILD_SUM_PAST_2_53', `a slot's ${what} of ${text} is past what a double holds exactly`);
  return n;
}

/**
 * Quota counters summed from slots of usage (rollup hours or raw quarter hours): each slot's
 * totals go to the period of every matching quota in force, through the domain's quota amount.
 */
export class QuotaCounterSums {
  readonly #byTenant = new Map<string, QuotaDefinition[]>();
  readonly #counters = new Map<string, RebuiltCounter>();
  /** quotaPeriod by (kind, zone, slot start): slots come in no time order, and a period costs a zone lookup. */
  readonly #periods = new Map<string, QuotaPeriod>();

  constructor(
    definitions: readonly QuotaDefinition[],
    private readonly now: number,
  ) {
    for (const definition of definitions) {
      const list = this.#byTenant.get(definition.tenant_id) ?? [];
      list.push(definition);
      this.#byTenant.set(definition.tenant_id, list);
    }
  }

  tenants(): string[] {
    return [...this.#byTenant.keys()];
  }

  /** Adds one slot (it must lie within one period of each quota it counts for). */
  add(slot: SlotTotals): void {
    const definitions = this.#byTenant.get(slot.tenant_id);
    if (definitions === undefined) return;
    const start = Number(slot.at);
    const spanMs = Number(slot.span);
    const scope = { tenant_id: slot.tenant_id, project_id: slot.project_id === '' ? null : slot.project_id, model: slot.model, api_key_hash: slot.api_key_hash };
    let totals: (Record<TokenBucket, number> & { requests: number }) | undefined;
    let money: { costPico: bigint; chargePico: bigint } | undefined;
    for (const definition of definitions) {
      if (!matchesQuota(definition, scope)) continue;
      const period = this.#period(definition, start);
      if (period.end + COUNTER_GRACE_MS <= this.now) continue;
      if (start + spanMs > period.end) throw new UnrecoverableError('REBUILD_PERIOD_UNALIGNED', `quota ${definition.quota_id} of ${definition.tenant_id}: its period ${period.label} ends within a ${spanMs} ms slot starting ${new Date(start).toISOString()}`);
      totals ??= { requests: exactNumber(slot.requests, 'requests'), ...(Object.fromEntries(BUCKETS.map((b) => [b, exactNumber(slot[b], b)])) as Record<TokenBucket, number>) };
      money ??= { costPico: BigInt(slot.cost_pico), chargePico: BigInt(slot.charge_pico) };
      const key = redisKeys.quotaCounter(definition.tenant_id, definition.quota_id, period.start);
      let counter = this.#counters.get(key);
      if (counter === undefined) this.#counters.set(key, (counter = { key, definition, period, used: 0n }));
      counter.used += quotaAmountOfTotals(definition, totals, money);
    }
  }

  #period(definition: QuotaDefinition, start: number): QuotaPeriod {
    const key = `${definition.period}|${definition.time_zone}|${start}`;
    let period = this.#periods.get(key);
    if (period === undefined) this.#periods.set(key, (period = quotaPeriod(definition, start)));
    return period;
  }

  /** The counters, each stopped at 2^63 - 1 as the script stops them (a Redis int64). */
  counters(): RebuiltCounter[] {
    return [...this.#counters.values()].map((c) => (c.used > MAX_QUOTA_LIMIT ? { ...c, used: MAX_QUOTA_LIMIT } : c));
  }
}
