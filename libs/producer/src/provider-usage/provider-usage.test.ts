import { describe, expect, it } from 'vitest';
import { emptyUsageBuckets, totalTokens } from '@meterline/domain';
import { MeterlineError } from '@meterline/platform';
import {
  fromAnthropicUsage,
  fromGeminiUsageMetadata,
  fromOpenAIChatCompletionsUsage,
  fromOpenAIResponsesUsage,
  fromOtelGenAiAttributes,
  UsageAdapterError,
  type AnthropicUsage,
  type GeminiUsageMetadata,
  type OpenAIChatCompletionsUsage,
  type OpenAIResponsesUsage,
  type UsageBuckets,
} from './index';

function sum(b: UsageBuckets): number {
  return totalTokens(b);
}

function buckets(input: number, cacheRead: number, cacheWrite: number, output: number, reasoning: number): UsageBuckets {
  return { ...emptyUsageBuckets(), input_tokens: input, cache_read_tokens: cacheRead, cache_write_tokens: cacheWrite, output_tokens: output, reasoning_tokens: reasoning };
}

/** Runs `fn` and returns the UsageAdapterError it throws. */
function adapterError(fn: () => unknown): UsageAdapterError {
  try {
    fn();
  } catch (error) {
    if (error instanceof UsageAdapterError) return error;
    throw error;
  }
  throw new Error('expected a UsageAdapterError');
}

