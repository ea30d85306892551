import { randomBytes } from 'node:crypto';
import { quoteIdentifier, type ClickHouseHandle } from './client';

/**
 * How far a seal's `sealed_at` lies before the seal read the day: an hourly insert is stamped
 * (usage_day_changes_mv) before its part commits, and must have committed by the time a seal
 * stamped after it reads the day. A minute is far above any insert's stamp-to-commit time.
 */
export const SEAL_MARGIN_SECONDS = 60;

/** The measure columns of both usage_rollups_hourly and usage_rollups_daily, and how each sums. */
export const rollupMeasures = {
  sum: ['requests', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens',
    'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'errors', 'latency_ms_sum', 'latency_count', 'ttft_ms_sum', 'ttft_count', 'late_events', 'cost_pico', 'charge_pico', 'cache_savings_pico', 'unpriced_cost_events', 'unpriced_charge_events'],
  max: ['latency_ms_max', 'ttft_ms_max'],
  sumMap: ['errors_by_class', 'requests_by_status_class', 'units'],
  union: ['cost_price_versions', 'charge_price_versions'],
} as const;

/** Sum expressions over rows of either table (`corrections`: counted from kind in hourly rows, summed in daily ones). */
export function measureAggregates(source: 'hourly' | 'daily'): string {
  return [
    ...rollupMeasures.sum.map((m) => `sum(${m}) AS ${m}`),
    ...rollupMeasures.max.map((m) => `max(${m}) AS ${m}`),
    ...rollupMeasures.sumMap.map((m) => `sumMap(${m}) AS ${m}`),
    ...rollupMeasures.union.map((m) => `arraySort(groupUniqArrayArray(${m})) AS ${m}`),
    source === 'hourly' ? "countIf(kind = 'correction') AS corrections" : 'sum(corrections) AS corrections',
  ].join(', ');
}

/** The measure columns in the order {@link measureAggregates} writes them. */
function measureNames(): string {
  return [...rollupMeasures.sum, ...rollupMeasures.max, ...rollupMeasures.sumMap, ...rollupMeasures.union, 'corrections'].join(', ');
}

export interface SealResult {
  /** The UTC days (YYYY-MM-DD) sealed by this call. */
  sealed: string[];
}

export interface SealOptions {
  /** Only days that end by then (epoch ms): today and days still open to cumulative updates are left to the hourly rows. */
  beforeMs: number;
  /** At most this many days per call (oldest first). */
  maxDays?: number;
  /** {@link SEAL_MARGIN_SECONDS} unless nothing can be inserting (a benchmark's or a test's quiet store). */
  marginSeconds?: number;
}

/**
 * Seals the days before `beforeMs` that changed since their last seal (or were never sealed).
 * Per month: the month's daily rows are rebuilt in a table of this seal's own (due days
 * recomputed from the exact hourly rollups with a fresh seal row each, other days copied with
 * their seal rows) and swapped in whole. Idempotent; several processes may seal at once (the
 * last swap wins, and what it brings is consistent with the seal rows it brings).
 */
export async function sealDays(handle: ClickHouseHandle, options: SealOptions): Promise<SealResult> {
  const due = await daysToSeal(handle, options.beforeMs, options.maxDays ?? 400);
  const byMonth = new Map<string, string[]>();
  for (const day of due) byMonth.set(day.slice(0, 7), [...(byMonth.get(day.slice(0, 7)) ?? []), day]);
  for (const days of byMonth.values()) await sealMonth(handle, days, options.marginSeconds ?? SEAL_MARGIN_SECONDS);
  return { sealed: due };
}

async function sealMonth(handle: ClickHouseHandle, days: readonly string[], marginSeconds: number): Promise<void> {
  const db = quoteIdentifier(handle.database);
  const staging = `${db}.${quoteIdentifier(`usage_rollups_daily_seal_${randomBytes(6).toString('hex')}`)}`;
  const [stamp] = await (await handle.client.query({ query: `SELECT toString(now64(6, 'UTC') - toIntervalSecond(${Math.trunc(marginSeconds)})) AS sealed_at`, format: 'JSONEachRow' })).json<{ sealed_at: string }>();
  const params = { days, month: Number(days[0]!.slice(0, 7).replace('-', '')), sealed_at: stamp?.sealed_at ?? '' };
  await handle.client.command({ query: `CREATE TABLE ${staging} AS ${db}.usage_rollups_daily` });
  try {
    await handle.client.command({
      query: `INSERT INTO ${staging} SELECT * FROM ${db}.usage_rollups_daily WHERE toYYYYMM(day) = {month:UInt32} AND grain = 'day' AND day NOT IN {days:Array(Date)}`,
      query_params: params,
    });
    await handle.client.command({
      query: `INSERT INTO ${staging} (tenant_id, day, project_id, provider, model, operation, sealed_at, ${measureNames()})
              SELECT tenant_id, toDate(hour) AS day, project_id, provider, model, operation, toDateTime64({sealed_at:String}, 6, 'UTC'), ${measureAggregates('hourly')}
              FROM ${db}.usage_rollups_hourly FINAL
              WHERE toYYYYMM(hour) = {month:UInt32} AND toDate(hour) IN {days:Array(Date)}
              GROUP BY tenant_id, day, project_id, provider, model, operation`,
      query_params: params,
    });
    await handle.client.command({
      query: `INSERT INTO ${staging} (tenant_id, day, sealed_at) SELECT '', arrayJoin({days:Array(Date)}), toDateTime64({sealed_at:String}, 6, 'UTC')`,
      query_params: params,
    });
    // The month's rows, from its day rows as they stand in this swap (recomputed and copied).
    await handle.client.command({
      query: `INSERT INTO ${staging} (tenant_id, grain, day, project_id, provider, model, operation, sealed_at, ${measureNames()})
              SELECT tenant_id, 'month', toStartOfMonth(day) AS month, project_id, provider, model, operation, max(sealed_at), ${measureAggregates('daily')}
              FROM ${staging} WHERE grain = 'day' AND tenant_id != ''
              GROUP BY tenant_id, month, project_id, provider, model, operation`,
    });
    await handle.client.command({ query: `ALTER TABLE ${db}.usage_rollups_daily REPLACE PARTITION {month:UInt32} FROM ${staging}`, query_params: params });
  } finally {
    await handle.client.command({ query: `DROP TABLE IF EXISTS ${staging}` });
  }
}

/** The seal rows of the daily table: when each day in range was computed. */
function sealsOf(database: string, range: string): string {
  return `SELECT day, max(sealed_at) AS sealed_at FROM ${quoteIdentifier(database)}.usage_rollups_daily WHERE tenant_id = '' AND grain = 'day' AND ${range} GROUP BY day`;
}

/** Days (YYYY-MM-DD, oldest first) before `beforeMs` with a rollup change after their seal. */
async function daysToSeal(handle: ClickHouseHandle, beforeMs: number, maxDays: number): Promise<string[]> {
  const db = quoteIdentifier(handle.database);
  const range = 'day < toDate(toDateTime({before:UInt32}, \'UTC\'))';
  const rows = await (await handle.client.query({
    query: `SELECT toString(c.day) AS day
            FROM (SELECT day, max(changed_at) AS changed_at FROM ${db}.usage_day_changes WHERE ${range} GROUP BY day) AS c
            LEFT JOIN (${sealsOf(handle.database, range)}) AS s ON c.day = s.day
            WHERE c.changed_at > s.sealed_at
            ORDER BY c.day
            LIMIT {max:UInt32}`,
    query_params: { before: Math.floor(beforeMs / 1000), max: maxDays },
    format: 'JSONEachRow',
  })).json<{ day: string }>();
  return rows.map((r) => r.day);
}

/**
 * The UTC days of [fromDay, toDay) (YYYY-MM-DD) that the daily table answers exactly for the
 * given tenants (all tenants when undefined): each of those tenants' rows there is unchanged since
 * the day's seal. A day without any rollup row counts as clean (there is nothing to read).
 */
export async function cleanDays(handle: ClickHouseHandle, days: { from: string; to: string }, tenants: readonly string[] | undefined): Promise<Set<string>> {
  const db = quoteIdentifier(handle.database);
  const range = 'day >= toDate({from:String}) AND day < toDate({to:String})';
  const tenantClause = tenants === undefined ? '' : 'AND tenant_id IN {tenants:Array(String)}';
  const dirty = await (await handle.client.query({
    query: `SELECT toString(c.day) AS day
            FROM (SELECT day, max(changed_at) AS changed_at FROM ${db}.usage_day_changes WHERE ${range} ${tenantClause} GROUP BY day) AS c
            LEFT JOIN (${sealsOf(handle.database, range)}) AS s ON c.day = s.day
            WHERE c.changed_at > s.sealed_at`,
    query_params: { from: days.from, to: days.to, tenants: tenants ?? [] },
    format: 'JSONEachRow',
  })).json<{ day: string }>();
  const dirtyDays = new Set(dirty.map((d) => d.day));
  const clean = new Set<string>();
  for (let at = Date.parse(days.from); at < Date.parse(days.to); at += 86_400_000) {
    const day = new Date(at).toISOString().slice(0, 10);
    if (!dirtyDays.has(day)) clean.add(day);
  }
  return clean;
}
