import { wholeUtcDays, zoneIsUtc } from '@meterline/domain';
import { quoteIdentifier, type ClickHouseHandle } from './client';
import { cleanDays, rollupMeasures } from './daily-rollups';
import { errorClassSql, statusClassSql } from './error-class-sql';

/** Dimensions of the hourly rollups. */
export const rollupQueryDimensions = ['tenant', 'project', 'provider', 'model', 'operation'] as const;
/** Dimensions only the raw events have: a query that groups or filters by one reads usage_events. */
export const rawOnlyDimensions = ['api_key_hash', 'status_class', 'error_class'] as const;
/** Every dimension a query may group and filter by. */
export const usageDimensions = [...rollupQueryDimensions, ...rawOnlyDimensions] as const;
export type UsageDimension = (typeof usageDimensions)[number];
export const usageGranularities = ['none', 'hour', 'day', 'month'] as const;
export type UsageGranularity = (typeof usageGranularities)[number];

// The raw path's source rows name the raw-only dimensions after themselves.
const COLUMN: Record<UsageDimension, string> = { tenant: 'tenant_id', project: 'project_id', provider: 'provider', model: 'model', operation: 'operation', api_key_hash: 'api_key_hash', status_class: 'status_class', error_class: 'error_class' };
// The measures are rollupMeasures (daily-rollups.ts), the one list both rollup tables share.
const SUMS = rollupMeasures.sum;
const MAXES = rollupMeasures.max;

export interface DimensionFilter {
  in?: readonly string[] | undefined;
  not_in?: readonly string[] | undefined;
}

export interface UsageQuery {
  /** Half-open [fromMs, toMs), both on whole UTC hours (the rollups are hourly). */
  fromMs: number;
  toMs: number;
  granularity: UsageGranularity;
  /** IANA zone of day and month buckets. */
  timeZone: string;
  groupBy: readonly UsageDimension[];
  filters: Partial<Record<UsageDimension, DimensionFilter>>;
  limit: number;
  /** The key of the last row of the previous page (keyset pagination). */
  after?: readonly string[] | undefined;
}

/** One answer row: the bucket start (epoch ms, absent for `none`), the grouped dimensions and every sum as a decimal string. */
export interface UsageQueryRow {
  bucket_ms: number | null;
  dimensions: Partial<Record<UsageDimension, string>>;
  sums: Record<(typeof SUMS)[number] | (typeof MAXES)[number], string>;
  /** HTTP status class (2xx...) -> requests, error class -> errors, unit name -> units. */
  requests_by_status_class: Record<string, string>;
  errors_by_class: Record<string, string>;
  units: Record<string, string>;
  cost_price_versions: string[];
  charge_price_versions: string[];
}

export interface UsageQueryPage {
  rows: UsageQueryRow[];
  /** The key to pass as `after` for the next page; absent on the last page. */
  next?: string[] | undefined;
}

/**
 * Usage over the exact rollups, summed into buckets and groups in ClickHouse. Whole UTC days
 * that the daily table answers exactly (sealed, unchanged since: see daily-rollups.ts) are read
 * from it when the buckets are made of whole UTC days (totals, or day and month buckets in a
 * zone that is UTC over the range); every other hour is read from the hourly rollups (FINAL:
 * the newest cumulative row per source partition, plus corrections). Day and month buckets are
 * taken in `timeZone` from whole hours, so zones whose offset is not a whole hour are refused by
 * the caller. Rows come sorted by bucket then dimensions; a page ends after `limit` rows, and
 * `after` continues after a given row key.
 */
