import { emptyUsageBuckets } from '@meterline/domain';
import { UsageReader, type UsageBuckets } from './read';

/** `usage` of an Anthropic Messages response (or the final usage of a stream). */
export interface AnthropicUsage {
  /** Input tokens after the last cache breakpoint: cache reads and writes are NOT included. */
  input_tokens: number;
  /** All output tokens; extended-thinking tokens are included and not reported apart. */
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  /** Cache writes by lifetime; when present they add up to `cache_creation_input_tokens`. */
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null;
  service_tier?: string | null;
}

const reader: UsageReader = new UsageReader('anthropic');

/**
 * Splits Anthropic usage into disjoint buckets. Anthropic already reports them apart:
 * `input_tokens` excludes cache reads (`cache_read_input_tokens`) and cache writes
 * (`cache_creation_input_tokens`), either of which may be absent or null (read as 0).
 * Thinking tokens are billed as output and not broken out, so reasoning is 0.
 */
export function fromAnthropicUsage(usage: AnthropicUsage): UsageBuckets {
  const u = reader.object(usage, 'usage');
  const input = reader.count(u, 'input_tokens', 'input_tokens', true);
  const output = reader.count(u, 'output_tokens', 'output_tokens', true);
  const cacheRead = reader.count(u, 'cache_read_input_tokens', 'cache_read_input_tokens', false);
  let cacheWrite = reader.count(u, 'cache_creation_input_tokens', 'cache_creation_input_tokens', false);
  if (u.cache_creation !== undefined && u.cache_creation !== null) {
    const detail = reader.object(u.cache_creation, 'cache_creation');
    const fiveMinutes = reader.count(detail, 'ephemeral_5m_input_tokens', 'cache_creation.ephemeral_5m_input_tokens', false);
    const oneHour = reader.count(detail, 'ephemeral_1h_input_tokens', 'cache_creation.ephemeral_1h_input_tokens', false);
    const byLifetime = fiveMinutes + oneHour;
    if (u.cache_creation_input_tokens === undefined || u.cache_creation_input_tokens === null) {
      cacheWrite = byLifetime;
    } else if (byLifetime !== cacheWrite) {
      reader.fail(
        'cache_creation',
        'cache_creation_mismatch',
        `ephemeral_5m_input_tokens (${fiveMinutes}) + ephemeral_1h_input_tokens (${oneHour}) = ${byLifetime}, but cache_creation_input_tokens is ${cacheWrite}`,
      );
    }
  }
  return { ...emptyUsageBuckets(), input_tokens: input, cache_read_tokens: cacheRead, cache_write_tokens: cacheWrite, output_tokens: output, reasoning_tokens: 0 };
}
