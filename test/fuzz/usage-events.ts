import fc from 'fast-check';
import { knownUnits, type UsageEvent } from '@meterline/domain';

/** A model the shipped price books price, one they price by pattern or alias, and some they do not. */
const models = fc.constantFrom(
  ['openai', 'gpt-4o'], ['openai', 'gpt-4o-mini'], ['openai', 'o3'], ['anthropic', 'claude-sonnet-4-20250514'], ['anthropic', 'claude-3-5-haiku-latest'],
  ['google', 'gemini-2.5-pro'], ['google', 'gemini-2.5-flash'], ['openai', 'gpt-unknown-9'], ['acme', 'alpha'],
);
const id = fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/);
// The largest count Avro longs carry exactly in avsc is 2^53 - 2.
const tokens = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 200_000 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 2 ** 32, 9_007_199_254_740_990) });
const nullable = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arbitrary, { nil: null });

/**
 * A usage event that passes validation at `now` (within a day of it), with every field drawn:
 * the base the validator and pricing fuzzers mutate, and the events the decode step must keep.
 */
export function plausibleUsageEvent(now: number): fc.Arbitrary<UsageEvent> {
  return fc.record({
    event_id: id,
    occurred_at: fc.integer({ min: now - 86_400_000, max: now }),
    tenant_id: id,
    project_id: nullable(id),
    api_key_hash: nullable(fc.stringMatching(/^[0-9a-f]{64}$/)),
    client_id: nullable(id),
    user_id: nullable(id),
    trace_id: nullable(id),
    endpoint_id: nullable(id),
    model: models,
    operation: fc.constantFrom('chat', 'responses', 'embedding', 'audio'),
    input_tokens: tokens,
    cache_read_tokens: tokens,
    cache_write_tokens: tokens,
    cache_write_1h_tokens: tokens,
    output_tokens: tokens,
    reasoning_tokens: tokens,
    audio_input_tokens: tokens,
    audio_output_tokens: tokens,
    image_input_tokens: tokens,
    image_output_tokens: tokens,
    units: fc.dictionary(fc.constantFrom(...knownUnits, 'x_custom'), fc.integer({ min: 0, max: 1_000 }), { maxKeys: 3 }),
    service_tier: nullable(fc.constantFrom('standard', 'priority', 'flex', 'batch', 'ON_DEMAND', 'PROVISIONED_THROUGHPUT', 'Standard', 'scale')),
    latency_ms: nullable(fc.double({ min: 0, max: 1e6, noNaN: true })),
    ttft_ms: nullable(fc.double({ min: 0, max: 1e6, noNaN: true })),
    status_code: nullable(fc.integer({ min: 100, max: 599 })),
    error_type: nullable(id),
    metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 16 }), fc.string({ maxLength: 32 }), { maxKeys: 4 }),
  }).map(({ model: [provider, model], ...rest }) => ({ ...rest, provider: provider, model: model }));
}
