import { describe, expect, it } from 'vitest';
import { usageEventV2Defaults, type UsageEvent } from './usage-event';
import { defaultEventLimits, describeTelemetryWarnings, describeViolations, screenTelemetry, validateUsageEvent } from './validate';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

const valid: UsageEvent = {
  ...usageEventV2Defaults(),
  event_id: '0192f3a1-7c4e-7b2a-9d1e-5f6a7b8c9d0e',
  occurred_at: NOW - 1_000,
  tenant_id: 'acme',
  project_id: null,
  api_key_hash: 'a'.repeat(64),
  client_id: null,
  user_id: null,
  trace_id: null,
  endpoint_id: null,
  provider: 'openai',
  model: 'gpt-4o',
  operation: 'chat',
  input_tokens: 10,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  output_tokens: 5,
  reasoning_tokens: 0,
  latency_ms: 100,
  ttft_ms: null,
  status_code: 200,
  error_type: null,
  metadata: {},
};

describe('validateUsageEvent', () => {
  it('accepts a valid event', () => {
    expect(validateUsageEvent(valid, NOW)).toEqual([]);
  });

  it.each<[string, Partial<Record<keyof UsageEvent, unknown>>, string, string]>([
    ['empty tenant', { tenant_id: '' }, 'tenant_id', 'non_empty'],
    ['blank tenant', { tenant_id: '   ' }, 'tenant_id', 'non_empty'],
    ['missing model', { model: null }, 'model', 'required'],
    ['negative input tokens', { input_tokens: -1 }, 'input_tokens', 'non_negative_integer'],
    ['fractional output tokens', { output_tokens: 1.5 }, 'output_tokens', 'non_negative_integer'],
    ['string tokens', { cache_read_tokens: '12' }, 'cache_read_tokens', 'non_negative_integer'],
    ['NaN reasoning', { reasoning_tokens: Number.NaN }, 'reasoning_tokens', 'non_negative_integer'],
    ['tokens past what an Avro long carries exactly', { output_tokens: Number.MAX_SAFE_INTEGER }, 'output_tokens', 'non_negative_integer'],
    ['too far in the past', { occurred_at: NOW - defaultEventLimits.maxPastMs - 1 }, 'occurred_at', 'max_past'],
    ['too far in the future', { occurred_at: NOW + defaultEventLimits.maxFutureMs + 1 }, 'occurred_at', 'max_future'],
    ['fractional timestamp', { occurred_at: NOW + 0.5 }, 'occurred_at', 'epoch_millis'],
    ['oversized project', { project_id: 'p'.repeat(257) }, 'project_id', 'max_length'],
    ['empty optional string', { user_id: '' }, 'user_id', 'non_empty'],
    ['raw key in the hash field', { api_key_hash: 'sk-live-abc' }, 'api_key_hash', 'sha256_hex'],
    ['negative 1-hour cache writes', { cache_write_1h_tokens: -1 }, 'cache_write_1h_tokens', 'non_negative_integer'],
    ['fractional audio input', { audio_input_tokens: 0.5 }, 'audio_input_tokens', 'non_negative_integer'],
    ['string image output', { image_output_tokens: '3' }, 'image_output_tokens', 'non_negative_integer'],
    ['units not a map', { units: [] }, 'units', 'count_map'],
    ['a unit name out of the pattern', { units: { 'Web Search': 1 } }, 'units.Web Search', 'unit_name'],
    ['a negative unit count', { units: { web_search: -1 } }, 'units.web_search', 'non_negative_integer'],
    ['a fractional unit count', { units: { web_fetch: 1.5 } }, 'units.web_fetch', 'non_negative_integer'],
    ['too many units', { units: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`u${i}`, 1])) }, 'units', 'max_entries'],
    ['empty service tier', { service_tier: '' }, 'service_tier', 'non_empty'],
    ['too many metadata entries', { metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', 'max_entries'],
    ['oversized metadata', { metadata: { blob: 'x'.repeat(5_000) } }, 'metadata', 'max_size'],
    ['non-string metadata value', { metadata: { n: 1 } }, 'metadata.n', 'string'],
  ])('rejects %s', (_name, patch, field, rule) => {
    const violations = validateUsageEvent({ ...valid, ...patch } as UsageEvent, NOW);
    expect(violations).toContainEqual(expect.objectContaining({ field, rule }));
    expect(describeViolations(violations)).toContain(field);
  });

  it('accepts v2 usage: every bucket, units, a tier, fractional telemetry', () => {
    const v2: UsageEvent = { ...valid, cache_write_1h_tokens: 4_096, audio_input_tokens: 17, audio_output_tokens: 23, image_input_tokens: 1_568, image_output_tokens: 4, units: { web_search: 3, code_execution: 1 }, service_tier: 'priority', latency_ms: 1_834.271, ttft_ms: 0.25 };
    expect(validateUsageEvent(v2, NOW)).toEqual([]);
    expect(screenTelemetry(v2)).toEqual([]);
    expect(v2.latency_ms).toBe(1_834.271);
  });

  it('accepts the exact bounds', () => {
    expect(validateUsageEvent({ ...valid, occurred_at: NOW - defaultEventLimits.maxPastMs }, NOW)).toEqual([]);
    expect(validateUsageEvent({ ...valid, occurred_at: NOW + defaultEventLimits.maxFutureMs }, NOW)).toEqual([]);
  });

  // Past Date's range (±8.64e15 ms) toISOString throws: an event or a Kafka timestamp out there
  // threw a RangeError from the validator and stopped a sink batch (found by test/fuzz).
  it.each<[string, number, number, string]>([
    ['occurred_at past the last Date', Number.MAX_SAFE_INTEGER, NOW, 'max_future'],
    ['occurred_at before the first Date', -Number.MAX_SAFE_INTEGER, NOW, 'max_past'],
    ['a reference time (Kafka timestamp) past the last Date', NOW, 8_640_000_000_000_001, 'max_past'],
    ['a reference time before the first Date', NOW, -8_640_000_000_000_001, 'max_future'],
  ])('%s is a violation, not a throw', (_name, occurredAt, referenceTime, rule) => {
    const violations = validateUsageEvent({ ...valid, occurred_at: occurredAt }, referenceTime);
    expect(violations).toEqual([{ field: 'occurred_at', rule, message: expect.stringContaining('ms since the epoch') as string }]);
  });

  // An embedding service's own objects reach the shim's validator: String() threw a TypeError
  // for these instead of a violation (found by test/fuzz).
  it.each<[string, unknown, keyof UsageEvent, string]>([
    ['a bucket without a prototype', Object.create(null), 'input_tokens', 'non_negative_integer'],
    ['occurred_at without a prototype', Object.create(null), 'occurred_at', 'epoch_millis'],
    ['a bucket whose toString throws', { toString: () => { throw new Error('no'); } }, 'output_tokens', 'non_negative_integer'],
  ])('%s is a violation, not a throw', (_name, value, field, rule) => {
    const violations = validateUsageEvent({ ...valid, [field]: value }, NOW);
    expect(violations.map((v) => [v.field, v.rule])).toEqual([[field, rule]]);
    expect(describeViolations(violations)).toContain('[object Object]');
  });

  it('lists every violation at once', () => {
    const violations = validateUsageEvent({ ...valid, tenant_id: '', input_tokens: -1, output_tokens: 0.5 }, NOW);
    expect(violations.map((v) => v.field)).toEqual(['tenant_id', 'input_tokens', 'output_tokens']);
  });
});

