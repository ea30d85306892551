import { describe, expect, it } from 'vitest';
import { totalTokens } from '@meterline/domain';
import { MeterlineError } from '@meterline/platform';
import {
  emptyBuckets,
  fromAnthropicStream,
  fromAnthropicStreamEvent,
  fromAnthropicUsage,
  fromGeminiResponse,
  fromGeminiUsageMetadata,
  fromOpenAIChatCompletion,
  fromOpenAIChatCompletionsUsage,
  fromOpenAIEmbeddingsUsage,
  fromOpenAIResponse,
  fromOpenAIResponsesUsage,
  fromOtelGenAiAttributes,
  geminiGeneration,
  UsageAdapterError,
  type AnthropicUsage,
  type GeminiResponse,
  type GeminiResponseOptions,
  type GeminiUsageMetadata,
  type OpenAIChatCompletionsUsage,
  type OpenAIEmbeddingsUsage,
  type OpenAIResponse,
  type OpenAIResponsesUsage,
  type OtelGenAiOptions,
  type UsageBuckets,
} from './index';

function sum(b: UsageBuckets): number {
  return totalTokens(b);
}

/** The text and cache buckets; every other bucket 0, no units, no tier unless `more` says so. */
function buckets(input: number, cacheRead: number, cacheWrite: number, output: number, reasoning: number, more: Partial<UsageBuckets> = {}): UsageBuckets {
  return { ...emptyBuckets(), input_tokens: input, cache_read_tokens: cacheRead, cache_write_tokens: cacheWrite, output_tokens: output, reasoning_tokens: reasoning, ...more };
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

describe('OpenAI v2 buckets: audio, cache writes, tools, tiers, embeddings', () => {
  it.each<[string, OpenAIChatCompletionsUsage, UsageBuckets]>([
    [
      'audio input is inside prompt_tokens: its own bucket, text_tokens agreeing',
      {
        prompt_tokens: 64,
        completion_tokens: 9,
        total_tokens: 73,
        prompt_tokens_details: { audio_tokens: 44, cached_tokens: 0, image_tokens: 0, text_tokens: 20 },
        completion_tokens_details: { accepted_prediction_tokens: 0, audio_tokens: 0, reasoning_tokens: 0, rejected_prediction_tokens: 0, text_tokens: 9 },
      },
      buckets(20, 0, 0, 9, 0, { audio_input_tokens: 44 }),
    ],
    [
      'audio output is inside completion_tokens',
      { prompt_tokens: 30, completion_tokens: 250, total_tokens: 280, completion_tokens_details: { audio_tokens: 200, reasoning_tokens: 0, text_tokens: 50 } },
      buckets(30, 0, 0, 50, 0, { audio_output_tokens: 200 }),
    ],
    [
      'cache writes (GPT-5.6) are inside prompt_tokens: the default-TTL write bucket',
      { prompt_tokens: 4020, completion_tokens: 4, total_tokens: 4024, prompt_tokens_details: { audio_tokens: 0, cache_write_tokens: 4012, cached_tokens: 0 } },
      buckets(8, 0, 4012, 4, 0),
    ],
    [
      'predicted outputs stay output',
      { prompt_tokens: 10, completion_tokens: 40, total_tokens: 50, completion_tokens_details: { accepted_prediction_tokens: 12, rejected_prediction_tokens: 8 } },
      buckets(10, 0, 0, 40, 0),
    ],
  ])('chat: %s', (_what, usage, expected) => {
    expect(fromOpenAIChatCompletionsUsage(usage)).toEqual(expected);
  });

  it.each<[string, unknown, string, string]>([
    ['text + audio not the prompt', { prompt_tokens: 64, completion_tokens: 1, prompt_tokens_details: { audio_tokens: 44, text_tokens: 19 } }, 'prompt_tokens_details.text_tokens', 'modality_mismatch'],
    ['audio and cached tokens together: which was cached is unknown', { prompt_tokens: 2000, completion_tokens: 1, prompt_tokens_details: { audio_tokens: 44, cached_tokens: 1024 } }, 'prompt_tokens_details.cached_tokens', 'cached_modality_unknown'],
    ['cache writes > prompt', { prompt_tokens: 10, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 4, cache_write_tokens: 7 } }, 'prompt_tokens_details.cache_write_tokens', 'cache_write_exceeds_prompt'],
    ['audio output > completion', { prompt_tokens: 1, completion_tokens: 10, completion_tokens_details: { audio_tokens: 11 } }, 'completion_tokens_details.audio_tokens', 'audio_exceeds_completion'],
    ['an unknown prompt detail with tokens', { prompt_tokens: 10, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 0, video_tokens: 4 } }, 'prompt_tokens_details.video_tokens', 'unknown_field'],
    ['an unknown top-level count (a compatible server\'s cache hits)', { prompt_tokens: 10, completion_tokens: 1, prompt_cache_hit_tokens: 6 }, 'prompt_cache_hit_tokens', 'unknown_field'],
  ])('chat rejects %s', (_what, usage, field, rule) => {
    expect(adapterError(() => fromOpenAIChatCompletionsUsage(usage as OpenAIChatCompletionsUsage))).toMatchObject({ provider: 'openai.chat_completions', field, rule });
  });

  it('chat: an unknown detail of 0 passes; an embeddings usage is pointed to its adapter', () => {
    expect(fromOpenAIChatCompletionsUsage({ prompt_tokens: 5, completion_tokens: 1, prompt_tokens_details: { video_tokens: 0 } } as OpenAIChatCompletionsUsage)).toEqual(buckets(5, 0, 0, 1, 0));
    const error = adapterError(() => fromOpenAIChatCompletionsUsage({ prompt_tokens: 12, total_tokens: 12 } as OpenAIChatCompletionsUsage));
    expect(error).toMatchObject({ field: 'completion_tokens', rule: 'required' });
    expect(error.message).toContain('fromOpenAIEmbeddingsUsage');
  });

  it('fromOpenAIChatCompletion: the response\'s service_tier', () => {
    expect(fromOpenAIChatCompletion({ usage: { prompt_tokens: 16, completion_tokens: 363, total_tokens: 379 }, service_tier: 'flex' })).toEqual(buckets(16, 0, 0, 363, 0, { service_tier: 'flex' }));
  });

  it('responses: cache writes are inside input_tokens', () => {
    expect(fromOpenAIResponsesUsage({ input_tokens: 8576, input_tokens_details: { cache_write_tokens: 4418, cached_tokens: 0 }, output_tokens: 52, output_tokens_details: { reasoning_tokens: 32 }, total_tokens: 8628 })).toEqual(
      buckets(4158, 0, 4418, 20, 32),
    );
  });

  const usage: OpenAIResponsesUsage = { input_tokens: 100, output_tokens: 10, total_tokens: 110 };
  it.each<[string, OpenAIResponse, Record<string, number>]>([
    [
      'searches are web_search_call items whose action is search (not open_page / find_in_page)',
      { usage, output: [{ type: 'web_search_call', action: { type: 'search' } }, { type: 'web_search_call', action: { type: 'open_page' } }, { type: 'web_search_call', action: { type: 'find_in_page' } }, { type: 'message' }] },
      { web_search: 1 },
    ],
    ['an item without an action (older API) is one search', { usage, output: [{ type: 'web_search_call' }, { type: 'web_search_call', action: null }] }, { web_search: 2 }],
    ['tool_usage.web_search.num_requests is OpenAI\'s own count and wins', { usage, output: [{ type: 'web_search_call', action: { type: 'search' } }], tool_usage: { web_search: { num_requests: 3 }, image_gen: { input_tokens: 0, output_tokens: 0 } } }, { web_search: 3 }],
    ['one file search per file_search_call', { usage, output: [{ type: 'reasoning' }, { type: 'file_search_call' }, { type: 'file_search_call' }] }, { file_search: 2 }],
    ['no tool calls: no units', { usage, output: [{ type: 'message' }] }, {}],
  ])('fromOpenAIResponse: %s', (_what, response, units) => {
    expect(fromOpenAIResponse({ ...response, service_tier: 'default' })).toEqual(buckets(100, 0, 0, 10, 0, { units, service_tier: 'default' }));
  });

  it.each<[string, unknown, string, string]>([
    ['an unknown web_search_call action', { usage, output: [{ type: 'web_search_call', action: { type: 'crawl' } }] }, 'output[0].action.type', 'unknown_action'],
    ['image generation tokens in tool_usage', { usage, tool_usage: { image_gen: { input_tokens: 50, output_tokens: 4160 } } }, 'tool_usage.image_gen', 'unknown_field'],
    ['an unknown input detail with tokens', { usage: { ...usage, input_tokens_details: { cached_tokens: 0, audio_tokens: 9 } } }, 'input_tokens_details.audio_tokens', 'unknown_field'],
    ['output items that are not a list', { usage, output: { type: 'web_search_call' } }, 'output', 'array'],
  ])('fromOpenAIResponse rejects %s', (_what, response, field, rule) => {
    expect(adapterError(() => fromOpenAIResponse(response as OpenAIResponse))).toMatchObject({ provider: 'openai.responses', field, rule });
  });

  it('fromOpenAIEmbeddingsUsage: all input; a total that disagrees or a completion count is refused', () => {
    expect(fromOpenAIEmbeddingsUsage({ prompt_tokens: 12, total_tokens: 12 })).toEqual(buckets(12, 0, 0, 0, 0));
    expect(adapterError(() => fromOpenAIEmbeddingsUsage({ prompt_tokens: 12, total_tokens: 13 }))).toMatchObject({ provider: 'openai.embeddings', field: 'total_tokens', rule: 'total_mismatch' });
    expect(adapterError(() => fromOpenAIEmbeddingsUsage({ prompt_tokens: 12, completion_tokens: 3 } as OpenAIEmbeddingsUsage))).toMatchObject({ field: 'completion_tokens', rule: 'unknown_field' });
  });
});

