import type { UsageEvent } from '@meterline/domain';
import { InfrastructureError } from '@meterline/platform';
import { quoteIdentifier, type ClickHouseHandle } from './client';

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

/** The raw events table (`usage_events`): idempotent inserts and exact (FINAL) reads. */
export class UsageEventsTable {
  readonly #table: string;
  constructor(private readonly handle: ClickHouseHandle) {
    this.#table = `${quoteIdentifier(handle.database)}.usage_events`;
  }

  /**
   * `dedupToken` names the Kafka offset ranges in the batch: a retried insert of the same
   * batch (e.g. the response was lost) is dropped by ClickHouse itself; a re-delivered event
   * in a differently cut batch is collapsed by ReplacingMergeTree on event_id.
   */
  async insert(rows: readonly UsageEventRow[], dedupToken: string): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.handle.client.insert({
        table: this.#table,
        values: rows as UsageEventRow[],
        format: 'JSONEachRow',
        clickhouse_settings: { insert_deduplication_token: dedupToken, async_insert: 0 },
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
