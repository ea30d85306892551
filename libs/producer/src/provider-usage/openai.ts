import { emptyUsageBuckets } from '@meterline/domain';
import { UsageReader, type AdapterOptions, type UsageBuckets } from './read';

/** `usage` of an OpenAI Chat Completions response (also the last streamed chunk with `include_usage`). */
export interface OpenAIChatCompletionsUsage {
  /** All prompt tokens, cached ones included. */
  prompt_tokens: number;
  /** All completion tokens, reasoning ones included. */
  completion_tokens: number;
  total_tokens?: number | null;
  prompt_tokens_details?: { cached_tokens?: number | null; audio_tokens?: number | null } | null;
  completion_tokens_details?: {
    reasoning_tokens?: number | null;
    audio_tokens?: number | null;
    accepted_prediction_tokens?: number | null;
    rejected_prediction_tokens?: number | null;
  } | null;
}

/** `usage` of an OpenAI Responses API response. */
export interface OpenAIResponsesUsage {
  /** All input tokens, cached ones included. */
  input_tokens: number;
  /** All output tokens, reasoning ones included. */
  output_tokens: number;
  total_tokens?: number | null;
  input_tokens_details?: { cached_tokens?: number | null } | null;
  output_tokens_details?: { reasoning_tokens?: number | null } | null;
}

const chat: UsageReader = new UsageReader('openai.chat_completions');
const responses: UsageReader = new UsageReader('openai.responses');

/**
 * Splits OpenAI Chat Completions usage into disjoint buckets. `prompt_tokens` includes
 * `prompt_tokens_details.cached_tokens` and `completion_tokens` includes
 * `completion_tokens_details.reasoning_tokens`, so:
 * input = prompt - cached, cache_read = cached, output = completion - reasoning, reasoning.
 * OpenAI has no priced cache writes (caching is automatic): cache_write is 0.
 * Audio and predicted-output tokens stay inside input/output (they are not broken out).
 */
export function fromOpenAIChatCompletionsUsage(usage: OpenAIChatCompletionsUsage, options?: AdapterOptions): UsageBuckets {
  const u = chat.object(usage, 'usage');
  const prompt = chat.count(u, 'prompt_tokens', 'prompt_tokens', true);
  const completion = chat.count(u, 'completion_tokens', 'completion_tokens', true);
  const cached = chat.count(chat.optionalObject(u, 'prompt_tokens_details'), 'cached_tokens', 'prompt_tokens_details.cached_tokens', false);
  const reasoning = chat.count(chat.optionalObject(u, 'completion_tokens_details'), 'reasoning_tokens', 'completion_tokens_details.reasoning_tokens', false);
  const buckets: UsageBuckets = {
    ...emptyUsageBuckets(),
    input_tokens: chat.subtract(prompt, 'prompt_tokens', cached, 'prompt_tokens_details.cached_tokens', 'cached_exceeds_prompt'),
    cache_read_tokens: cached,
    cache_write_tokens: 0,
    output_tokens: chat.subtract(completion, 'completion_tokens', reasoning, 'completion_tokens_details.reasoning_tokens', 'reasoning_exceeds_completion'),
    reasoning_tokens: reasoning,
  };
  chat.checkTotal(buckets, chat.optionalTotal(u, 'total_tokens', 'total_tokens'), 'total_tokens', options);
  return buckets;
}

/**
 * Splits OpenAI Responses API usage into disjoint buckets. `input_tokens` includes
 * `input_tokens_details.cached_tokens`; `output_tokens` includes
 * `output_tokens_details.reasoning_tokens`.
 */
export function fromOpenAIResponsesUsage(usage: OpenAIResponsesUsage, options?: AdapterOptions): UsageBuckets {
  const u = responses.object(usage, 'usage');
  const input = responses.count(u, 'input_tokens', 'input_tokens', true);
  const output = responses.count(u, 'output_tokens', 'output_tokens', true);
  const cached = responses.count(responses.optionalObject(u, 'input_tokens_details'), 'cached_tokens', 'input_tokens_details.cached_tokens', false);
  const reasoning = responses.count(responses.optionalObject(u, 'output_tokens_details'), 'reasoning_tokens', 'output_tokens_details.reasoning_tokens', false);
  const buckets: UsageBuckets = {
    ...emptyUsageBuckets(),
    input_tokens: responses.subtract(input, 'input_tokens', cached, 'input_tokens_details.cached_tokens', 'cached_exceeds_input'),
    cache_read_tokens: cached,
    cache_write_tokens: 0,
    output_tokens: responses.subtract(output, 'output_tokens', reasoning, 'output_tokens_details.reasoning_tokens', 'reasoning_exceeds_output'),
    reasoning_tokens: reasoning,
  };
  responses.checkTotal(buckets, responses.optionalTotal(u, 'total_tokens', 'total_tokens'), 'total_tokens', options);
  return buckets;
}