describe('fromAnthropicUsage', () => {
  // Anthropic reports no total; input + cache_read + both cache writes is the whole prompt.
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
      buckets(21, 0, 188086, 393, 0, { service_tier: 'standard' }),
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
      buckets(21, 188086, 0, 393, 0, { service_tier: 'standard' }),
      188107,
    ],
    // Before v2 all 1500 writes went to one bucket priced at the 5-minute rate: the 1-hour ones were under-billed.
    [
      'reads and writes together: 1-hour writes in their own bucket',
      { input_tokens: 3, cache_creation_input_tokens: 1500, cache_read_input_tokens: 12000, cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1000 }, output_tokens: 64 },
      buckets(3, 12000, 500, 64, 0, { cache_write_1h_tokens: 1000 }),
      13503,
    ],
    ['null cache fields', { input_tokens: 12, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens: 6 }, buckets(12, 0, 0, 6, 0), 12],
    [
      'only the lifetime breakdown',
      { input_tokens: 12, cache_creation: { ephemeral_5m_input_tokens: 40, ephemeral_1h_input_tokens: 2 }, output_tokens: 6 },
      buckets(12, 0, 40, 6, 0, { cache_write_1h_tokens: 2 }),
      54,
    ],
    [
      'a 0/0 lifetime breakdown beside a positive total: the writes took the default 5-minute TTL',
      { input_tokens: 335, output_tokens: 690, cache_creation_input_tokens: 12229, cache_read_input_tokens: 14942, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 } },
      buckets(335, 14942, 12229, 690, 0),
      27506,
    ],
    ['extended thinking without details: thinking stays inside output_tokens', { input_tokens: 58, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 3174 }, buckets(58, 0, 0, 3174, 0), 58],
    ['output_tokens_details.thinking_tokens moves thinking to reasoning', { input_tokens: 7744, output_tokens: 353, output_tokens_details: { thinking_tokens: 80 } }, buckets(7744, 0, 0, 273, 80), 7744],
    [
      'server tools: web searches and fetches become units (zero counts left out)',
      { input_tokens: 27118, output_tokens: 600, server_tool_use: { web_search_requests: 2, web_fetch_requests: 0 }, service_tier: 'priority' },
      buckets(27118, 0, 0, 600, 0, { units: { web_search: 2 }, service_tier: 'priority' }),
      27118,
    ],
    [
      'compaction: every iteration is billed, the top level is the message pass only',
      {
        input_tokens: 682,
        output_tokens: 1320,
        cache_read_input_tokens: 100,
        iterations: [
          { type: 'compaction', input_tokens: 60385, output_tokens: 592, cache_creation_input_tokens: 30, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 30 } },
          { type: 'message', input_tokens: 682, output_tokens: 1320, cache_read_input_tokens: 100 },
        ],
      },
      buckets(61067, 100, 0, 1912, 0, { cache_write_1h_tokens: 30 }),
      61197,
    ],
    [
      'unknown fields that carry nothing pass',
      { input_tokens: 5, output_tokens: 1, inference_geo: 'global', server_tool_use: { web_search_requests: 0, tool_search_requests: 0 } as AnthropicUsage['server_tool_use'] },
      buckets(5, 0, 0, 1, 0),
      5,
    ],
  ])('%s', (_what, usage, expected, prompt) => {
    const result = fromAnthropicUsage(usage);
    expect(result).toEqual(expected);
    expect(result.input_tokens + result.cache_read_tokens + result.cache_write_tokens + result.cache_write_1h_tokens).toBe(prompt);
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
    ['thinking > output', { input_tokens: 1, output_tokens: 5, output_tokens_details: { thinking_tokens: 6 } }, 'output_tokens_details.thinking_tokens', 'thinking_exceeds_output'],
    ['an unknown server tool with requests', { input_tokens: 1, output_tokens: 1, server_tool_use: { web_search_requests: 1, tool_search_requests: 3 } }, 'server_tool_use.tool_search_requests', 'unknown_field'],
    ['an unknown usage field with tokens', { input_tokens: 1, output_tokens: 1, cache_creation_2h_input_tokens: 40 }, 'cache_creation_2h_input_tokens', 'unknown_field'],
    ['an unknown cache lifetime with tokens', { input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 9, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_24h_input_tokens: 9 } }, 'cache_creation.ephemeral_24h_input_tokens', 'unknown_field'],
    ['an unknown output detail with tokens', { input_tokens: 1, output_tokens: 9, output_tokens_details: { thinking_tokens: 1, summary_tokens: 3 } }, 'output_tokens_details.summary_tokens', 'unknown_field'],
    [
      'an iteration on another model (advisor)',
      { input_tokens: 1, output_tokens: 1, iterations: [{ type: 'advisor_message', input_tokens: 900, output_tokens: 90 }, { type: 'message', input_tokens: 1, output_tokens: 1 }] },
      'iterations[0].type',
      'unknown_iteration',
    ],
    [
      'iterations whose message pass is not the top level (the sum would double bill)',
      { input_tokens: 61067, output_tokens: 1912, iterations: [{ type: 'compaction', input_tokens: 60385, output_tokens: 592 }, { type: 'message', input_tokens: 682, output_tokens: 1320 }] },
      'iterations',
      'iterations_mismatch',
    ],
    ['an iteration without input_tokens', { input_tokens: 1, output_tokens: 1, iterations: [{ type: 'message', output_tokens: 1 }] }, 'iterations[0].input_tokens', 'required'],
  ])('rejects %s', (_what, usage, field, rule) => {
    expect(adapterError(() => fromAnthropicUsage(usage as AnthropicUsage))).toMatchObject({ provider: 'anthropic', field, rule });
  });
});

