import { lineNames, rateEvent, serviceTierOf, type LineName, type PriceBooks, type TokenBucket } from '@meterline/domain';
import { quoteIdentifier, UsageRollupsTable, type ClickHouseHandle, type UsageEventRow } from '@meterline/clickhouse';

/**
 * Re-rating: after a price change (or a price added for an unpriced model), recompute cost and
 * charge of a tenant's usage in [from, to) from the deduplicated raw events, with the books in
 * force now, and bring the hourly rollups to the new amounts.
 *
 * The difference per (hour, dimensions) is written as one re-rating row in usage_rollups_hourly
 * (kind correction, source_partition RERATE_PARTITION, correction_offset -1, version = run time):
 * money only, tokens 0, unpriced counts as the (signed) change, and the price versions the new
 * books priced the group with. A later run replaces it (same key, newer version), so re-rating
 * twice changes nothing. Redis quota counters are not changed.
 *
 * The raw rows whose money changed are copied in ClickHouse (every stored column, so nothing
 * of the event is lost) with the new amounts and price versions: the same ReplacingMergeTree
 * version as the stored copy, and of equal versions the last written is kept, so each raw row
 * keeps answering what its call cost (and raw money per hour stays equal to the rollups').
 */
export const RERATE_PARTITION = 4_294_967_295;

export interface RerateDiff {
  tenant_id: string;
  provider: string;
  model: string;
  side: 'cost' | 'charge';
  /** A price line (input, cache_read, ...), or `total`. */
  bucket: LineName | 'total';
  /** pico-USD before: per line with the previous books (null when they were not given), for `total` what the rollups hold. */
  old: bigint | null;
  new: bigint;
  /** Events a book could not price, before and after. */
  oldUnpriced: number;
  newUnpriced: number;
}

export interface RerateResult {
  events: number;
  rowsWritten: number;
  /** Raw rows written again with new money. */
  rawRowsRepriced: number;
  diffs: RerateDiff[];
}

interface GroupMoney {
  hour: number;
  project_id: string;
  provider: string;
  model: string;
  operation: string;
  cost: bigint;
  charge: bigint;
  savings: bigint;
  unpricedCost: number;
  unpricedCharge: number;
}

const dimsKey = (g: { hour: number; project_id: string; provider: string; model: string; operation: string }): string => JSON.stringify([g.hour, g.project_id, g.provider, g.model, g.operation]);

/** The tenant's deduplicated raw rows of [from, to), with the money they were stored with. */
async function rawEvents(handle: ClickHouseHandle, tenant: string, from: number, to: number): Promise<UsageEventRow[]> {
  const db = quoteIdentifier(handle.database);
  const result = await handle.client.query({
    query: `SELECT event_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, tenant_id, project_id, api_key_hash, client_id, user_id, trace_id, endpoint_id,
                   provider, model, operation, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
                   cache_write_1h_tokens, audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens, units, service_tier,
                   toFloat64(latency_ms) AS latency_ms, toFloat64(ttft_ms) AS ttft_ms, status_code, error_type, metadata, source_partition, source_offset,
                   toString(cost_pico) AS cost, toString(charge_pico) AS charge, cost_price_version, charge_price_version
            FROM ${db}.usage_events FINAL
            WHERE tenant_id = {tenant:String} AND occurred_at >= fromUnixTimestamp64Milli({from:Int64}) AND occurred_at < fromUnixTimestamp64Milli({to:Int64})`,
    query_params: { tenant, from, to },
    format: 'JSONEachRow',
  });
  type Counted = TokenBucket | 'units';
  type Stored = Omit<UsageEventRow, 'occurred_at' | Counted | 'cost_pico' | 'charge_pico' | 'cost_price_version' | 'charge_price_version'>
    & Record<'occurred_ms' | TokenBucket | 'cost' | 'charge' | 'cost_price_version' | 'charge_price_version', string> & { units: Record<string, string | number> };
  const rows = await result.json<Stored>();
  const version = (v: string): string | null => (v === '' ? null : v);
  return rows.map(({ occurred_ms, cost, charge, cost_price_version, charge_price_version, ...r }) => ({
    ...r,
    occurred_at: Number(occurred_ms),
    input_tokens: Number(r.input_tokens), cache_read_tokens: Number(r.cache_read_tokens), cache_write_tokens: Number(r.cache_write_tokens),
    output_tokens: Number(r.output_tokens), reasoning_tokens: Number(r.reasoning_tokens), cache_write_1h_tokens: Number(r.cache_write_1h_tokens),
    audio_input_tokens: Number(r.audio_input_tokens), audio_output_tokens: Number(r.audio_output_tokens),
    image_input_tokens: Number(r.image_input_tokens), image_output_tokens: Number(r.image_output_tokens),
    units: Object.fromEntries(Object.entries(r.units).map(([name, n]) => [name, Number(n)])),
    cost_pico: BigInt(cost), charge_pico: BigInt(charge), cost_price_version: version(cost_price_version), charge_price_version: version(charge_price_version),
  }));
}