describe('fromOpenAIChatCompletionsUsage', () => {
  it.each<[string, OpenAIChatCompletionsUsage, UsageBuckets]>([
    [
      'plain chat completion (API reference shape)',
      {
        prompt_tokens: 19,
        completion_tokens: 10,
        total_tokens: 29,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
      buckets(19, 0, 0, 10, 0),
    ],
    [
      'prompt caching: cached tokens are inside prompt_tokens',
      {
        prompt_tokens: 2006,
        completion_tokens: 300,
        total_tokens: 2306,
        prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
      buckets(86, 1920, 0, 300, 0),
    ],
    [
      'o-series reasoning: reasoning tokens are inside completion_tokens',
      {
        prompt_tokens: 1117,
        completion_tokens: 1846,
        total_tokens: 2963,
        prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 1600, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
      buckets(93, 1024, 0, 246, 1600),
    ],
    ['no details (older models, compatible servers)', { prompt_tokens: 57, completion_tokens: 17, total_tokens: 74 }, buckets(57, 0, 0, 17, 0)],
    [
      'null details and counts',
      { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, prompt_tokens_details: null, completion_tokens_details: { reasoning_tokens: null } },
      buckets(12, 0, 0, 3, 0),
    ],
    ['final streamed chunk with include_usage', { prompt_tokens: 8, completion_tokens: 0, total_tokens: 8 }, buckets(8, 0, 0, 0, 0)],
  ])('%s', (_what, usage, expected) => {
    const result = fromOpenAIChatCompletionsUsage(usage);
    expect(result).toEqual(expected);
    expect(sum(result)).toBe(usage.total_tokens);
  });

  it.each<[string, unknown, string, string]>([
    ['cached > prompt', { prompt_tokens: 100, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 128 } }, 'prompt_tokens_details.cached_tokens', 'cached_exceeds_prompt'],
    ['reasoning > completion', { prompt_tokens: 1, completion_tokens: 10, completion_tokens_details: { reasoning_tokens: 11 } }, 'completion_tokens_details.reasoning_tokens', 'reasoning_exceeds_completion'],
    ['negative prompt', { prompt_tokens: -1, completion_tokens: 1 }, 'prompt_tokens', 'non_negative_integer'],
    ['fractional completion', { prompt_tokens: 1, completion_tokens: 1.5 }, 'completion_tokens', 'non_negative_integer'],
    ['string count', { prompt_tokens: '12', completion_tokens: 1 }, 'prompt_tokens', 'non_negative_integer'],
    ['missing prompt_tokens', { completion_tokens: 1 }, 'prompt_tokens', 'required'],
    ['null completion_tokens', { prompt_tokens: 1, completion_tokens: null }, 'completion_tokens', 'required'],
    ['total disagrees', { prompt_tokens: 10, completion_tokens: 5, total_tokens: 16 }, 'total_tokens', 'total_mismatch'],
    ['details not an object', { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: 3 }, 'prompt_tokens_details', 'object'],
    ['not an object', null, 'usage', 'object'],
  ])('rejects %s', (_what, usage, field, rule) => {
    const error = adapterError(() => fromOpenAIChatCompletionsUsage(usage as OpenAIChatCompletionsUsage));
    expect(error).toMatchObject({ provider: 'openai.chat_completions', field, rule, code: 'USAGE_INVALID', retriable: false });
    expect(error.message).toContain(field);
    expect(error.message).toContain(`[${rule}]`);
  });

  it('can skip the total check', () => {
    expect(fromOpenAIChatCompletionsUsage({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 16 }, { checkTotal: false })).toEqual(buckets(10, 0, 0, 5, 0));
  });
});

describe('fromOpenAIResponsesUsage', () => {
  it.each<[string, OpenAIResponsesUsage, UsageBuckets]>([
    [
      'plain response (API reference shape)',
      { input_tokens: 36, input_tokens_details: { cached_tokens: 0 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 123 },
      buckets(36, 0, 0, 87, 0),
    ],
    [
      'reasoning model',
      { input_tokens: 75, input_tokens_details: { cached_tokens: 0 }, output_tokens: 1186, output_tokens_details: { reasoning_tokens: 1024 }, total_tokens: 1261 },
      buckets(75, 0, 0, 162, 1024),
    ],
    [
      'cached input and reasoning',
      { input_tokens: 3500, input_tokens_details: { cached_tokens: 3072 }, output_tokens: 250, output_tokens_details: { reasoning_tokens: 128 }, total_tokens: 3750 },
      buckets(428, 3072, 0, 122, 128),
    ],
  ])('%s', (_what, usage, expected) => {
    const result = fromOpenAIResponsesUsage(usage);
    expect(result).toEqual(expected);
    expect(sum(result)).toBe(usage.total_tokens);
  });

  it.each<[string, unknown, string, string]>([
    ['cached > input', { input_tokens: 10, output_tokens: 1, input_tokens_details: { cached_tokens: 11 } }, 'input_tokens_details.cached_tokens', 'cached_exceeds_input'],
    ['reasoning > output', { input_tokens: 10, output_tokens: 1, output_tokens_details: { reasoning_tokens: 2 } }, 'output_tokens_details.reasoning_tokens', 'reasoning_exceeds_output'],
    ['chat-completions field names', { prompt_tokens: 10, completion_tokens: 1 }, 'input_tokens', 'required'],
    ['total disagrees', { input_tokens: 10, output_tokens: 1, total_tokens: 10 }, 'total_tokens', 'total_mismatch'],
  ])('rejects %s', (_what, usage, field, rule) => {
    expect(adapterError(() => fromOpenAIResponsesUsage(usage as OpenAIResponsesUsage))).toMatchObject({ provider: 'openai.responses', field, rule });
  });
});

describe('fromAnthropicUsage', () => {
  // Anthropic reports no total; input + cache_read + cache_write is the whole prompt.
  it.each<[string, AnthropicUsage, UsageBuckets, number]>([
    ['plain message (API reference shape)', { input_tokens: 2095, output_tokens: 503 }, buckets(2095, 0, 0, 503, 0), 2095],
    [
      'cache write on the first request',
      {
        input_tokens: 21,
        cache_creation_input_tokens: 188086,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 188086, ephemeral_1h_input_tokens: 0 },
        output_tokens: 393,
        service_tier: 'standard',
      },
      buckets(21, 0, 188086, 393, 0),
      188107,
    ],
    [
      'cache read on the next request',
      {
        input_tokens: 21,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 188086,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
        output_tokens: 393,
        service_tier: 'standard',
      },
      buckets(21, 188086, 0, 393, 0),
      188107,
    ],
    [
      'reads and writes together, 1-hour writes',
      { input_tokens: 3, cache_creation_input_tokens: 1500, cache_read_input_tokens: 12000, cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1000 }, output_tokens: 64 },
      buckets(3, 12000, 1500, 64, 0),
      13503,
    ],
    ['null cache fields', { input_tokens: 12, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens: 6 }, buckets(12, 0, 0, 6, 0), 12],
    [
      'only the lifetime breakdown',
      { input_tokens: 12, cache_creation: { ephemeral_5m_input_tokens: 40, ephemeral_1h_input_tokens: 2 }, output_tokens: 6 },
      buckets(12, 0, 42, 6, 0),
      54,
    ],
    ['extended thinking: thinking is inside output_tokens', { input_tokens: 58, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 3174 }, buckets(58, 0, 0, 3174, 0), 58],
  ])('%s', (_what, usage, expected, prompt) => {
    const result = fromAnthropicUsage(usage);
    expect(result).toEqual(expected);
    expect(result.input_tokens + result.cache_read_tokens + result.cache_write_tokens).toBe(prompt);
    expect(sum(result)).toBe(prompt + usage.output_tokens);
  });

  it.each<[string, unknown, string, string]>([
    ['a message_delta usage alone (no input_tokens)', { output_tokens: 15 }, 'input_tokens', 'required'],
    ['negative cache read', { input_tokens: 1, output_tokens: 1, cache_read_input_tokens: -5 }, 'cache_read_input_tokens', 'non_negative_integer'],
    [
      'lifetimes that do not add up',
      { input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 10, cache_creation: { ephemeral_5m_input_tokens: 4, ephemeral_1h_input_tokens: 5 } },
      'cache_creation',
      'cache_creation_mismatch',
    ],
    ['fractional output', { input_tokens: 1, output_tokens: 0.5 }, 'output_tokens', 'non_negative_integer'],
  ])('rejects %s', (_what, usage, field, rule) => {
    expect(adapterError(() => fromAnthropicUsage(usage as AnthropicUsage))).toMatchObject({ provider: 'anthropic', field, rule });
  });
});

describe('fromGeminiUsageMetadata', () => {
  it.each<[string, GeminiUsageMetadata & Record<string, unknown>, UsageBuckets]>([
    [
      'thinking model (API reference shape)',
      { promptTokenCount: 11, candidatesTokenCount: 345, totalTokenCount: 1062, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 11 }], thoughtsTokenCount: 706 },
      buckets(11, 0, 0, 345, 706),
    ],
    [
      'context cache hit: cached tokens are inside promptTokenCount',
      {
        promptTokenCount: 12345,
        cachedContentTokenCount: 8192,
        candidatesTokenCount: 200,
        thoughtsTokenCount: 150,
        totalTokenCount: 12695,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: 12345 }],
        cacheTokensDetails: [{ modality: 'TEXT', tokenCount: 8192 }],
      },
      buckets(4153, 8192, 0, 200, 150),
    ],
    [
      'tool use: toolUsePromptTokenCount is input on top of promptTokenCount',
      { promptTokenCount: 120, candidatesTokenCount: 40, toolUsePromptTokenCount: 900, thoughtsTokenCount: 64, totalTokenCount: 1124 },
      buckets(1020, 0, 0, 40, 64),
    ],
    ['no thinking', { promptTokenCount: 4, candidatesTokenCount: 9, totalTokenCount: 13 }, buckets(4, 0, 0, 9, 0)],
    ['blocked prompt: no candidates', { promptTokenCount: 8, totalTokenCount: 8 }, buckets(8, 0, 0, 0, 0)],
  ])('%s', (_what, usage, expected) => {
    const result = fromGeminiUsageMetadata(usage);
    expect(result).toEqual(expected);
    expect(sum(result)).toBe(usage.totalTokenCount);
  });

  it.each<[string, unknown, string, string]>([
    ['cached > prompt', { promptTokenCount: 100, cachedContentTokenCount: 101 }, 'cachedContentTokenCount', 'cached_exceeds_prompt'],
    ['missing promptTokenCount', { candidatesTokenCount: 3 }, 'promptTokenCount', 'required'],
    ['negative thoughts', { promptTokenCount: 3, thoughtsTokenCount: -1 }, 'thoughtsTokenCount', 'non_negative_integer'],
    ['total without thoughts (a payload read the wrong way)', { promptTokenCount: 11, candidatesTokenCount: 345, thoughtsTokenCount: 706, totalTokenCount: 356 }, 'totalTokenCount', 'total_mismatch'],
  ])('rejects %s', (_what, usage, field, rule) => {
    expect(adapterError(() => fromGeminiUsageMetadata(usage as GeminiUsageMetadata))).toMatchObject({ provider: 'gemini', field, rule });
  });
});