export async function queryUsage(handle: ClickHouseHandle, query: UsageQuery): Promise<UsageQueryPage> {
  const params: Record<string, unknown> = { from: query.fromMs / 1000, to: query.toMs / 1000, tz: query.timeZone };
  const dims = query.groupBy.map((d) => `${COLUMN[d]} AS ${d}`);
  const keyColumns = [...(query.granularity === 'none' ? [] : ['bucket']), ...query.groupBy];
  const having = query.after === undefined || keyColumns.length === 0 ? '' : `HAVING (${keyColumns.map((c) => (c === 'bucket' ? 'toUnixTimestamp(bucket)' : c)).join(', ')}) > (${afterValues(query.after, keyColumns, params)})`;
  const sql = `
    SELECT ${[bucketExpression(query.granularity), 'toUnixTimestamp(bucket) AS bucket_s', ...dims].join(', ')},
           ${SUMS.map((m) => `toString(sum(${m})) AS ${m}`).join(', ')},
           ${MAXES.map((m) => `toString(max(${m})) AS ${m}`).join(', ')},
           ${rollupMeasures.sumMap.map((m) => `sumMap(${m}) AS ${m}`).join(', ')},
           arraySort(groupUniqArrayArray(cost_price_versions)) AS cost_price_versions,
           arraySort(groupUniqArrayArray(charge_price_versions)) AS charge_price_versions
    FROM (${readsRawEvents(query) ? rawSourceRows(handle, query, params) : await sourceRows(handle, query, params)})
    GROUP BY ${keyColumns.length === 0 ? 'tuple()' : keyColumns.join(', ')}
    ${having}
    ORDER BY ${keyColumns.length === 0 ? 'tuple()' : keyColumns.join(', ')}
    LIMIT ${query.limit + 1}`;
  const result = await handle.client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
  const raw = await result.json<RawRow>();
  const rows = raw.slice(0, query.limit).map((r) => toRow(r, query));
  const last = rows.at(-1);
  const next = raw.length > query.limit && last !== undefined ? keyOf(last, query) : undefined;
  return { rows, next };
}

/**
 * Each tenant's usage over every hour the rollups hold (one row per tenant, sorted): the usage
 * query's totals from the first to the last stored hour, so sealed months and days are read from
 * the daily table and only the rest from the hourly rows.
 */
export async function lifetimeUsage(handle: ClickHouseHandle, tenant?: string): Promise<UsageQueryRow[]> {
  const span = await rollupSpan(handle, tenant);
  if (span === undefined) return [];
  const rows: UsageQueryRow[] = [];
  let after: string[] | undefined;
  do {
    const page = await queryUsage(handle, { ...span, granularity: 'none', timeZone: 'UTC', groupBy: ['tenant'], filters: tenant === undefined ? {} : { tenant: { in: [tenant] } }, limit: 10_000, after });
    rows.push(...page.rows);
    after = page.next;
  } while (after !== undefined);
  return rows;
}

/** [first stored hour, last stored hour + 1 h) of the hourly rollups (of one tenant), or undefined when there are none. */
async function rollupSpan(handle: ClickHouseHandle, tenant: string | undefined): Promise<{ fromMs: number; toMs: number } | undefined> {
  const [span] = await (await handle.client.query({
    query: `SELECT count() AS rows, toUnixTimestamp(min(hour)) AS first_s, toUnixTimestamp(max(hour)) AS last_s
            FROM ${quoteIdentifier(handle.database)}.usage_rollups_hourly ${tenant === undefined ? '' : 'WHERE tenant_id = {tenant:String}'}`,
    query_params: { tenant: tenant ?? '' },
    format: 'JSONEachRow',
  })).json<{ rows: string; first_s: number; last_s: number }>();
  if (span === undefined || span.rows === '0') return undefined;
  return { fromMs: span.first_s * 1000, toMs: span.last_s * 1000 + 3_600_000 };
}

/** Whether the query groups or filters by a dimension only the raw events have. */
export function readsRawEvents(query: Pick<UsageQuery, 'groupBy' | 'filters'>): boolean {
  return rawOnlyDimensions.some((d) => query.groupBy.includes(d) || query.filters[d] !== undefined);
}

/**
 * The raw path: one row per distinct event of the range, shaped like a rollup row (the same
 * measure names), so the outer aggregation, buckets and pagination are the rollup path's. FINAL
 * keeps the copy of each event the table keeps (restricted by the tenant filter and the range,
 * both on the sorting key). Measures the raw rows cannot give: late_events and cache_savings_pico
 * are 0 (lateness and savings are worked out by the rollup consumer, not stored per event);
 * unpriced counts are the rows whose price version is empty (unpriced, or stored before 0007).
 */