/** The stored money columns, which a copy fills from the new amounts (their DEFAULTs, migration 0007). */
const STORED_MONEY = ['cost_pico64', 'cost_pico_wide', 'charge_pico64', 'charge_pico_wide', 'cost_price_version', 'charge_price_version_or_same'];

interface NewMoney {
  event_id: string;
  hour: number;
  cost: string;
  charge: string;
  cost_version: string;
  charge_version: string;
}

/** Copies the tenant's raw rows of [from, to) named in `money` with those amounts and versions. */
async function repriceRawRows(handle: ClickHouseHandle, tenant: string, from: number, to: number, money: readonly NewMoney[], token: string): Promise<void> {
  if (money.length === 0) return;
  const db = quoteIdentifier(handle.database);
  const scratch = `${db}.${quoteIdentifier(`rerate_money_${token.replace(/[^A-Za-z0-9]/g, '_')}`)}`;
  const columns = (await (await handle.client.query({
    query: `SELECT name FROM system.columns WHERE database = {db:String} AND table = 'usage_events' AND default_kind NOT IN ('ALIAS', 'EPHEMERAL', 'MATERIALIZED') ORDER BY position`,
    query_params: { db: handle.database },
    format: 'JSONEachRow',
  })).json<{ name: string }>()).map((c) => c.name).filter((name) => !STORED_MONEY.includes(name));
  await handle.client.command({ query: `CREATE TABLE ${scratch} (event_id String, hour DateTime('UTC'), cost Int128, charge Int128, cost_version String, charge_version String) ENGINE = Memory` });
  try {
    await handle.client.insert({ table: scratch, values: money.map((m) => ({ ...m, hour: m.hour / 1000 })), format: 'JSONEachRow' });
    await handle.client.command({
      query: `INSERT INTO ${db}.usage_events (${columns.map((c) => quoteIdentifier(c)).join(', ')}, cost_pico_input, charge_pico_input, cost_price_version, charge_price_version_input)
              SELECT ${columns.map((c) => `e.${quoteIdentifier(c)}`).join(', ')}, n.cost, n.charge, n.cost_version, n.charge_version
              FROM ${db}.usage_events AS e FINAL
              INNER JOIN ${scratch} AS n ON e.event_id = n.event_id AND toStartOfHour(e.occurred_at) = n.hour
              WHERE e.tenant_id = {tenant:String} AND e.occurred_at >= fromUnixTimestamp64Milli({from:Int64}) AND e.occurred_at < fromUnixTimestamp64Milli({to:Int64})`,
      query_params: { tenant, from, to },
      clickhouse_settings: { insert_deduplication_token: token },
    });
  } finally {
    await handle.client.command({ query: `DROP TABLE IF EXISTS ${scratch}` });
  }
}

/** What the rollups hold per (hour, dimensions): with or without the re-rating rows. */
async function recorded(handle: ClickHouseHandle, tenant: string, from: number, to: number, withRerating: boolean): Promise<Map<string, GroupMoney>> {
  const db = quoteIdentifier(handle.database);
  const result = await handle.client.query({
    query: `SELECT toUnixTimestamp(hour) * 1000 AS hour_ms, project_id, provider, model, operation,
                   toString(sum(cost_pico)) AS cost, toString(sum(charge_pico)) AS charge, toString(sum(cache_savings_pico)) AS savings,
                   sum(unpriced_cost_events) AS unpriced_cost, sum(unpriced_charge_events) AS unpriced_charge
            FROM ${db}.usage_rollups_hourly FINAL
            WHERE tenant_id = {tenant:String} AND hour >= toDateTime({from:Int64}) AND hour < toDateTime({to:Int64}) ${withRerating ? '' : `AND source_partition != ${RERATE_PARTITION}`}
            GROUP BY hour_ms, project_id, provider, model, operation`,
    query_params: { tenant, from: Math.floor(from / 1000), to: Math.ceil(to / 1000) },
    format: 'JSONEachRow',
  });
  const rows = await result.json<{ hour_ms: string | number; project_id: string; provider: string; model: string; operation: string; cost: string; charge: string; savings: string; unpriced_cost: string | number; unpriced_charge: string | number }>();
  return new Map(rows.map((r) => {
    const g: GroupMoney = { hour: Number(r.hour_ms), project_id: r.project_id, provider: r.provider, model: r.model, operation: r.operation, cost: BigInt(r.cost), charge: BigInt(r.charge), savings: BigInt(r.savings), unpricedCost: Number(r.unpriced_cost), unpricedCharge: Number(r.unpriced_charge) };
    return [dimsKey(g), g];
  }));
}