describe('Anthropic streams', () => {
  const start = { type: 'message_start', message: { id: 'msg_1', usage: { input_tokens: 2037, output_tokens: 1, cache_read_input_tokens: 0, service_tier: 'standard' } } } as const;
  const delta = { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 15665, output_tokens: 795, server_tool_use: { web_search_requests: 1 } } } as const;

  it('refuses a message_start usage: it is a partial count (partial_usage)', () => {
    const error = adapterError(() => fromAnthropicStreamEvent(start));
    expect(error).toMatchObject({ provider: 'anthropic', field: 'message_start.message.usage', rule: 'partial_usage' });
    expect(error.message).toContain('message_delta');
  });

  it('reads the final usage of message_delta (no tier: message_start had it)', () => {
    expect(fromAnthropicStreamEvent(delta)).toEqual(buckets(15665, 0, 0, 795, 0, { units: { web_search: 1 } }));
  });

  it('refuses events without usage and an older message_delta with only the output count', () => {
    expect(adapterError(() => fromAnthropicStreamEvent({ type: 'content_block_delta' }))).toMatchObject({ field: 'event.type', rule: 'not_a_usage_event' });
    expect(adapterError(() => fromAnthropicStreamEvent({ type: 'message_delta', usage: { output_tokens: 15 } }))).toMatchObject({ field: 'message_delta.usage.input_tokens', rule: 'required' });
  });

  it('fromAnthropicStream: the last message_delta over message_start, the tier from message_start', () => {
    expect(fromAnthropicStream([start, { type: 'content_block_start' }, delta])).toEqual(buckets(15665, 0, 0, 795, 0, { units: { web_search: 1 }, service_tier: 'standard' }));
    // An older API's delta: only output_tokens; the input and cache counts are message_start's.
    const oldStart = { type: 'message_start', message: { usage: { input_tokens: 472, output_tokens: 1, cache_creation_input_tokens: 1163, cache_read_input_tokens: 0 } } };
    expect(fromAnthropicStream([oldStart, { type: 'message_delta', usage: { output_tokens: 187 } }])).toEqual(buckets(472, 0, 1163, 187, 0));
  });

  it('fromAnthropicStream refuses a stream that never sent message_delta (partial_usage)', () => {
    expect(adapterError(() => fromAnthropicStream([start]))).toMatchObject({ field: 'message_delta.usage', rule: 'partial_usage' });
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

describe('Gemini v2 buckets: modalities, Live, tiers, grounding', () => {
  it.each<[string, GeminiUsageMetadata, UsageBuckets]>([
    [
      'implicit cache by modality: video priced as text, audio apart',
      {
        cacheTokensDetails: [{ modality: 'AUDIO', tokenCount: 1881 }, { modality: 'TEXT', tokenCount: 15 }, { modality: 'VIDEO', tokenCount: 15483 }],
        cachedContentTokenCount: 17379,
        candidatesTokenCount: 68,
        promptTokenCount: 17713,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: 16 }, { modality: 'VIDEO', tokenCount: 15780 }, { modality: 'AUDIO', tokenCount: 1917 }],
        serviceTier: 'standard',
        thoughtsTokenCount: 821,
        totalTokenCount: 18602,
      },
      buckets(298, 17379, 0, 68, 821, { audio_input_tokens: 36, service_tier: 'standard' }),
    ],
    [
      'image input and a document',
      { promptTokenCount: 1900, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 11 }, { modality: 'IMAGE', tokenCount: 1806 }, { modality: 'DOCUMENT', tokenCount: 83 }], candidatesTokenCount: 5, totalTokenCount: 1905 },
      buckets(94, 0, 0, 5, 0, { image_input_tokens: 1806 }),
    ],
    [
      'image output: the rest of candidatesTokenCount is text',
      { candidatesTokenCount: 1336, candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1290 }], promptTokenCount: 17, totalTokenCount: 1353 },
      buckets(17, 0, 0, 46, 0, { image_output_tokens: 1290 }),
    ],
    [
      'tool-use prompt by modality',
      { promptTokenCount: 17, toolUsePromptTokenCount: 119, toolUsePromptTokensDetails: [{ modality: 'TEXT', tokenCount: 100 }, { modality: 'IMAGE', tokenCount: 19 }], candidatesTokenCount: 201, totalTokenCount: 337 },
      buckets(117, 0, 0, 201, 0, { image_input_tokens: 19 }),
    ],
    [
      'Live: responseTokenCount by modality; the total leaves thoughts out',
      { promptTokenCount: 1197, responseTokenCount: 37, totalTokenCount: 1234, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 1196 }, { modality: 'AUDIO', tokenCount: 1 }], responseTokensDetails: [{ modality: 'AUDIO', tokenCount: 37 }], thoughtsTokenCount: 28 },
      buckets(1196, 0, 0, 0, 28, { audio_input_tokens: 1, audio_output_tokens: 37 }),
    ],
    ['Vertex: provisioned throughput is the tier', { promptTokenCount: 249, candidatesTokenCount: 58, thoughtsTokenCount: 183, totalTokenCount: 490, trafficType: 'PROVISIONED_THROUGHPUT', serviceTier: 'standard' }, buckets(249, 0, 0, 58, 183, { service_tier: 'PROVISIONED_THROUGHPUT' })],
    ['Vertex: on demand with a serviceTier reads the serviceTier', { promptTokenCount: 13, candidatesTokenCount: 8, totalTokenCount: 21, trafficType: 'ON_DEMAND', serviceTier: 'flex' }, buckets(13, 0, 0, 8, 0, { service_tier: 'flex' })],
    ['a modality entry without tokenCount is 0', { promptTokenCount: 268, promptTokensDetails: [{ modality: 'VIDEO', tokenCount: 258 }, { modality: 'TEXT', tokenCount: 10 }, { modality: 'AUDIO' }], candidatesTokenCount: 139, totalTokenCount: 407 }, buckets(268, 0, 0, 139, 0)],
  ])('%s', (_what, usage, expected) => {
    expect(fromGeminiUsageMetadata(usage)).toEqual(expected);
  });

  it.each<[string, unknown, string, string]>([
    ['modalities that do not add up to the prompt', { promptTokenCount: 100, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 60 }, { modality: 'AUDIO', tokenCount: 30 }] }, 'promptTokensDetails', 'modality_mismatch'],
    ['an unknown modality with tokens', { promptTokenCount: 100, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 60 }, { modality: 'HOLOGRAM', tokenCount: 40 }] }, 'promptTokensDetails[1].modality', 'unknown_modality'],
    ['cached tokens of unknown modality beside audio', { promptTokenCount: 100, cachedContentTokenCount: 50, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 60 }, { modality: 'AUDIO', tokenCount: 40 }] }, 'cachedContentTokenCount', 'cached_modality_unknown'],
    ['more cached audio than prompt audio', { promptTokenCount: 100, cachedContentTokenCount: 50, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 60 }, { modality: 'AUDIO', tokenCount: 40 }], cacheTokensDetails: [{ modality: 'AUDIO', tokenCount: 50 }] }, 'cacheTokensDetails', 'cached_exceeds_prompt'],
    ['both output counts', { promptTokenCount: 1, candidatesTokenCount: 2, responseTokenCount: 2 }, 'responseTokenCount', 'conflicting_fields'],
    ['an unknown count', { promptTokenCount: 1, candidatesTokenCount: 2, groundingPromptTokenCount: 30 }, 'groundingPromptTokenCount', 'unknown_field'],
    ['a generateContent total without thoughts', { promptTokenCount: 11, candidatesTokenCount: 345, thoughtsTokenCount: 706, totalTokenCount: 356 }, 'totalTokenCount', 'total_mismatch'],
  ])('rejects %s', (_what, usage, field, rule) => {
    expect(adapterError(() => fromGeminiUsageMetadata(usage as GeminiUsageMetadata))).toMatchObject({ provider: 'gemini', field, rule });
  });

  const grounded = (queries: string[]): GeminiResponse => ({ usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 }, candidates: [{ groundingMetadata: { webSearchQueries: queries } }] });
  it.each<[string, GeminiResponse, GeminiResponseOptions, Record<string, number>]>([
    ['Gemini 2.5: one search per grounded prompt', grounded(['a', 'b']), { model: 'gemini-2.5-pro' }, { web_search: 1 }],
    ['Gemini 3: one per non-empty query', { ...grounded(['', 'a', 'b']), modelVersion: 'gemini-3-flash-preview' }, {}, { web_search: 2 }],
    ['no queries: no units, no model needed', grounded(['']), {}, {}],
  ])('fromGeminiResponse: %s', (_what, response, options, units) => {
    expect(fromGeminiResponse(response, options)).toEqual(buckets(10, 0, 0, 5, 0, { units }));
  });

  it('fromGeminiResponse refuses grounding when the model (so the billing rule) is unknown', () => {
    expect(adapterError(() => fromGeminiResponse(grounded(['a'])))).toMatchObject({ field: 'modelVersion', rule: 'model_required' });
    expect(adapterError(() => fromGeminiResponse(grounded(['a']), { model: 'gemini-exp-1206' }))).toMatchObject({ field: 'modelVersion', rule: 'model_required' });
  });

  it.each([
    ['gemini-2.5-pro', 2],
    ['gemini-2.0-flash', 2],
    ['models/gemini-3-pro-image-preview', 3],
    ['publishers/google/models/gemini-live-2.5-flash', 2],
    ['gemini-3', 3],
    ['gemini-exp-1206', undefined],
    ['gemma-3-27b', undefined],
  ])('geminiGeneration(%s) = %s', (model, generation) => {
    expect(geminiGeneration(model)).toBe(generation);
  });
});