function rawSourceRows(handle: ClickHouseHandle, query: UsageQuery, params: Record<string, unknown>): string {
  const within = ['occurred_at >= toDateTime64({from:UInt32}, 3, \'UTC\')', 'occurred_at < toDateTime64({to:UInt32}, 3, \'UTC\')'];
  const tenant = query.filters.tenant;
  if (tenant?.in !== undefined) {
    params.raw_tenants = tenant.in;
    within.push('tenant_id IN {raw_tenants:Array(String)}');
  }
  const latency = (m: 'latency_ms' | 'ttft_ms') => `ifNull(${m}, toDecimal64(0, 3)) AS ${m}_sum, ifNull(${m}, toDecimal64(0, 3)) AS ${m}_max, toUInt64(${m} IS NOT NULL) AS ${m.replace('_ms', '')}_count`;
  const tokens = rollupMeasures.sum.filter((m) => m.endsWith('_tokens'));
  const events = `
    SELECT tenant_id, ifNull(project_id, '') AS project_id, provider, model, operation, toStartOfHour(toDateTime(occurred_at, 'UTC')) AS hour,
           ifNull(api_key_hash, '') AS api_key_hash, ${statusClassSql('status_code')} AS status_class, ${errorClassSql('error_type', 'status_code', params)} AS error_class,
           toUInt64(1) AS requests, ${tokens.join(', ')}, toUInt64(error_class != 'none') AS errors,
           CAST(if(error_class = 'none', map(), map(error_class, 1)), 'Map(String, UInt64)') AS errors_by_class,
           CAST(map(status_class, 1), 'Map(String, UInt64)') AS requests_by_status_class, CAST(units, 'Map(String, UInt64)') AS units,
           ${latency('latency_ms')}, ${latency('ttft_ms')}, toUInt64(0) AS late_events,
           cost_pico, charge_pico, toInt128(0) AS cache_savings_pico,
           toUInt64(cost_price_version = '') AS unpriced_cost_events, toUInt64(charge_price_version = '') AS unpriced_charge_events,
           if(cost_price_version = '', [], [cost_price_version]) AS cost_price_versions, if(charge_price_version = '', [], [charge_price_version]) AS charge_price_versions
    FROM ${quoteIdentifier(handle.database)}.usage_events FINAL
    WHERE ${within.join(' AND ')}`;
  const filters = filterClauses(query.filters, params);
  return filters.length === 0 ? events : `SELECT * FROM (${events}) WHERE ${filters.join(' AND ')}`;
}

const ROW_COLUMNS = ['tenant_id', 'project_id', 'provider', 'model', 'operation', 'hour', ...rollupMeasures.sum, ...rollupMeasures.max, ...rollupMeasures.sumMap, ...rollupMeasures.union].join(', ');
const DAY_MS = 86_400_000;

/**
 * The rollup rows of the range, one per (tenant, dimensions, hour or day): daily rows for the
 * clean whole UTC days when the buckets allow, hourly rows for every other hour. Both are read
 * by time ranges on their sort keys, so each reads only its own days.
 */
