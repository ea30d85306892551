import type { UsageEvent } from '@meterline/domain';
import { hashApiKey } from './api-key';
import { uuidv7 } from './uuidv7';

/**
 * What a service passes to `meter.record()`: the event contract with defaults. Give the raw
 * `api_key` and the shim hashes it here, before anything is buffered or logged.
 */
export interface UsageRecord {
  event_id?: string;
  /** Event time in epoch ms or a Date; defaults to now. */
  occurred_at?: number | Date;
  tenant_id: string;
  project_id?: string | null;
  /** The raw API key: hashed in the caller's process, never sent. */
  api_key?: string;
  api_key_hash?: string | null;
  client_id?: string | null;
  user_id?: string | null;
  trace_id?: string | null;
  endpoint_id?: string | null;
  provider: string;
  model: string;
  /** Defaults to `chat`. */
  operation?: string;
  input_tokens?: number;
  cache_read_tokens?: number;
  /** Cache writes with the default (5-minute) TTL. */
  cache_write_tokens?: number;
  cache_write_1h_tokens?: number;
  output_tokens?: number;
  reasoning_tokens?: number;
  audio_input_tokens?: number;
  audio_output_tokens?: number;
  image_input_tokens?: number;
  image_output_tokens?: number;
  /** Per-request priced units (`web_search`, `web_fetch`, `code_execution`, ...): name -> count. */
  units?: Record<string, number>;
  service_tier?: string | null;
  /** Milliseconds, fractional allowed. */
  latency_ms?: number | null;
  ttft_ms?: number | null;
  status_code?: number | null;
  error_type?: string | null;
  metadata?: Record<string, string>;
}

export function buildUsageEvent(record: UsageRecord, now: number, pepper: string | undefined): UsageEvent {
  const occurredAt = record.occurred_at instanceof Date ? record.occurred_at.getTime() : (record.occurred_at ?? now);
  return {
    event_id: record.event_id ?? uuidv7(now),
    occurred_at: occurredAt,
    tenant_id: record.tenant_id,
    project_id: record.project_id ?? null,
    api_key_hash: record.api_key !== undefined ? hashApiKey(record.api_key, pepper) : (record.api_key_hash ?? null),
    client_id: record.client_id ?? null,
    user_id: record.user_id ?? null,
    trace_id: record.trace_id ?? null,
    endpoint_id: record.endpoint_id ?? null,
    provider: record.provider,
    model: record.model,
    operation: record.operation ?? 'chat',
    input_tokens: record.input_tokens ?? 0,
    cache_read_tokens: record.cache_read_tokens ?? 0,
    cache_write_tokens: record.cache_write_tokens ?? 0,
    cache_write_1h_tokens: record.cache_write_1h_tokens ?? 0,
    output_tokens: record.output_tokens ?? 0,
    reasoning_tokens: record.reasoning_tokens ?? 0,
    audio_input_tokens: record.audio_input_tokens ?? 0,
    audio_output_tokens: record.audio_output_tokens ?? 0,
    image_input_tokens: record.image_input_tokens ?? 0,
    image_output_tokens: record.image_output_tokens ?? 0,
    units: record.units ?? {},
    service_tier: record.service_tier ?? null,
    latency_ms: record.latency_ms ?? null,
    ttft_ms: record.ttft_ms ?? null,
    status_code: record.status_code ?? null,
    error_type: record.error_type ?? null,
    metadata: record.metadata ?? {},
  };
}
