import type { UsageEvent } from '@meterline/domain';
import { InfrastructureError } from '@meterline/platform';
import { insertFormatted, quoteIdentifier, type ClickHouseHandle } from './client';

/** A raw row: the event plus where it came from in Kafka (for audits and reconciliation). */
export type UsageEventRow = UsageEvent & { source_partition: number; source_offset: string };

export interface TenantUsageTotals {
  tenant_id: string;
  events: string;
  input_tokens: string;
  cache_read_tokens: string;
  cache_write_tokens: string;
  output_tokens: string;
  reasoning_tokens: string;
  total_tokens: string;
  errors: string;
  first_event_at: string;
  last_event_at: string;
}

/** Nullable columns: left out of an insert when every row of it has NULL (the column default). */
const NULLABLE_STRINGS = ['project_id', 'api_key_hash', 'client_id', 'user_id', 'trace_id', 'endpoint_id'] as const;
type NullableString = (typeof NULLABLE_STRINGS)[number];

const json = JSON.stringify;

/** A JSON number, or null for a missing value (the column default: NULL, or 0 for UInt64). */
function num(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${value}` : 'null';
}

function str(value: string | null | undefined): string {
  return value === null || value === undefined ? 'null' : json(value);
}

function map(value: Record<string, string> | null | undefined): string {
  if (value === null || value === undefined) return 'null';
  for (const _ in value) return json(value);
  return '{}';
}

/**
 * Rows as JSONCompactEachRow: the same JSON values the JSONEachRow encoding had (strings through
 * JSON.stringify, occurred_at as epoch-ms number, 64-bit offsets as strings), without the keys.
 * chdb parses it about a third faster than JSONEachRow; columns that are NULL (or an empty
 * map) in every row are left out and take their default, which is that same value.
 */
export function usageEventsInsertBody(rows: readonly UsageEventRow[]): { columns: string[]; body: Buffer } {
  const present = new Set<NullableString>();
  let metadata = false;
  for (const row of rows) {
    for (const column of NULLABLE_STRINGS) if (row[column] !== null && row[column] !== undefined) present.add(column);
    if (!metadata && map(row.metadata) !== '{}') metadata = true;
  }
  const has = (column: NullableString): boolean => present.has(column);
  const columns = [
    'event_id', 'occurred_at', 'tenant_id',
    ...NULLABLE_STRINGS.filter(has),
    'provider', 'model', 'operation',
    'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens',
    'latency_ms', 'ttft_ms', 'status_code', 'error_type',
    ...(metadata ? ['metadata'] : []),
    'source_partition', 'source_offset',
  ];
  const [project, apiKey, client, user, trace, endpoint] = NULLABLE_STRINGS.map(has);
  let text = '';
  for (const r of rows) {
    text +=
      `[${json(r.event_id)},${num(r.occurred_at)},${json(r.tenant_id)}` +
      (project ? `,${str(r.project_id)}` : '') +
      (apiKey ? `,${str(r.api_key_hash)}` : '') +
      (client ? `,${str(r.client_id)}` : '') +
      (user ? `,${str(r.user_id)}` : '') +
      (trace ? `,${str(r.trace_id)}` : '') +
      (endpoint ? `,${str(r.endpoint_id)}` : '') +
      `,${json(r.provider)},${json(r.model)},${json(r.operation)}` +
      `,${num(r.input_tokens)},${num(r.cache_read_tokens)},${num(r.cache_write_tokens)},${num(r.output_tokens)},${num(r.reasoning_tokens)}` +
      `,${num(r.latency_ms)},${num(r.ttft_ms)},${num(r.status_code)},${str(r.error_type)}` +
      (metadata ? `,${map(r.metadata)}` : '') +
      `,${num(r.source_partition)},${json(r.source_offset)}]\n`;
  }
  return { columns, body: Buffer.from(text, 'utf8') };
}

/** The raw events table (`usage_events`): idempotent inserts and exact (FINAL) reads. */
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
      throw new InfrastructureError('CLICKHOUSE_INSERT_FAILED', `insert of ${rows.length} rows into ${this.#table} failed: ${error instanceof Error ? error.message : String(error)}`, error);
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
               sum(output_tokens) AS output_tokens,
               sum(reasoning_tokens) AS reasoning_tokens,
               sum(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens + reasoning_tokens) AS total_tokens,
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