describe('screenTelemetry: bad telemetry is reported and dropped, the usage kept', () => {
  it.each<[string, Partial<Record<keyof UsageEvent, unknown>>, string, string]>([
    ['negative latency', { latency_ms: -3 }, 'latency_ms', 'finite_non_negative'],
    ['NaN latency', { latency_ms: Number.NaN }, 'latency_ms', 'finite_non_negative'],
    ['infinite ttft', { ttft_ms: Number.POSITIVE_INFINITY }, 'ttft_ms', 'finite_non_negative'],
    ['a string latency', { latency_ms: '12' }, 'latency_ms', 'finite_non_negative'],
    ['an absurd latency (over a day)', { latency_ms: defaultEventLimits.maxTelemetryMs + 0.5 }, 'latency_ms', 'max_ms'],
    ['a status code out of range', { status_code: 42 }, 'status_code', 'http_status'],
    ['a fractional status code', { status_code: 200.5 }, 'status_code', 'http_status'],
  ])('%s: valid for billing, the field set to null and named', (_name, patch, field, rule) => {
    const event = { ...valid, input_tokens: 1_234, ...patch } as UsageEvent;
    expect(validateUsageEvent(event, NOW)).toEqual([]);
    const warnings = screenTelemetry(event);
    expect(warnings).toEqual([expect.objectContaining({ field, rule })]);
    expect(event[field as 'latency_ms']).toBeNull();
    expect(event.input_tokens).toBe(1_234);
    expect(describeTelemetryWarnings(warnings)).toContain(`${field}=`);
  });

  it('keeps good values, names every bad one at once', () => {
    const event = { ...valid, latency_ms: -1, ttft_ms: 12.5, status_code: 1_000 };
    expect(screenTelemetry(event).map((w) => w.field)).toEqual(['latency_ms', 'status_code']);
    expect(event).toMatchObject({ latency_ms: null, ttft_ms: 12.5, status_code: null });
  });
});
