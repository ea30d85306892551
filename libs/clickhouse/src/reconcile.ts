import { quoteIdentifier, type ClickHouseHandle } from './client';

export interface ReconcileDifference {
  hour: string;
  project_id: string;
  provider: string;
  model: string;
  operation: string;
  measure: string;
  raw: string;
  rollup: string;
}

export interface ReconcileReport {
  tenant_id: string;
  from: string;
  to: string;
  groups: number;
  raw_events: string;
  rollup_requests: string;
  differences: ReconcileDifference[];
}

const measures = ['requests', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'] as const;

/**
 * Compares raw events (deduplicated) with the hourly rollups of a tenant over [from, to), per
 * hour and dimensions, and lists every measure that differs. Empty `differences`: they agree.
 * Note: rollups dedup within the dedup window, the raw table forever, so an event id re-sent
 * after the window shows up here as a difference (by design: it is worth a look).
 */
export async function reconcileUsage(handle: ClickHouseHandle, tenantId: string, fromMs: number, toMs: number): Promise<ReconcileReport> {
  const db = quoteIdentifier(handle.database);
  const result = await handle.client.query({
    query: `
      WITH raw AS (
        SELECT toStartOfHour(occurred_at) AS hour, ifNull(project_id, '') AS project_id, provider, model, operation,
               count() AS requests, sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens,
               sum(cache_write_tokens) AS cache_write_tokens, sum(output_tokens) AS output_tokens, sum(reasoning_tokens) AS reasoning_tokens
        FROM ${db}.usage_events FINAL
        WHERE tenant_id = {tenant:String} AND occurred_at >= fromUnixTimestamp64Milli({from:Int64}) AND occurred_at < fromUnixTimestamp64Milli({to:Int64})
        GROUP BY hour, project_id, provider, model, operation
      ), rolled AS (
        SELECT hour, project_id, provider, model, operation, requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens
        FROM ${db}.usage_hourly
        WHERE tenant_id = {tenant:String} AND hour >= toStartOfHour(fromUnixTimestamp64Milli({from:Int64})) AND hour < fromUnixTimestamp64Milli({to:Int64})
      )
      SELECT toString(if(raw.hour = toDateTime(0), rolled.hour, raw.hour)) AS hour,
             if(raw.provider = '', rolled.project_id, raw.project_id) AS project_id,
             if(raw.provider = '', rolled.provider, raw.provider) AS provider,
             if(raw.provider = '', rolled.model, raw.model) AS model,
             if(raw.provider = '', rolled.operation, raw.operation) AS operation,
             ${measures.map((m) => `toString(raw.${m}) AS raw_${m}, toString(rolled.${m}) AS rolled_${m}`).join(', ')}
      FROM raw FULL OUTER JOIN rolled USING (hour, project_id, provider, model, operation)
      ORDER BY hour, project_id, provider, model, operation
      SETTINGS join_use_nulls = 0`,
    query_params: { tenant: tenantId, from: fromMs, to: toMs },
    format: 'JSONEachRow',
  });
  const rows = await result.json<Record<string, string>>();
  const differences: ReconcileDifference[] = [];
  let rawEvents = 0n;
  let rollupRequests = 0n;
  for (const row of rows) {
    rawEvents += BigInt(row.raw_requests ?? '0');
    rollupRequests += BigInt(row.rolled_requests ?? '0');
    for (const measure of measures) {
      const raw = row[`raw_${measure}`] ?? '0';
      const rollup = row[`rolled_${measure}`] ?? '0';
      if (raw !== rollup) {
        differences.push({ hour: row.hour ?? '', project_id: row.project_id ?? '', provider: row.provider ?? '', model: row.model ?? '', operation: row.operation ?? '', measure, raw, rollup });
      }
    }
  }
  return { tenant_id: tenantId, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), groups: rows.length, raw_events: rawEvents.toString(), rollup_requests: rollupRequests.toString(), differences };
}
