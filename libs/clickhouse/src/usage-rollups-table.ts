import type { UsageRollupRecord } from '@meterline/contract';
import { microsDecimal } from '@meterline/domain';
import { quoteIdentifier, type ClickHouseHandle } from './client';
import { insertError } from './insert-error';

/** One row of usage_rollups_hourly: the usage-rollup record as it travels on Kafka (hour as ms). */
export type UsageRollupRow = UsageRollupRecord;

export interface HourlyUsage {
  tenant_id: string;
  hour: string;
  project_id: string;
  provider: string;
  model: string;
  operation: string;
  requests: string;
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
  /** Unit name -> summed count. */
  units: Record<string, string>;
  errors: string;
  /** Error class -> errors, HTTP status class (2xx...) -> requests. */
  errors_by_class: Record<string, string>;
  requests_by_status_class: Record<string, string>;
  /** Milliseconds with three decimals (exact sums of microseconds). */
  latency_ms_sum: string;
  latency_ms_max: string;
  latency_count: string;
  ttft_ms_sum: string;
  ttft_ms_max: string;
  ttft_count: string;
  late_events: string;
  corrections: string;
  /** Integer pico-USD, as ClickHouse writes an Int128 in JSON (a string). */
  cost_pico: string;
  charge_pico: string;
  cache_savings_pico: string;
  unpriced_cost_events: string;
  unpriced_charge_events: string;
  /** Price versions that priced the hour's cost / charge, sorted (migration 0004). */
  cost_price_versions: string[];
  charge_price_versions: string[];
}

/** A rollup record's latency and ttft sums and maxima in whole microseconds, whichever version wrote it. */
export function rollupLatencyMicros(r: Pick<UsageRollupRow, 'latency_ms_sum' | 'latency_ms_max' | 'ttft_ms_sum' | 'ttft_ms_max' | 'latency_us_sum' | 'latency_us_max' | 'ttft_us_sum' | 'ttft_us_max'>): {
  latencySum: bigint;
  latencyMax: bigint;
  ttftSum: bigint;
  ttftMax: bigint;
} {
  const us = (micros: number, millis: number): bigint => BigInt(micros) + 1_000n * BigInt(millis);
  const max = (micros: number, millis: number): bigint => (BigInt(micros) > 1_000n * BigInt(millis) ? BigInt(micros) : 1_000n * BigInt(millis));
  return { latencySum: us(r.latency_us_sum, r.latency_ms_sum), latencyMax: max(r.latency_us_max, r.latency_ms_max), ttftSum: us(r.ttft_us_sum, r.ttft_ms_sum), ttftMax: max(r.ttft_us_max, r.ttft_ms_max) };
}

/**
 * A record as a usage_rollups_hourly row: the hour in seconds, latency and ttft as millisecond
 * decimals (Decimal(3)) from the record's microseconds and (v3 records) whole milliseconds.
 */
export function rollupRow(record: UsageRollupRow): Record<string, unknown> {
  const { hour_start, latency_us_sum: _a, latency_us_max: _b, ttft_us_sum: _c, ttft_us_max: _d, ...rest } = record;
  const micros = rollupLatencyMicros(record);
  return {
    ...rest,
    hour: Math.floor(hour_start / 1000),
    latency_ms_sum: microsDecimal(micros.latencySum),
    latency_ms_max: microsDecimal(micros.latencyMax),
    ttft_ms_sum: microsDecimal(micros.ttftSum),
    ttft_ms_max: microsDecimal(micros.ttftMax),
  };
}

export class UsageRollupsTable {
  readonly #db: string;
  constructor(private readonly handle: ClickHouseHandle) {
    this.#db = quoteIdentifier(handle.database);
  }

  async insert(rows: readonly UsageRollupRow[], dedupToken: string): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.handle.client.insert({
        table: `${this.#db}.usage_rollups_hourly`,
        values: rows.map(rollupRow),
        format: 'JSONEachRow',
        clickhouse_settings: { insert_deduplication_token: dedupToken },
      });
    } catch (error) {
      throw insertError(`insert of ${rows.length} rollups`, error);
    }
  }

  /** Exact hourly usage (FINAL, summed over partitions and corrections). */
  async hourly(filter: { tenantId?: string; from?: number; to?: number } = {}): Promise<HourlyUsage[]> {
    const where: string[] = [];
    if (filter.tenantId !== undefined) where.push('tenant_id = {tenant:String}');
    if (filter.from !== undefined) where.push('hour >= toDateTime({from:Int64})');
    if (filter.to !== undefined) where.push('hour < toDateTime({to:Int64})');
    const result = await this.handle.client.query({
      query: `SELECT tenant_id, toString(hour) AS hour, project_id, provider, model, operation, requests, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
                     output_tokens, reasoning_tokens, audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens, units, errors,
                     errors_by_class, requests_by_status_class, toString(latency_ms_sum) AS latency_ms_sum, toString(latency_ms_max) AS latency_ms_max, latency_count,
                     toString(ttft_ms_sum) AS ttft_ms_sum, toString(ttft_ms_max) AS ttft_ms_max, ttft_count, late_events, corrections,
                     toString(cost_pico) AS cost_pico, toString(charge_pico) AS charge_pico, toString(cache_savings_pico) AS cache_savings_pico, unpriced_cost_events, unpriced_charge_events,
                     cost_price_versions, charge_price_versions
              FROM ${this.#db}.usage_hourly ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
              ORDER BY tenant_id, hour, project_id, provider, model, operation`,
      query_params: { tenant: filter.tenantId ?? '', from: Math.floor((filter.from ?? 0) / 1000), to: Math.floor((filter.to ?? 0) / 1000) },
      format: 'JSONEachRow',
    });
    return result.json<HourlyUsage>();
  }
}
