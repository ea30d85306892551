import type { InvoiceReady, UsageEvent } from '@meterline/domain';
import { AvroCodec } from './codec';
import { SchemaRegistry } from './schema-registry';

export const USAGE_EVENT_RECORD = 'usage-event';

let shared: SchemaRegistry | undefined;

/** The registry of the repository's schemas/, loaded once per process. */
export function schemaRegistry(): SchemaRegistry {
  shared ??= SchemaRegistry.load();
  return shared;
}

export function usageEventCodec(registry: SchemaRegistry = schemaRegistry()): AvroCodec<UsageEvent> {
  return new AvroCodec<UsageEvent>(registry, USAGE_EVENT_RECORD);
}

export const USAGE_ROLLUP_RECORD = 'usage-rollup';
export const QUOTA_ALERT_RECORD = 'quota-alert';
export const PRICING_ALERT_RECORD = 'pricing-alert';

export interface PricingAlertRecord {
  alert_id: string;
  kind: 'unpriced_model';
  provider: string;
  model: string;
  reason: string;
  message: string;
  first_tenant_id: string;
  first_seen_at: number;
  price_books_id: string;
}

export function pricingAlertCodec(registry: SchemaRegistry = schemaRegistry()): AvroCodec<PricingAlertRecord> {
  return new AvroCodec<PricingAlertRecord>(registry, PRICING_ALERT_RECORD);
}

/** The usage-rollup record as it travels on `usage-rollups` (hour_start in epoch ms). */
export interface UsageRollupRecord {
  kind: 'cumulative' | 'correction';
  tenant_id: string;
  project_id: string;
  provider: string;
  model: string;
  operation: string;
  hour_start: number;
  source_partition: number;
  correction_offset: number;
  version: number;
  requests: number;
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  /** v4 buckets and units (0 / {} when read from v1-v3). */
  cache_write_1h_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  audio_input_tokens: number;
  audio_output_tokens: number;
  image_input_tokens: number;
  image_output_tokens: number;
  units: Record<string, number>;
  errors: number;
  errors_by_class: Record<string, number>;
  requests_by_status_class: Record<string, number>;
  latency_ms_sum: number;
  latency_ms_max: number;
  latency_count: number;
  ttft_ms_sum: number;
  ttft_ms_max: number;
  ttft_count: number;
  /**
   * Whole microseconds (v4). A v3 record read as v4 has 0 here and whole milliseconds in the
   * *_ms_* fields; a v4 writer writes 0 there. The row's sum is us + 1000 * ms (see rollupLatencyMicros in @meterline/clickhouse).
   */
  latency_us_sum: number;
  latency_us_max: number;
  ttft_us_sum: number;
  ttft_us_max: number;
  late_events: number;
  /** Money, integer pico-USD as decimal strings (v2; "0" when read from v1). */
  cost_pico: string;
  charge_pico: string;
  cache_savings_pico: string;
  unpriced_cost_events: number;
  unpriced_charge_events: number;
  /** Price version ids that priced the row's cost / charge, sorted and distinct (v3; [] when read from v1/v2). */
  cost_price_versions: string[];
  charge_price_versions: string[];
}

export interface QuotaAlertRecord {
  alert_id: string;
  tenant_id: string;
  quota_id: string;
  metric: string;
  period_label: string;
  period_start: number;
  period_end: number;
  threshold_percent: number;
  limit: string;
  used: string;
  enforcement: string;
  crossed_at: number;
}

export function usageRollupCodec(registry: SchemaRegistry = schemaRegistry()): AvroCodec<UsageRollupRecord> {
  return new AvroCodec<UsageRollupRecord>(registry, USAGE_ROLLUP_RECORD);
}

export function quotaAlertCodec(registry: SchemaRegistry = schemaRegistry()): AvroCodec<QuotaAlertRecord> {
  return new AvroCodec<QuotaAlertRecord>(registry, QUOTA_ALERT_RECORD);
}

export const INVOICE_READY_RECORD = 'invoice-ready';
export const INVOICE_ALERT_RECORD = 'invoice-alert';

/** An invoice was computed and its documents written (the `invoices` topic): the domain's record. */
export type InvoiceReadyRecord = InvoiceReady;

/** An invoice was blocked (the `invoice-alerts` topic). */
export interface InvoiceAlertRecord {
  alert_id: string;
  kind: 'reconciliation_mismatch';
  tenant_id: string;
  period: string;
  mismatch_count: number;
  report: string;
  detected_at: number;
}

export function invoiceReadyCodec(registry: SchemaRegistry = schemaRegistry()): AvroCodec<InvoiceReadyRecord> {
  return new AvroCodec<InvoiceReadyRecord>(registry, INVOICE_READY_RECORD);
}

export function invoiceAlertCodec(registry: SchemaRegistry = schemaRegistry()): AvroCodec<InvoiceAlertRecord> {
  return new AvroCodec<InvoiceAlertRecord>(registry, INVOICE_ALERT_RECORD);
}