/**
 * Re-rates a tenant's usage in [from, to) (whole hours) with `books`; `previousBooks`, when
 * given, fills the per-line `old` amounts of the diff report.
 */
export async function rerateUsage(handle: ClickHouseHandle, options: { tenant: string; from: number; to: number; books: PriceBooks; previousBooks?: PriceBooks; clock?: () => number }): Promise<RerateResult> {
  const { tenant, from, to, books, previousBooks } = options;
  const events = await rawEvents(handle, tenant, from, to);
  // Re-rating rows replace each other: the new row is computed against the stream's own rows;
  // the report's `old` is what the rollups say now (earlier re-ratings included).
  const before = await recorded(handle, tenant, from, to, false);
  const current = await recorded(handle, tenant, from, to, true);

  const after = new Map<string, GroupMoney>();
  const versionsAfter = new Map<string, { cost: Set<string>; charge: Set<string> }>();
  const diffs = new Map<string, RerateDiff>();
  const diff = (provider: string, model: string, side: 'cost' | 'charge', bucket: LineName | 'total'): RerateDiff => {
    const key = `${provider}/${model}/${side}/${bucket}`;
    let d = diffs.get(key);
    if (!d) diffs.set(key, (d = { tenant_id: tenant, provider, model, side, bucket, old: bucket === 'total' ? 0n : previousBooks ? 0n : null, new: 0n, oldUnpriced: 0, newUnpriced: 0 }));
    return d;
  };
  const rate = (b: PriceBooks, usage: Parameters<typeof rateEvent>[3]) => rateEvent(b.rateCard, b.overrides, b.costBook, usage);
  const repriced: NewMoney[] = [];
  for (const e of events) {
    // Both sides once per event with the new books (and once with the previous ones, if given).
    const usage = { ...e, tier: serviceTierOf(e) };
    const now = rate(books, usage);
    const money = {
      cost_pico: now.cost.priced ? now.cost.total : 0n, charge_pico: now.charge.priced ? now.charge.total : 0n,
      cost_price_version: now.cost.priced ? now.cost.priceVersionId : null, charge_price_version: now.charge.priced ? now.charge.priceVersionId : null,
    };
    if (money.cost_pico !== e.cost_pico || money.charge_pico !== e.charge_pico || money.cost_price_version !== e.cost_price_version || money.charge_price_version !== e.charge_price_version) {
      repriced.push({
        event_id: e.event_id, hour: Math.floor(e.occurred_at / 3_600_000) * 3_600_000, cost: money.cost_pico.toString(), charge: money.charge_pico.toString(),
        cost_version: money.cost_price_version ?? '', charge_version: money.charge_price_version ?? '',
      });
    }
    const then = previousBooks ? rate(previousBooks, usage) : undefined;
    const hour = Math.floor(e.occurred_at / 3_600_000) * 3_600_000;
    const key = dimsKey({ hour, project_id: e.project_id ?? '', provider: e.provider, model: e.model, operation: e.operation });
    let g = after.get(key);
    if (!g) after.set(key, (g = { hour, project_id: e.project_id ?? '', provider: e.provider, model: e.model, operation: e.operation, cost: 0n, charge: 0n, savings: 0n, unpricedCost: 0, unpricedCharge: 0 }));
    let used = versionsAfter.get(key);
    if (!used) versionsAfter.set(key, (used = { cost: new Set(), charge: new Set() }));
    if (now.cost.priced) {
      g.cost += now.cost.total;
      g.savings += now.cost.cacheSavings;
      used.cost.add(now.cost.priceVersionId);
    } else g.unpricedCost++;
    if (now.charge.priced) {
      g.charge += now.charge.total;
      used.charge.add(now.charge.priceVersionId);
    } else g.unpricedCharge++;
    // Per line, both sides, with the new books and (when given) the previous ones.
    for (const side of ['cost', 'charge'] as const) {
      const priced = now[side];
      const before = then?.[side];
      for (const line of lineNames) {
        const d = diff(e.provider, e.model, side, line);
        if (priced.priced) d.new += priced.lines[line];
        if (before?.priced && d.old !== null) d.old += before.lines[line];
        if (before !== undefined && !before.priced) d.oldUnpriced++;
      }
      const total = diff(e.provider, e.model, side, 'total');
      if (priced.priced) total.new += priced.total;
      else total.newUnpriced++;
    }
  }
  for (const g of current.values()) {
    diff(g.provider, g.model, 'cost', 'total').old! += g.cost;
    diff(g.provider, g.model, 'cost', 'total').oldUnpriced += g.unpricedCost;
    diff(g.provider, g.model, 'charge', 'total').old! += g.charge;
    diff(g.provider, g.model, 'charge', 'total').oldUnpriced += g.unpricedCharge;
  }

  // One re-rating row per (hour, dimensions) whose money differs from what the rollups hold.
  const version = (options.clock ?? Date.now)();
  const rows = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const was = before.get(key);
    const now = after.get(key);
    const g = (now ?? was)!;
    const delta = {
      cost: (now?.cost ?? 0n) - (was?.cost ?? 0n),
      charge: (now?.charge ?? 0n) - (was?.charge ?? 0n),
      savings: (now?.savings ?? 0n) - (was?.savings ?? 0n),
      unpricedCost: (now?.unpricedCost ?? 0) - (was?.unpricedCost ?? 0),
      unpricedCharge: (now?.unpricedCharge ?? 0) - (was?.unpricedCharge ?? 0),
    };
    rows.push({
      kind: 'correction' as const, tenant_id: tenant, project_id: g.project_id, provider: g.provider, model: g.model, operation: g.operation,
      hour_start: g.hour, source_partition: RERATE_PARTITION, correction_offset: -1, version,
      requests: 0, input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 0, output_tokens: 0, reasoning_tokens: 0,
      audio_input_tokens: 0, audio_output_tokens: 0, image_input_tokens: 0, image_output_tokens: 0, units: {}, errors: 0,
      errors_by_class: {}, requests_by_status_class: {}, latency_ms_sum: 0, latency_ms_max: 0, latency_count: 0, ttft_ms_sum: 0, ttft_ms_max: 0, ttft_count: 0,
      latency_us_sum: 0, latency_us_max: 0, ttft_us_sum: 0, ttft_us_max: 0, late_events: 0,
      cost_pico: delta.cost.toString(), charge_pico: delta.charge.toString(), cache_savings_pico: delta.savings.toString(),
      unpriced_cost_events: delta.unpricedCost, unpriced_charge_events: delta.unpricedCharge,
      cost_price_versions: [...(versionsAfter.get(key)?.cost ?? [])].sort(),
      charge_price_versions: [...(versionsAfter.get(key)?.charge ?? [])].sort(),
    });
  }
  // Every group gets its row (zero when unchanged), so a run replaces whatever an earlier run wrote.
  await new UsageRollupsTable(handle).insert(rows, `rerate:${tenant}:${from}:${to}:${version}`);
  await repriceRawRows(handle, tenant, from, to, repriced, `rerate-raw-${version}-${from}-${to}`);
  const ordered = [...diffs.values()].sort((a, b) => `${a.provider}/${a.model}/${a.side}`.localeCompare(`${b.provider}/${b.model}/${b.side}`) || (a.bucket === 'total' ? 1 : b.bucket === 'total' ? -1 : lineNames.indexOf(a.bucket) - lineNames.indexOf(b.bucket)));
  return { events: events.length, rowsWritten: rows.length, rawRowsRepriced: repriced.length, diffs: ordered };
}

