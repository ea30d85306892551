import { quoteIdentifier, type ClickHouseHandle } from './client';
import { storedEventUuid } from './event-id';

/** Where a page of raw events ends: the last row's sorting key within the tenant. */
export interface RawEventsCursor {
  /** toStartOfHour(occurred_at), epoch ms. */
  hourMs: number;
  /** UUIDv7ToDateTime(event_uuid), epoch ms (0 for ids that are not UUIDv7). */
  idMs: number;
  eventUuid: string;
}

export const rawEventFilters = ['project_id', 'provider', 'model', 'operation', 'api_key_hash', 'user_id', 'trace_id', 'event_id'] as const;
export type RawEventFilter = (typeof rawEventFilters)[number];

export interface RawEventsQuery {
  tenantId: string;
  /** Half-open [fromMs, toMs) on occurred_at; either may be open. */
  fromMs?: number | undefined;
  toMs?: number | undefined;
  filters: Partial<Record<RawEventFilter, string>>;
  status?: 'ok' | 'error' | undefined;
  limit: number;
  /** The rows after (older than) this key. */
  after?: RawEventsCursor | undefined;
}

/** One stored event as the table reads it back (64-bit and 128-bit numbers as decimal strings). */
export interface RawEventRow {
  event_id: string;
  occurred_ms: string;
  tenant_id: string;
  project_id: string | null;
  api_key_hash: string | null;
  client_id: string | null;
  user_id: string | null;
  trace_id: string | null;
  endpoint_id: string | null;
  provider: string;
  model: string;
  operation: string;
  input_tokens: string;
  cache_read_tokens: string;
  cache_write_tokens: string;
  cache_write_1h_tokens: string;
  output_tokens: string;
  reasoning_tokens: string;
  audio_input_tokens: string;
  audio_output_tokens: string;
  image_input_tokens: string;
  image_output_tokens: string;
  /** Unit name -> count (as ClickHouse writes a UInt64 in JSON: a string). */
  units: Record<string, string>;
  service_tier: string | null;
  /** Milliseconds with up to three decimals (Decimal(3)). */
  latency_ms: number | null;
  ttft_ms: number | null;
  status_code: number | null;
  error_type: string | null;
  metadata: Record<string, string>;
  source_partition: number;
  source_offset: string;
  cost_pico: string;
  charge_pico: string;
  cost_price_version: string;
  charge_price_version: string;
}

/**
 * The copy ReplacingMergeTree keeps: the highest version (the first copy the stream counted),
 * of equal versions the last written (a re-rated row), i.e. the one in the part of the highest
 * block number.
 */
function wins(copy: { keep_first: string; part_block: string }, kept: { keep_first: string; part_block: string }): boolean {
  const a = BigInt(copy.keep_first);
  const b = BigInt(kept.keep_first);
  return a > b || (a === b && BigInt(copy.part_block) > BigInt(kept.part_block));
}

/**
 * The SQL of an error, as classifyError (libs/domain) decides it: an error_type that names
 * something (not only spaces and separators), or an HTTP status of 400 or more.
 */
const IS_ERROR = `(match(ifNull(error_type, ''), '[^[:space:]./_-]') OR ifNull(status_code, 0) >= 400)`;
const HOUR_KEY = 'toStartOfHour(occurred_at)';
const ID_TIME_KEY = 'UUIDv7ToDateTime(event_uuid)';

/**
 * A page of a tenant's raw events, newest first, each event once: keyset pagination on the
 * table's sorting key (tenant_id, hour, UUIDv7 time, event_uuid) read in reverse, so a page reads
 * the granules from the cursor back and stops after `limit + 1` rows however large the tenant
 * is (no FINAL, no sort of the tenant). Unmerged copies of a re-delivered event share the key,
 * so they arrive together: of each key the copy FINAL would keep is kept (see `wins`). The last key read may have copies past the limit, so a full read ends the page before
 * it (the cursor is the last key returned): a page with duplicates can hold fewer than `limit`.
 */
