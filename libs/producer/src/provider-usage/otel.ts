import { emptyUsageBuckets } from '@meterline/domain';
import { describeValue, UsageReader, type UsageBuckets } from './read';

/**
 * OpenTelemetry GenAI semantic-convention attribute names for token usage
 * (registry: gen_ai.usage.*). Cache and reasoning counts are subsets: the conventions say
 * cache_read and cache_creation SHOULD be included in input_tokens, and reasoning in
 * output_tokens.
 */
export const OTEL_GEN_AI_USAGE = {
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  cacheCreationInputTokens: 'gen_ai.usage.cache_creation.input_tokens',
  reasoningOutputTokens: 'gen_ai.usage.reasoning.output_tokens',
  /** Deprecated names for input_tokens and output_tokens, still sent by older instrumentations. */
  deprecatedPromptTokens: 'gen_ai.usage.prompt_tokens',
  deprecatedCompletionTokens: 'gen_ai.usage.completion_tokens',
} as const;

const reader: UsageReader = new UsageReader('otel.gen_ai');
const DECIMAL_INTEGER = /^\d+$/;

/** OTel int attributes may arrive as numbers, bigints, or (OTLP/JSON int64) decimal strings. */
function attribute(attributes: Record<string, unknown>, name: string): number | undefined {
  const value = attributes[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return reader.checkCount(value, name);
  if (typeof value === 'bigint' && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
  if (typeof value === 'string' && DECIMAL_INTEGER.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  return reader.fail(name, 'non_negative_integer', `must be a non-negative integer token count, got ${describeValue(value)}`);
}

function current(attributes: Record<string, unknown>, name: string, deprecated: string): number {
  const now = attribute(attributes, name);
  const old = attribute(attributes, deprecated);
  if (now !== undefined && old !== undefined && now !== old) {
    reader.fail(name, 'conflicting_attributes', `${name} is ${now} but the deprecated ${deprecated} is ${old}`);
  }
  const value = now ?? old;
  if (value === undefined) reader.fail(name, 'required', `missing (nor the deprecated ${deprecated}); it is required to split the usage`);
  return value;
}

/**
 * Splits OpenTelemetry GenAI span attributes into disjoint buckets.
 * `gen_ai.usage.input_tokens` includes `gen_ai.usage.cache_read.input_tokens` and
 * `gen_ai.usage.cache_creation.input_tokens`; `gen_ai.usage.output_tokens` includes
 * `gen_ai.usage.reasoning.output_tokens`. The deprecated `gen_ai.usage.prompt_tokens` /
 * `gen_ai.usage.completion_tokens` are read when the current names are absent.
 */
export function fromOtelGenAiAttributes(attributes: Record<string, unknown>): UsageBuckets {
  const attrs = reader.object(attributes, 'attributes');
  const input = current(attrs, OTEL_GEN_AI_USAGE.inputTokens, OTEL_GEN_AI_USAGE.deprecatedPromptTokens);
  const output = current(attrs, OTEL_GEN_AI_USAGE.outputTokens, OTEL_GEN_AI_USAGE.deprecatedCompletionTokens);
  const cacheRead = attribute(attrs, OTEL_GEN_AI_USAGE.cacheReadInputTokens) ?? 0;
  const cacheWrite = attribute(attrs, OTEL_GEN_AI_USAGE.cacheCreationInputTokens) ?? 0;
  const reasoning = attribute(attrs, OTEL_GEN_AI_USAGE.reasoningOutputTokens) ?? 0;
  const cached = cacheRead + cacheWrite;
  if (cached > input) {
    reader.fail(
      OTEL_GEN_AI_USAGE.inputTokens,
      'cache_exceeds_input',
      `cache_read (${cacheRead}) + cache_creation (${cacheWrite}) = ${cached} is more than ${OTEL_GEN_AI_USAGE.inputTokens} (${input}), which must include them`,
    );
  }
  return {
    ...emptyUsageBuckets(),
    input_tokens: input - cached,
    cache_read_tokens: cacheRead,
    cache_write_tokens: cacheWrite,
    output_tokens: reader.subtract(output, OTEL_GEN_AI_USAGE.outputTokens, reasoning, OTEL_GEN_AI_USAGE.reasoningOutputTokens, 'reasoning_exceeds_output'),
    reasoning_tokens: reasoning,
  };
}