describe('fromOtelGenAiAttributes', () => {
  it.each<[string, Record<string, unknown>, UsageBuckets, number]>([
    [
      'Anthropic span: cache reads and writes are inside input_tokens',
      {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.request.model': 'claude-sonnet-4-20250514',
        'gen_ai.usage.input_tokens': 2100,
        'gen_ai.usage.cache_read.input_tokens': 1800,
        'gen_ai.usage.cache_creation.input_tokens': 200,
        'gen_ai.usage.output_tokens': 350,
      },
      buckets(100, 1800, 200, 350, 0),
      2450,
    ],
    [
      'OpenAI span: reasoning is inside output_tokens',
      {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.usage.input_tokens': 2006,
        'gen_ai.usage.cache_read.input_tokens': 1920,
        'gen_ai.usage.output_tokens': 300,
        'gen_ai.usage.reasoning.output_tokens': 128,
      },
      buckets(86, 1920, 0, 172, 128),
      2306,
    ],
    ['only the required counts', { 'gen_ai.usage.input_tokens': 5, 'gen_ai.usage.output_tokens': 7 }, buckets(5, 0, 0, 7, 0), 12],
    ['deprecated prompt/completion names', { 'gen_ai.usage.prompt_tokens': 57, 'gen_ai.usage.completion_tokens': 17 }, buckets(57, 0, 0, 17, 0), 74],
    ['both names agreeing', { 'gen_ai.usage.input_tokens': 57, 'gen_ai.usage.prompt_tokens': 57, 'gen_ai.usage.output_tokens': 1 }, buckets(57, 0, 0, 1, 0), 58],
    ['OTLP/JSON int64 strings and bigints', { 'gen_ai.usage.input_tokens': '1200', 'gen_ai.usage.cache_read.input_tokens': 1000n, 'gen_ai.usage.output_tokens': '30' }, buckets(200, 1000, 0, 30, 0), 1230],
  ])('%s', (_what, attributes, expected, total) => {
    const result = fromOtelGenAiAttributes(attributes);
    expect(result).toEqual(expected);
    expect(sum(result)).toBe(total);
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['cache > input (an instrumentation that does not include cache in input)', { 'gen_ai.usage.input_tokens': 100, 'gen_ai.usage.cache_read.input_tokens': 1800, 'gen_ai.usage.output_tokens': 1 }, 'gen_ai.usage.input_tokens', 'cache_exceeds_input'],
    ['reasoning > output', { 'gen_ai.usage.input_tokens': 1, 'gen_ai.usage.output_tokens': 5, 'gen_ai.usage.reasoning.output_tokens': 6 }, 'gen_ai.usage.reasoning.output_tokens', 'reasoning_exceeds_output'],
    ['missing input', { 'gen_ai.usage.output_tokens': 5 }, 'gen_ai.usage.input_tokens', 'required'],
    ['missing output', { 'gen_ai.usage.input_tokens': 5 }, 'gen_ai.usage.output_tokens', 'required'],
    ['conflicting old and new names', { 'gen_ai.usage.input_tokens': 5, 'gen_ai.usage.prompt_tokens': 6, 'gen_ai.usage.output_tokens': 1 }, 'gen_ai.usage.input_tokens', 'conflicting_attributes'],
    ['a fractional count', { 'gen_ai.usage.input_tokens': 5.5, 'gen_ai.usage.output_tokens': 1 }, 'gen_ai.usage.input_tokens', 'non_negative_integer'],
    ['a negative string', { 'gen_ai.usage.input_tokens': '-5', 'gen_ai.usage.output_tokens': 1 }, 'gen_ai.usage.input_tokens', 'non_negative_integer'],
    ['a negative bigint', { 'gen_ai.usage.input_tokens': 5, 'gen_ai.usage.output_tokens': -1n }, 'gen_ai.usage.output_tokens', 'non_negative_integer'],
  ])('rejects %s', (_what, attributes, field, rule) => {
    expect(adapterError(() => fromOtelGenAiAttributes(attributes))).toMatchObject({ provider: 'otel.gen_ai', field, rule });
  });
});

describe('UsageAdapterError', () => {
  it('is a non-retriable MeterlineError with code USAGE_INVALID', () => {
    const error = adapterError(() => fromGeminiUsageMetadata({ promptTokenCount: 1, cachedContentTokenCount: 2 }));
    expect(error).toBeInstanceOf(MeterlineError);
    expect(error.name).toBe('UsageAdapterError');
    expect(error.code).toBe('USAGE_INVALID');
    expect(error.retriable).toBe(false);
    expect(error.message).toBe('gemini usage: cachedContentTokenCount: cachedContentTokenCount (2) is more than promptTokenCount (1), which includes it [cached_exceeds_prompt]');
  });
});