async function sourceRows(handle: ClickHouseHandle, query: UsageQuery, params: Record<string, unknown>): Promise<string> {
  const db = quoteIdentifier(handle.database);
  const filters = filterClauses(query.filters, params);
  const days = dailyDays(query);
  const clean = days === undefined ? [] : [...(await cleanDays(handle, { from: isoDay(days.fromMs), to: isoDay(days.toMs) }, query.filters.tenant?.in))].map(Date.parse);
  // Month rows serve totals and month buckets, for months whose every day is clean.
  const monthRuns = query.granularity === 'none' || query.granularity === 'month' ? wholeMonths(clean) : [];
  const dayRuns = runsOf(clean.filter((day) => !monthRuns.some((m) => day >= m.fromMs && day < m.toMs)));
  const hourlyRuns = complement({ fromMs: query.fromMs, toMs: query.toMs }, [...dayRuns, ...monthRuns].sort((a, b) => a.fromMs - b.fromMs));
  const fromDaily = (grain: 'day' | 'month', runs: readonly Run[]) =>
    `SELECT ${ROW_COLUMNS.replace('hour', "toDateTime(day, 'UTC') AS hour")} FROM ${db}.usage_rollups_daily
     WHERE ${[`grain = '${grain}'`, rangesClause('day', 'toDate', runs, params, grain), "tenant_id != ''", ...filters].join(' AND ')}`;
  const branches: string[] = [];
  if (hourlyRuns.length > 0) branches.push(`SELECT ${ROW_COLUMNS} FROM ${db}.usage_rollups_hourly FINAL WHERE ${[rangesClause('hour', 'toDateTime', hourlyRuns, params, 'hour'), ...filters].join(' AND ')}`);
  if (dayRuns.length > 0) branches.push(fromDaily('day', dayRuns));
  if (monthRuns.length > 0) branches.push(fromDaily('month', monthRuns));
  return branches.join(' UNION ALL ');
}

/** The calendar months (UTC) all of whose days are among the sorted clean day starts, as runs. */
function wholeMonths(cleanDayStarts: readonly number[]): Run[] {
  const clean = new Set(cleanDayStarts);
  const months: Run[] = [];
  for (const day of cleanDayStarts) {
    const start = new Date(day);
    if (start.getUTCDate() !== 1) continue;
    const end = Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
    let whole = true;
    for (let at = day; at < end && whole; at += DAY_MS) whole = clean.has(at);
    if (whole) months.push({ fromMs: day, toMs: end });
  }
  return months;
}

interface Run {
  fromMs: number;
  toMs: number;
}

/** Sorted day starts as maximal runs of consecutive days. */
function runsOf(dayStarts: readonly number[]): Run[] {
  const runs: Run[] = [];
  for (const day of [...dayStarts].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last !== undefined && last.toMs === day) last.toMs = day + DAY_MS;
    else runs.push({ fromMs: day, toMs: day + DAY_MS });
  }
  return runs;
}

/** `range` minus sorted, disjoint `holes` that lie inside it. */
function complement(range: Run, holes: readonly Run[]): Run[] {
  const out: Run[] = [];
  let at = range.fromMs;
  for (const hole of holes) {
    if (hole.fromMs > at) out.push({ fromMs: at, toMs: hole.fromMs });
    at = hole.toMs;
  }
  if (at < range.toMs) out.push({ fromMs: at, toMs: range.toMs });
  return out;
}

