import type { TokenBucket } from '@meterline/domain';
import { quoteIdentifier, type ClickHouseHandle, type RawEventRow as StoredRawEventRow } from '@meterline/clickhouse';

/**
 * What a state rebuild reads from ClickHouse, each bounded by time and by the cut: partition ->
 * the first offset not below it (the rollup group's committed offset). Rows come as a stream
 * in batches (`resultSet.stream()`), never as one array of a whole result.
 */
export type Cut = ReadonlyMap<number, bigint>;

/** Rows per batch handed to the caller (the client's chunks are regrouped to this). */
const BATCH_ROWS = 5_000;

/** SQL true for a row whose `column` (an offset) is below the cut of its source partition. */
export function belowCutSql(cut: Cut, column: string): string {
  const parts = [...cut].filter(([, offset]) => offset > 0n).map(([partition, offset]) => `(source_partition = ${partition} AND ${column} < ${offset})`);
  return parts.length === 0 ? 'false' : `(${parts.join(' OR ')})`;
}

/** Streams a query's JSONEachRow result in batches of at most BATCH_ROWS rows. */
async function* streamRows<T>(handle: ClickHouseHandle, query: string, params: Record<string, unknown>): AsyncGenerator<T[]> {
  // Tenant lists and watermarks can pass a URL's limit (16 KiB on Node's HTTP server): sent in the body then.
  const result = await handle.client.query({ query, query_params: params, format: 'JSONEachRow', use_multipart_params_auto: true });
  let batch: T[] = [];
  for await (const rows of result.stream<T>()) {
    for (const row of rows) {
      batch.push(row.json());
      if (batch.length >= BATCH_ROWS) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

const at = (column: string): string => `fromUnixTimestamp64Milli({${column}:Int64}, 'UTC')`;

/**
 * The latest event time of each tenant in each partition below the cut, from `fromMs` on (a
 * watermark older than the oldest event the stream accepts changes none of its decisions).
 * Every copy but the first of an event is left out (FINAL), as the stream counted it.
 */
export async function readWatermarks(handle: ClickHouseHandle, cut: Cut, fromMs: number): Promise<{ tenant_id: string; source_partition: number; maxts: string }[]> {
  const db = quoteIdentifier(handle.database);
  const rows: { tenant_id: string; source_partition: number; maxts: string }[] = [];
  const query = `SELECT tenant_id, source_partition, toString(max(toUnixTimestamp64Milli(occurred_at))) AS maxts
                 FROM ${db}.usage_events FINAL WHERE occurred_at >= ${at('from')} AND ${belowCutSql(cut, 'source_offset')}
                 GROUP BY tenant_id, source_partition`;
  for await (const batch of streamRows<(typeof rows)[number]>(handle, query, { from: fromMs })) rows.push(...batch);
  return rows;
}

/**
 * A raw row as the rebuild replays it through the apply script: the columns a raw events page
 * reads (the one row shape of usage_events), less the money and where it came from, plus the
 * minute it was ingested in (epoch ms) for the dedup window.
 */
export type RawEventRow = Omit<StoredRawEventRow, 'client_id' | 'user_id' | 'trace_id' | 'endpoint_id' | 'cost_pico' | 'charge_pico' | 'cost_price_version' | 'charge_price_version'> & {
  ingested_ms: string;
};

/** Which tenants a raw read covers: these only, or all but these. */
export type TenantFilter = { only: readonly string[] } | { except: readonly string[] };

/**
 * Raw events below the cut from `fromMs` on, of the tenants the filter lets through, by tenant
 * in the table's key order. A plain time bound: per-tenant bounds OR-ed together made the read
 * of 80k rows take 17 s at 20M events (1 s with one bound); the caller drops rows before a
 * tenant's own bound.
 */
export function streamOpenHourEvents(handle: ClickHouseHandle, cut: Cut, fromMs: number, tenants: TenantFilter): AsyncGenerator<RawEventRow[]> {
  const db = quoteIdentifier(handle.database);
  const filter = 'only' in tenants ? 'tenant_id IN {tenants:Array(String)}' : 'NOT has({tenants:Array(String)}, tenant_id)';
  const query = `SELECT event_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, tenant_id, project_id, api_key_hash, provider, model, operation,
                        input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens,
                        audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens, units, service_tier,
                        toFloat64(latency_ms) AS latency_ms, toFloat64(ttft_ms) AS ttft_ms, status_code, error_type, metadata,
                        source_partition, source_offset, (toUnixTimestamp(ingested_at) + 60) * 1000 AS ingested_ms
                 FROM ${db}.usage_events FINAL
                 WHERE occurred_at >= ${at('from')} AND ${filter} AND ${belowCutSql(cut, 'source_offset')}
                 ORDER BY tenant_id`;
  return streamRows<RawEventRow>(handle, query, { from: fromMs, tenants: 'only' in tenants ? tenants.only : tenants.except });
}

/**
 * (tenant, hour, event id) of every event below the cut ingested since `ingestedFromMs`: what
 * the stream's dedup sets hold. `occurredFromMs` bounds the scan by the table's partitions
 * (nothing older is accepted by the stream).
 */
export function streamDedupIds(handle: ClickHouseHandle, cut: Cut, ingestedFromMs: number, occurredFromMs: number): AsyncGenerator<{ tenant_id: string; hour: string; event_id: string }[]> {
  const db = quoteIdentifier(handle.database);
  // ingested_at is stored to the minute: its minute's end is the latest it can have been.
  const query = `SELECT tenant_id, toUnixTimestamp(toStartOfHour(occurred_at)) * 1000 AS hour, event_id
                 FROM ${db}.usage_events FINAL
                 WHERE occurred_at >= ${at('occurredFrom')} AND (toUnixTimestamp(ingested_at) + 60) * 1000 > {ingestedFrom:Int64}
                   AND ${belowCutSql(cut, 'source_offset')}`;
  return streamRows(handle, query, { occurredFrom: occurredFromMs, ingestedFrom: ingestedFromMs });
}

/** Sums a quota can be computed from: requests, every token bucket, money (pico-USD). */
export type Totals = Record<TokenBucket | 'requests' | 'cost_pico' | 'charge_pico', string>;

const TOTALS_SQL = `sum(requests) AS requests, sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens,
  sum(cache_write_tokens) AS cache_write_tokens, sum(cache_write_1h_tokens) AS cache_write_1h_tokens, sum(output_tokens) AS output_tokens,
  sum(reasoning_tokens) AS reasoning_tokens, sum(audio_input_tokens) AS audio_input_tokens, sum(audio_output_tokens) AS audio_output_tokens,
  sum(image_input_tokens) AS image_input_tokens, sum(image_output_tokens) AS image_output_tokens,
  toString(sum(cost_pico)) AS cost_pico, toString(sum(charge_pico)) AS charge_pico`;

/** A slot of one tenant's usage, narrowed to the dimensions its quotas scope by. */
export interface SlotTotals extends Totals {
  tenant_id: string;
  /** The slot's start and length, epoch ms and ms. */
  at: string;
  span: string;
  project_id: string;
  model: string;
  api_key_hash: string | null;
}

/**
 * How a read narrows and slices: tenants whose quotas narrow by project, by model (only their
 * rows keep that dimension), and those whose quotas' periods all start on a UTC day (their
 * slots are days, the others' the read's finest slot).
 */
export interface SlotShape {
  byProject: readonly string[];
  byModel: readonly string[];
  byDay: readonly string[];
}

const DAY_MS = 86_400_000;
const shapeParams = (shape: SlotShape): Record<string, unknown> => ({ byProject: shape.byProject, byModel: shape.byModel, byDay: shape.byDay });
const slotSql = (time: string, finest: string, finestMs: number): string =>
  `if(has({byDay:Array(String)}, tenant_id), toStartOfDay(${time}), ${finest}) AS slot, toString(toUnixTimestamp(slot) * 1000) AS at,
   toString(if(has({byDay:Array(String)}, tenant_id), ${DAY_MS}, ${finestMs})) AS span`;

/**
 * Sums of the hourly rollups from `fromMs` on, over the hours closed per tenant and partition
 * (`closedBefore`: `<partition>|<tenant>` -> the first open hour, looked up by `transform`, a hash
 * table: `indexOf` on the array took 55 s at 6M rows): each cumulative row's last
 * version (FINAL) plus the corrections below the cut. A closed hour's cumulative rows hold events
 * below the cut alone (an event past the cut in an hour closed at the cut was a correction, as it
 * is again when consumed again); a tenant and partition without a watermark has nothing below it.
 */
export function streamRollupTotals(handle: ClickHouseHandle, cut: Cut, tenants: readonly string[], shape: SlotShape, fromMs: number, closedBefore: ReadonlyMap<string, number>): AsyncGenerator<SlotTotals[]> {
  const db = quoteIdentifier(handle.database);
  const query = `SELECT tenant_id, ${slotSql('hour', 'hour', 3_600_000)},
                        if(has({byProject:Array(String)}, tenant_id), project_id, '') AS project_id, if(has({byModel:Array(String)}, tenant_id), model, '') AS model,
                        NULL AS api_key_hash, ${TOTALS_SQL}
                 FROM ${db}.usage_rollups_hourly FINAL
                 WHERE tenant_id IN {tenants:Array(String)} AND hour >= toDateTime(intDiv({from:Int64}, 1000), 'UTC')
                   AND toUnixTimestamp(hour) * 1000 < transform(concat(toString(source_partition), '|', tenant_id), {wmKeys:Array(String)}, {openFrom:Array(Int64)}, toInt64(0))
                   AND (kind = 'cumulative' OR ${belowCutSql(cut, 'correction_offset')})
                 GROUP BY tenant_id, slot, project_id, model`;
  return streamRows<SlotTotals>(handle, query, { tenants, ...shapeParams(shape), from: fromMs, wmKeys: [...closedBefore.keys()], openFrom: [...closedBefore.values()] });
}

/** The span of a raw slot: every IANA zone's offset is a multiple of 15 minutes today. */
export const RAW_SLOT_MS = 15 * 60_000;

/**
 * Per tenant, quarter hour (or day, see SlotShape) and API key from `fromMs` on: sums of the raw events below
 * the cut (FINAL). For the quotas the rollups cannot answer: by API key (not a rollup
 * dimension), or with periods that do not start on a UTC hour.
 */
export function streamRawSlotTotals(handle: ClickHouseHandle, cut: Cut, tenants: readonly string[], shape: SlotShape, fromMs: number): AsyncGenerator<SlotTotals[]> {
  const db = quoteIdentifier(handle.database);
  const query = `SELECT tenant_id, ${slotSql('occurred_at', 'toStartOfFifteenMinutes(occurred_at)', RAW_SLOT_MS)},
                        if(has({byProject:Array(String)}, tenant_id), ifNull(project_id, ''), '') AS project_id, if(has({byModel:Array(String)}, tenant_id), model, '') AS model,
                        api_key_hash, ${TOTALS_SQL.replace('sum(requests)', 'count()')}
                 FROM ${db}.usage_events FINAL
                 WHERE tenant_id IN {tenants:Array(String)} AND occurred_at >= ${at('from')} AND ${belowCutSql(cut, 'source_offset')}
                 GROUP BY tenant_id, slot, project_id, model, api_key_hash`;
  return streamRows<SlotTotals>(handle, query, { tenants, ...shapeParams(shape), from: fromMs });
}
