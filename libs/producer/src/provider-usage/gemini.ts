import { emptyUsageBuckets } from '@meterline/domain';
import { UsageReader, type AdapterOptions, type UsageBuckets } from './read';

/** `usageMetadata` of a Gemini `generateContent` response (Gemini API and Vertex AI). */
export interface GeminiUsageMetadata {
  /** The whole prompt, cached content included. */
  promptTokenCount?: number | null;
  /** The part of the prompt served from the context cache. */
  cachedContentTokenCount?: number | null;
  /** Visible output across all candidates (thoughts excluded). */
  candidatesTokenCount?: number | null;
  /** Thinking tokens. */
  thoughtsTokenCount?: number | null;
  /** Tool results fed back to the model: input, counted apart from `promptTokenCount`. */
  toolUsePromptTokenCount?: number | null;
  /** prompt + toolUsePrompt + candidates + thoughts. */
  totalTokenCount?: number | null;
}

const reader: UsageReader = new UsageReader('gemini');

/**
 * Splits Gemini `usageMetadata` into disjoint buckets. `promptTokenCount` includes
 * `cachedContentTokenCount`; `toolUsePromptTokenCount` is more input on top of it;
 * `candidatesTokenCount` is visible output and `thoughtsTokenCount` reasoning. So:
 * input = prompt - cached + toolUsePrompt, cache_read = cached, output = candidates,
 * reasoning = thoughts. Context-cache creation is billed as ordinary input (plus storage,
 * which is not per request), so cache_write is 0.
 */
export function fromGeminiUsageMetadata(usageMetadata: GeminiUsageMetadata, options?: AdapterOptions): UsageBuckets {
  const u = reader.object(usageMetadata, 'usageMetadata');
  const prompt = reader.count(u, 'promptTokenCount', 'promptTokenCount', true);
  const cached = reader.count(u, 'cachedContentTokenCount', 'cachedContentTokenCount', false);
  const toolUse = reader.count(u, 'toolUsePromptTokenCount', 'toolUsePromptTokenCount', false);
  const candidates = reader.count(u, 'candidatesTokenCount', 'candidatesTokenCount', false);
  const thoughts = reader.count(u, 'thoughtsTokenCount', 'thoughtsTokenCount', false);
  const buckets: UsageBuckets = {
    ...emptyUsageBuckets(),
    input_tokens: reader.subtract(prompt, 'promptTokenCount', cached, 'cachedContentTokenCount', 'cached_exceeds_prompt') + toolUse,
    cache_read_tokens: cached,
    cache_write_tokens: 0,
    output_tokens: candidates,
    reasoning_tokens: thoughts,
  };
  reader.checkTotal(buckets, reader.optionalTotal(u, 'totalTokenCount', 'totalTokenCount'), 'totalTokenCount', options);
  return buckets;
}
