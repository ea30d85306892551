import { millisDecimal, type UsageEvent } from '@meterline/domain';
import { insertFormatted, quoteIdentifier, type ClickHouseHandle } from './client';
import { insertError } from './insert-error';

/**
 * What the raw sink priced an event at (the rollup consumer's priceEvent with the books in
 * force): integer pico-USD and the price version of each side, null for an unpriced side.
 */
export interface RawEventMoney {
  cost_pico: bigint;
  charge_pico: bigint;
  cost_price_version: string | null;
  charge_price_version: string | null;
}

/**
 * A raw row: the event, where it came from in Kafka (for audits and reconciliation) and, when
 * the writer priced it, its money (a row without money is stored unpriced: 0 and no versions).
 */
export type UsageEventRow = UsageEvent & { source_partition: number; source_offset: string } & Partial<RawEventMoney>;

export interface TenantUsageTotals {
  tenant_id: string;
  events: string;
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
  /** Every bucket (they are disjoint). */
  total_tokens: string;
  errors: string;
  first_event_at: string;
  last_event_at: string;
}

/** Nullable columns: left out of an insert when every row of it has NULL (the column default). */
const NULLABLE_STRINGS = ['project_id', 'api_key_hash', 'client_id', 'user_id', 'trace_id', 'endpoint_id', 'service_tier'] as const;
type NullableString = (typeof NULLABLE_STRINGS)[number];
/**
 * Where a field is inserted: the contract's text forms go to the table's EPHEMERAL *_input
 * columns, whose DEFAULT expressions (migration 0007) store them compactly.
 */
const INSERTED_AS: Partial<Record<string, string>> = { event_id: 'event_id_input', api_key_hash: 'api_key_hash_input', source_offset: 'source_offset_input' };
const insertedAs = (field: string): string => INSERTED_AS[field] ?? field;

/** Columns of an insert, in order; the optional ones only when some row has a value. */
function insertColumns(rows: readonly UsageEventRow[]): { columns: string[]; nullable: NullableString[]; metadata: boolean; units: boolean } {
  const present = new Set<NullableString>();
  let metadata = false;
  let units = false;
  for (const row of rows) {
    for (const column of NULLABLE_STRINGS) if (row[column] !== null && row[column] !== undefined) present.add(column);
    if (!metadata && row.metadata !== null && row.metadata !== undefined) for (const _ in row.metadata) metadata = true;
    if (!units && row.units !== null && row.units !== undefined) for (const _ in row.units) units = true;
  }
  const nullable = NULLABLE_STRINGS.filter((column) => present.has(column));
  const columns = [
    'event_id', 'occurred_at', 'tenant_id', ...nullable, 'provider', 'model', 'operation',
    'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens',
    'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', ...(units ? ['units'] : []),
    'latency_ms', 'ttft_ms', 'status_code', 'error_type', ...(metadata ? ['metadata'] : []), 'source_partition', 'source_offset',
    'cost_pico_input', 'charge_pico_input', 'cost_price_version', 'charge_price_version_input',
  ].map(insertedAs);
  return { columns, nullable, metadata, units };
}

/**
 * Rows as JSONCompactEachRow: one JSON array per line, each value exactly as JSON.stringify
 * wrote it in the JSONEachRow encoding (strings escaped the same way, occurred_at as an
 * epoch-ms number, 64-bit offsets as strings), without the keys. chdb parses it about a third
 * faster than JSONEachRow. Columns that are NULL (or an empty map) in every row are left out:
 * they take their default, which is that same value.
 */
export function usageEventsInsertBody(rows: readonly UsageEventRow[]): { columns: string[]; body: Buffer } {
  const { columns, nullable, metadata, units } = insertColumns(rows);
  // One array, refilled per row, so a row costs one native JSON.stringify and one write.
  const values = new Array<unknown>(columns.length);
  let body = Buffer.allocUnsafe(Math.max(4_096, rows.length * 256));
  let pos = 0;
  for (const r of rows) {
    let i = 0;
    values[i++] = r.event_id;
    values[i++] = r.occurred_at;
    values[i++] = r.tenant_id;
    for (const column of nullable) values[i++] = r[column];
    values[i++] = r.provider;
    values[i++] = r.model;
    values[i++] = r.operation;
    values[i++] = r.input_tokens;
    values[i++] = r.cache_read_tokens;
    values[i++] = r.cache_write_tokens;
    // A v1-shaped row (an old writer, a test) has no v2 buckets: 0.
    values[i++] = r.cache_write_1h_tokens ?? 0;
    values[i++] = r.output_tokens;
    values[i++] = r.reasoning_tokens;
    values[i++] = r.audio_input_tokens ?? 0;
    values[i++] = r.audio_output_tokens ?? 0;
    values[i++] = r.image_input_tokens ?? 0;
    values[i++] = r.image_output_tokens ?? 0;
    if (units) values[i++] = r.units ?? {};
    // Decimal(3) text, rounded to the microsecond here (ClickHouse would truncate a longer fraction).
    values[i++] = r.latency_ms === null || r.latency_ms === undefined ? null : millisDecimal(r.latency_ms);
    values[i++] = r.ttft_ms === null || r.ttft_ms === undefined ? null : millisDecimal(r.ttft_ms);
    values[i++] = r.status_code;
    values[i++] = r.error_type;
    if (metadata) values[i++] = r.metadata;
    values[i++] = r.source_partition;
    values[i++] = r.source_offset;
    // 64/128-bit amounts as JSON strings (exact); '' marks an unpriced side's version.
    values[i++] = r.cost_pico === undefined ? '0' : r.cost_pico.toString();
    values[i++] = r.charge_pico === undefined ? '0' : r.charge_pico.toString();
    values[i++] = r.cost_price_version ?? '';
    values[i++] = r.charge_price_version ?? '';
    const line = JSON.stringify(values);
    if (pos + 3 * line.length + 1 > body.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * body.length, pos + 3 * line.length + 1));
      body.copy(grown, 0, 0, pos);
      body = grown;
    }
    pos += body.write(line, pos);
    body[pos++] = 0x0a;
  }
  return { columns, body: body.subarray(0, pos) };
}

