import { describe, expect, it } from 'vitest';
import { usageEventV2Defaults, type UsageEvent } from './usage-event';
import { defaultEventLimits, describeViolations, validateUsageEvent } from './validate';

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
    ['too far in the past', { occurred_at: NOW - defaultEventLimits.maxPastMs - 1 }, 'occurred_at', 'max_past'],
    ['too far in the future', { occurred_at: NOW + defaultEventLimits.maxFutureMs + 1 }, 'occurred_at', 'max_future'],
    ['fractional timestamp', { occurred_at: NOW + 0.5 }, 'occurred_at', 'epoch_millis'],
    ['oversized project', { project_id: 'p'.repeat(257) }, 'project_id', 'max_length'],
    ['empty optional string', { user_id: '' }, 'user_id', 'non_empty'],
    ['raw key in the hash field', { api_key_hash: 'sk-live-abc' }, 'api_key_hash', 'sha256_hex'],
    ['bad status code', { status_code: 42 }, 'status_code', 'http_status'],
    ['negative latency', { latency_ms: -3 }, 'latency_ms', 'non_negative_integer'],
    ['too many metadata entries', { metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', 'max_entries'],
    ['oversized metadata', { metadata: { blob: 'x'.repeat(5_000) } }, 'metadata', 'max_size'],
    ['non-string metadata value', { metadata: { n: 1 } }, 'metadata.n', 'string'],
  ])('rejects %s', (_name, patch, field, rule) => {
    const violations = validateUsageEvent({ ...valid, ...patch } as UsageEvent, NOW);
    expect(violations).toContainEqual(expect.objectContaining({ field, rule }));
    expect(describeViolations(violations)).toContain(field);
  });

  it('accepts the exact bounds', () => {
    expect(validateUsageEvent({ ...valid, occurred_at: NOW - defaultEventLimits.maxPastMs }, NOW)).toEqual([]);
    expect(validateUsageEvent({ ...valid, occurred_at: NOW + defaultEventLimits.maxFutureMs }, NOW)).toEqual([]);
  });

  it('lists every violation at once', () => {
    const violations = validateUsageEvent({ ...valid, tenant_id: '', input_tokens: -1, output_tokens: 0.5 }, NOW);
    expect(violations.map((v) => v.field)).toEqual(['tenant_id', 'input_tokens', 'output_tokens']);
  });
});