describe('OpenTelemetry GenAI variants', () => {
  it.each<[string, Record<string, unknown>, OtelGenAiOptions, UsageBuckets]>([
    [
      'OpenLLMetry underscore cache names, llm.usage.total_tokens',
      { 'gen_ai.usage.input_tokens': 1167, 'gen_ai.usage.output_tokens': 187, 'llm.usage.total_tokens': 1354, 'gen_ai.usage.cache_read_input_tokens': 0, 'gen_ai.usage.cache_creation_input_tokens': 1163 },
      {},
      buckets(4, 0, 1163, 187, 0),
    ],
    [
      'OpenLIT Anthropic span, detected: input excludes the cache',
      { 'telemetry.sdk.name': 'openlit', 'gen_ai.system': 'anthropic', 'gen_ai.usage.input_tokens': 4, 'gen_ai.usage.output_tokens': 202, 'gen_ai.client.token.usage': 206, 'gen_ai.usage.cache_read.input_tokens': 1163, 'gen_ai.usage.cost': 0.0034 },
      {},
      buckets(4, 1163, 0, 202, 0),
    ],
    [
      'OpenLIT OpenAI span: OpenAI prompt_tokens include the cache',
      { 'telemetry.sdk.name': 'openlit', 'gen_ai.system': 'openai', 'gen_ai.usage.input_tokens': 1149, 'gen_ai.usage.output_tokens': 353, 'gen_ai.usage.cache_read.input_tokens': 1024, 'gen_ai.usage.reasoning_tokens': 0 },
      {},
      buckets(125, 1024, 0, 353, 0),
    ],
    ['explicit inputIncludesCache: false', { 'gen_ai.usage.input_tokens': 4, 'gen_ai.usage.output_tokens': 202, 'gen_ai.usage.cache_read.input_tokens': 1163 }, { inputIncludesCache: false }, buckets(4, 1163, 0, 202, 0)],
    [
      'reasoning variants and the service tier',
      { 'gen_ai.usage.input_tokens': 31, 'gen_ai.usage.output_tokens': 467, 'llm.usage.reasoning_tokens': 448, 'gen_ai.usage.reasoning_tokens': 448, 'openai.response.service_tier': 'default' },
      {},
      buckets(31, 0, 0, 19, 448, { service_tier: 'default' }),
    ],
    [
      'modality attributes: media is part of input/output, its cached part a cache read',
      {
        'gen_ai.usage.input_tokens': 150,
        'gen_ai.usage.output_tokens': 50,
        'gen_ai.usage.cache_read.input_tokens': 20,
        'gen_ai.usage.reasoning.output_tokens': 12,
        'gen_ai.usage.audio.input_tokens': 50,
        'gen_ai.usage.audio.cache_read.input_tokens': 8,
        'gen_ai.usage.audio.output_tokens': 30,
        'gen_ai.usage.text.input_tokens': 100,
      },
      {},
      buckets(88, 20, 0, 8, 12, { audio_input_tokens: 42, audio_output_tokens: 30 }),
    ],
  ])('%s', (_what, attributes, options, expected) => {
    expect(fromOtelGenAiAttributes(attributes, options)).toEqual(expected);
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['cache in both underscore and dotted names, disagreeing', { 'gen_ai.usage.input_tokens': 100, 'gen_ai.usage.output_tokens': 1, 'gen_ai.usage.cache_read.input_tokens': 10, 'gen_ai.usage.cache_read_input_tokens': 20 }, 'gen_ai.usage.cache_read.input_tokens', 'conflicting_attributes'],
    ['a total that is not input + output', { 'gen_ai.usage.input_tokens': 100, 'gen_ai.usage.output_tokens': 1, 'llm.usage.total_tokens': 102 }, 'llm.usage.total_tokens', 'total_mismatch'],
    ['an unknown usage attribute with tokens', { 'gen_ai.usage.input_tokens': 100, 'gen_ai.usage.output_tokens': 1, 'gen_ai.usage.tool_use.input_tokens': 40 }, 'gen_ai.usage.tool_use.input_tokens', 'unknown_field'],
    ['audio beside cached tokens of unknown modality', { 'gen_ai.usage.input_tokens': 100, 'gen_ai.usage.output_tokens': 1, 'gen_ai.usage.cache_read.input_tokens': 10, 'gen_ai.usage.audio.input_tokens': 40 }, 'gen_ai.usage.audio.cache_read.input_tokens', 'cached_modality_unknown'],
    ['service tiers that disagree', { 'gen_ai.usage.input_tokens': 1, 'gen_ai.usage.output_tokens': 1, 'openai.response.service_tier': 'default', 'gen_ai.response.service_tier': 'priority' }, 'openai.response.service_tier', 'conflicting_attributes'],
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