/** `(column >= a AND column < b) OR ...`, the bounds as query parameters (seconds) named after `tag`. */
function rangesClause(column: string, convert: 'toDateTime' | 'toDate', runs: readonly Run[], params: Record<string, unknown>, tag: string): string {
  const at = (ms: number, name: string) => {
    params[name] = ms / 1000;
    return `${convert}(toDateTime({${name}:UInt32}, 'UTC'))`;
  };
  return `(${runs.map((run, i) => `(${column} >= ${at(run.fromMs, `${tag}_from_${i}`)} AND ${column} < ${at(run.toMs, `${tag}_to_${i}`)})`).join(' OR ')})`;
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The whole UTC days the daily table may answer for: only when every bucket is made of whole UTC days. */
function dailyDays(query: UsageQuery): Run | undefined {
  if (query.granularity === 'hour') return undefined;
  if (query.granularity !== 'none' && !zoneIsUtc(query.timeZone, query.fromMs, query.toMs)) return undefined;
  return wholeUtcDays(query.fromMs, query.toMs);
}

function bucketExpression(granularity: UsageGranularity): string {
  switch (granularity) {
    case 'none':
      return 'toDateTime(0, \'UTC\') AS bucket';
    case 'hour':
      return 'hour AS bucket';
    case 'day':
      return 'toStartOfDay(toTimeZone(hour, {tz:String})) AS bucket';
    case 'month':
      return 'toDateTime(toStartOfMonth(toTimeZone(hour, {tz:String})), {tz:String}) AS bucket';
  }
}

function filterClauses(filters: UsageQuery['filters'], params: Record<string, unknown>): string[] {
  return Object.entries(filters).flatMap(([dim, filter]) => {
    const column = COLUMN[dim as UsageDimension];
    const clauses: string[] = [];
    if (filter?.in !== undefined) {
      params[`in_${dim}`] = filter.in;
      clauses.push(`${column} IN {in_${dim}:Array(String)}`);
    }
    if (filter?.not_in !== undefined) {
      params[`not_in_${dim}`] = filter.not_in;
      clauses.push(`${column} NOT IN {not_in_${dim}:Array(String)}`);
    }
    return clauses;
  });
}

function afterValues(after: readonly string[], keyColumns: readonly string[], params: Record<string, unknown>): string {
  return keyColumns
    .map((column, i) => {
      params[`after_${i}`] = after[i] ?? '';
      return column === 'bucket' ? `toUInt32({after_${i}:String})` : `{after_${i}:String}`;
    })
    .join(', ');
}

/** An answer row as ClickHouse writes it in JSON: scalars as strings, maps as objects, arrays. */
type RawRow = Record<string, string | string[] | number | Record<string, string>>;

function toRow(r: RawRow, query: UsageQuery): UsageQueryRow {
  const scalar = (name: string): string => {
    const value = r[name];
    return typeof value === 'number' ? value.toString() : (value as string);
  };
  const dimensions = Object.fromEntries(query.groupBy.map((d) => [d, scalar(d)]));
  const sums = Object.fromEntries([...SUMS, ...MAXES].map((m) => [m, scalar(m)])) as UsageQueryRow['sums'];
  const bucket = query.granularity === 'none' ? null : Number(r.bucket_s) * 1000;
  return {
    bucket_ms: bucket, dimensions, sums,
    requests_by_status_class: r.requests_by_status_class as Record<string, string>, errors_by_class: r.errors_by_class as Record<string, string>, units: r.units as Record<string, string>,
    cost_price_versions: r.cost_price_versions as string[], charge_price_versions: r.charge_price_versions as string[],
  };
}

function keyOf(row: UsageQueryRow, query: UsageQuery): string[] {
  return [...(row.bucket_ms === null ? [] : [String(row.bucket_ms / 1000)]), ...query.groupBy.map((d) => row.dimensions[d] ?? '')];
}

/**
 * The values one dimension takes in the rollups over [fromMs, toMs) (for pickers and filters),
 * optionally within some tenants; sorted, at most `limit`.
 */
export async function dimensionValues(handle: ClickHouseHandle, dimension: UsageDimension, range: { fromMs: number; toMs: number }, tenants: readonly string[] | undefined, limit: number): Promise<string[]> {
  const tenantClause = tenants === undefined ? '' : 'AND tenant_id IN {tenants:Array(String)}';
  const params: Record<string, unknown> = { from: range.fromMs / 1000, to: range.toMs / 1000, tenants: tenants ?? [], limit };
  // The raw-only dimensions are read from the raw events (copies of an event share them: no FINAL needed).
  const raw = (rawOnlyDimensions as readonly string[]).includes(dimension);
  const value = !raw ? COLUMN[dimension]
    : dimension === 'api_key_hash' ? "ifNull(api_key_hash, '')"
    : dimension === 'status_class' ? statusClassSql('status_code') : errorClassSql('error_type', 'status_code', params);
  const source = raw
    ? `usage_events WHERE occurred_at >= toDateTime64({from:UInt32}, 3, 'UTC') AND occurred_at < toDateTime64({to:UInt32}, 3, 'UTC')`
    : `usage_rollups_hourly WHERE hour >= toDateTime({from:UInt32}, 'UTC') AND hour < toDateTime({to:UInt32}, 'UTC')`;
  const result = await handle.client.query({
    query: `SELECT DISTINCT ${value} AS value FROM ${quoteIdentifier(handle.database)}.${source} ${tenantClause}
            ORDER BY value LIMIT {limit:UInt32}`,
    query_params: params,
    format: 'JSONEachRow',
  });
  return (await result.json<{ value: string }>()).map((r) => r.value);
}