/** The diff report as CSV: tenant, provider, model, side, bucket, old, new, change, unpriced before/after. */
export function rerateReportCsv(diffs: readonly RerateDiff[]): string {
  const lines = ['tenant_id,provider,model,side,bucket,old_pico_usd,new_pico_usd,change_pico_usd,old_unpriced_events,new_unpriced_events'];
  const q = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  for (const d of diffs) {
    lines.push([q(d.tenant_id), q(d.provider), q(d.model), d.side, d.bucket, d.old?.toString() ?? '', d.new.toString(), d.old === null ? '' : (d.new - d.old).toString(), d.oldUnpriced, d.newUnpriced].join(','));
  }
  return `${lines.join('\n')}\n`;
}

export interface UnpricedUsage {
  provider: string;
  model: string;
  unpriced_cost_events: number;
  unpriced_charge_events: number;
  tenants: number;
}

/** Models with unpriced events in [from, to), from the rollups (re-rated ones net out). */
export async function listUnpriced(handle: ClickHouseHandle, from: number, to: number): Promise<UnpricedUsage[]> {
  const db = quoteIdentifier(handle.database);
  const result = await handle.client.query({
    query: `SELECT provider, model, sum(unpriced_cost_events) AS unpriced_cost_events, sum(unpriced_charge_events) AS unpriced_charge_events, uniqExact(tenant_id) AS tenants
            FROM ${db}.usage_hourly WHERE hour >= toDateTime({from:Int64}) AND hour < toDateTime({to:Int64})
            GROUP BY provider, model HAVING unpriced_cost_events != 0 OR unpriced_charge_events != 0 ORDER BY provider, model`,
    query_params: { from: Math.floor(from / 1000), to: Math.ceil(to / 1000) },
    format: 'JSONEachRow',
  });
  return (await result.json<Record<string, string | number>>()).map((r) => ({ provider: String(r.provider), model: String(r.model), unpriced_cost_events: Number(r.unpriced_cost_events), unpriced_charge_events: Number(r.unpriced_charge_events), tenants: Number(r.tenants) }));
}