export async function rawEventsPage(handle: ClickHouseHandle, query: RawEventsQuery): Promise<{ rows: RawEventRow[]; next: RawEventsCursor | undefined }> {
  const where = ['tenant_id = {tenant:String}'];
  const params: Record<string, unknown> = { tenant: query.tenantId, limit: query.limit + 1 };
  if (query.fromMs !== undefined) {
    where.push('occurred_at >= fromUnixTimestamp64Milli({from:Int64})');
    params.from = query.fromMs;
  }
  if (query.toMs !== undefined) {
    where.push('occurred_at < fromUnixTimestamp64Milli({to:Int64})');
    params.to = query.toMs;
  }
  for (const [name, value] of Object.entries(query.filters) as [RawEventFilter, string | undefined][]) {
    if (value === undefined) continue;
    params[name] = value;
    if (name === 'event_id') {
      params.event_uuid = storedEventUuid(value);
      where.push('event_uuid = toUUID({event_uuid:String}) AND event_id = {event_id:String}');
    } else if (name === 'api_key_hash') where.push('api_key_sha256 = unhex({api_key_hash:String})');
    else where.push(`${name} = {${name}:String}`);
  }
  if (query.status !== undefined) where.push(query.status === 'error' ? IS_ERROR : `NOT ${IS_ERROR}`);
  if (query.after !== undefined) {
    Object.assign(params, { afterHour: query.after.hourMs, afterIdMs: query.after.idMs, afterUuid: query.after.eventUuid });
    const hour = `fromUnixTimestamp64Milli({afterHour:Int64}, 'UTC')`;
    // The bound on occurred_at alone lets the primary key skip every later hour.
    where.push(`occurred_at < ${hour} + INTERVAL 1 HOUR`);
    where.push(`(${HOUR_KEY} < ${hour} OR (${HOUR_KEY} = ${hour} AND (${ID_TIME_KEY} < fromUnixTimestamp64Milli({afterIdMs:Int64}, 'UTC')
      OR (${ID_TIME_KEY} = fromUnixTimestamp64Milli({afterIdMs:Int64}, 'UTC') AND event_uuid < toUUID({afterUuid:String})))))`);
  }
  const result = await handle.client.query({
    query: `
      SELECT event_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, tenant_id, project_id, api_key_hash, client_id, user_id, trace_id, endpoint_id,
             provider, model, operation, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
             cache_write_1h_tokens, audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens, units, service_tier,
             toFloat64(latency_ms) AS latency_ms, toFloat64(ttft_ms) AS ttft_ms, status_code, error_type, metadata, source_partition, source_offset,
             toString(cost_pico) AS cost_pico, toString(charge_pico) AS charge_pico, cost_price_version, charge_price_version,
             toUnixTimestamp(${HOUR_KEY}) * 1000 AS hour_ms, toUnixTimestamp64Milli(${ID_TIME_KEY}) AS id_ms, toString(event_uuid) AS uuid, keep_first,
             toUInt64(splitByChar('_', _part)[3]) AS part_block
      FROM ${quoteIdentifier(handle.database)}.usage_events
      WHERE ${where.join(' AND ')}
      ORDER BY tenant_id DESC, ${HOUR_KEY} DESC, ${ID_TIME_KEY} DESC, event_uuid DESC
      LIMIT {limit:UInt32}
      SETTINGS optimize_read_in_order = 1`,
    query_params: params,
    format: 'JSONEachRow',
  });
  type Read = RawEventRow & { hour_ms: string; id_ms: string; uuid: string; keep_first: string; part_block: string };
  const read = await result.json<Read>();
  const full = read.length === query.limit + 1;
  const groups: Read[][] = [];
  for (const row of read) {
    const group = groups.at(-1);
    if (group !== undefined && group[0]?.hour_ms === row.hour_ms && group[0].uuid === row.uuid) group.push(row);
    else groups.push([row]);
  }
  // The last key of a full read may continue past it (or is the one row too many): the next page's.
  if (full && groups.length > 1) groups.pop();
  const kept = groups.map((copies) => copies.reduce((kept, copy) => (wins(copy, kept) ? copy : kept)));
  const last = kept.at(-1);
  return {
    rows: kept.map(({ hour_ms: _h, id_ms: _i, uuid: _u, keep_first: _k, part_block: _b, ...row }) => row),
    next: full && last !== undefined ? { hourMs: Number(last.hour_ms), idMs: Number(last.id_ms), eventUuid: last.uuid } : undefined,
  };
}