/**
 * The raw events table (`usage_events`): idempotent inserts and exact (FINAL) reads. Readers
 * read the ALIAS columns event_id, api_key_hash, source_offset, cost_pico, charge_pico and
 * charge_price_version, which give back the contract's forms of the compact stored columns.
 */
export class UsageEventsTable {
  readonly #table: string;
  /** Unquoted `db.usage_events` (the database is a plain identifier), as chdb's raw insert wants it. */
  readonly #insertTable: string;
  constructor(private readonly handle: ClickHouseHandle) {
    this.#table = `${quoteIdentifier(handle.database)}.usage_events`;
    this.#insertTable = `${handle.database}.usage_events`;
  }

  /**
   * `dedupToken` names the Kafka offset ranges in the batch: a retried insert of the same
   * batch (e.g. the response was lost) is dropped by ClickHouse itself; a re-delivered event
   * in a differently cut batch is collapsed by ReplacingMergeTree on event_id.
   */
  async insert(rows: readonly UsageEventRow[], dedupToken: string): Promise<void> {
    if (rows.length === 0) return;
    try {
      const { columns, body } = usageEventsInsertBody(rows);
      await insertFormatted(this.handle, {
        table: this.#insertTable,
        columns,
        format: 'JSONCompactEachRow',
        body,
        settings: { insert_deduplication_token: dedupToken, async_insert: 0 },
      });
    } catch (error) {
      throw insertError(`insert of ${rows.length} rows into ${this.#table}`, error);
    }
  }

  /** Exact per-tenant totals (deduplicated with FINAL). */
  async tenantTotals(tenantId?: string): Promise<TenantUsageTotals[]> {
    const where = tenantId === undefined ? '' : 'WHERE tenant_id = {tenant:String}';
    const result = await this.handle.client.query({
      query: `
        SELECT tenant_id,
               count() AS events,
               sum(input_tokens) AS input_tokens,
               sum(cache_read_tokens) AS cache_read_tokens,
               sum(cache_write_tokens) AS cache_write_tokens,
               sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
               sum(output_tokens) AS output_tokens,
               sum(reasoning_tokens) AS reasoning_tokens,
               sum(audio_input_tokens) AS audio_input_tokens,
               sum(audio_output_tokens) AS audio_output_tokens,
               sum(image_input_tokens) AS image_input_tokens,
               sum(image_output_tokens) AS image_output_tokens,
               sum(input_tokens + cache_read_tokens + cache_write_tokens + cache_write_1h_tokens + output_tokens + reasoning_tokens
                   + audio_input_tokens + audio_output_tokens + image_input_tokens + image_output_tokens) AS total_tokens,
               countIf(error_type IS NOT NULL) AS errors,
               toString(min(occurred_at)) AS first_event_at,
               toString(max(occurred_at)) AS last_event_at
        FROM ${this.#table} FINAL
        ${where}
        GROUP BY tenant_id
        ORDER BY tenant_id
        SETTINGS prefer_column_name_to_alias = 1`,
      query_params: tenantId === undefined ? {} : { tenant: tenantId },
      format: 'JSONEachRow',
    });
    return result.json<TenantUsageTotals>();
  }

  /** Rows and distinct event ids, to prove "once". */
  async counts(): Promise<{ rows: number; distinctEvents: number; finalRows: number }> {
    const result = await this.handle.client.query({
      query: `SELECT (SELECT count() FROM ${this.#table}) AS rows, (SELECT uniqExact(event_id) FROM ${this.#table}) AS distinct_events, (SELECT count() FROM ${this.#table} FINAL) AS final_rows`,
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ rows: string; distinct_events: string; final_rows: string }>();
    return { rows: Number(row?.rows ?? 0), distinctEvents: Number(row?.distinct_events ?? 0), finalRows: Number(row?.final_rows ?? 0) };
  }
}
