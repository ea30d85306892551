import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  fromAnthropicStreamEvent,
  fromAnthropicUsage,
  fromGeminiResponse,
  fromOpenAIChatCompletion,
  fromOpenAIEmbeddingsUsage,
  fromOpenAIResponse,
  fromOtelGenAiAttributes,
  UsageAdapterError,
  type AnthropicUsage,
  type OpenAIChatCompletionsUsage,
  type OpenAIResponseOutputItem,
  type OpenAIResponsesUsage,
  type UsageBuckets,
} from './index';

// Every real usage object of fixtures/real-usage.json through the adapter for its API: the
// result must be exactly the buckets, units and tier the fixture derived by hand from the
// provider's documented semantics (fixtures/README.md), and a partial count must be refused.

interface RealUsageObject {
  id: string;
  provider: 'openai' | 'anthropic' | 'gemini' | 'otel';
  api: string;
  source: { repo?: string };
  model: string | null;
  usage: Record<string, unknown>;
  response_context?: {
    service_tier?: string;
    web_search_calls?: { type: string; action_type: string }[];
    output_item_types?: string[];
    tool_usage?: Record<string, unknown>;
    webSearchQueries?: string[];
  };
  expected: {
    input_tokens: number;
    cache_read_tokens: number;
    cache_write_5m_tokens: number;
    cache_write_1h_tokens: number;
    output_tokens: number;
    reasoning_tokens: number;
    audio_input_tokens: number;
    audio_output_tokens: number;
    image_input_tokens: number;
    image_output_tokens: number;
    requests_by_unit: Record<string, number>;
    service_tier: string | null;
    partial: boolean;
  };
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/real-usage.json', import.meta.url), 'utf8')) as { objects: RealUsageObject[] };

/**
 * The fixture keeps the response fields billing needs in a compact form (`response_context`);
 * this puts them back in the response's wire shape: `web_search_call` items with their action,
 * the other output items by type, `tool_usage` and `service_tier` at the top, grounding queries
 * in the first candidate.
 */
function openAIOutput(context: RealUsageObject['response_context']): OpenAIResponseOutputItem[] {
  const searches = (context?.web_search_calls ?? []).map((call) => ({ type: call.type, action: { type: call.action_type } }));
  const others = (context?.output_item_types ?? []).map((type) => ({ type }));
  return [...others, ...searches];
}

/** The adapter a caller of this API uses, on the object as recorded. */
function adapt(o: RealUsageObject): UsageBuckets {
  const context = o.response_context;
  switch (`${o.provider}/${o.api}`) {
    case 'openai/chat':
      return fromOpenAIChatCompletion({ usage: o.usage as unknown as OpenAIChatCompletionsUsage, service_tier: context?.service_tier ?? null });
    case 'openai/responses':
      return fromOpenAIResponse({ usage: o.usage as unknown as OpenAIResponsesUsage, service_tier: context?.service_tier ?? null, output: openAIOutput(context), tool_usage: context?.tool_usage ?? null });
    case 'openai/embeddings':
      return fromOpenAIEmbeddingsUsage(o.usage as unknown as { prompt_tokens: number });
    case 'anthropic/messages':
      return fromAnthropicUsage(o.usage as unknown as AnthropicUsage);
    case 'anthropic/messages-stream-start':
      return fromAnthropicStreamEvent({ type: 'message_start', message: { usage: o.usage as unknown as AnthropicUsage } });
    case 'anthropic/messages-stream-delta':
      return fromAnthropicStreamEvent({ type: 'message_delta', usage: o.usage as unknown as AnthropicUsage });
    case 'gemini/generateContent':
    case 'gemini/live': {
      const candidates = context?.webSearchQueries === undefined ? null : [{ groundingMetadata: { webSearchQueries: context.webSearchQueries } }];
      return fromGeminiResponse({ usageMetadata: o.usage, candidates }, o.model === null ? {} : { model: o.model });
    }
    case 'otel/otel-span':
      // The OpenLIT span (source openlit/openlit) keeps only its usage attributes, not the
      // telemetry.sdk.name/gen_ai.system OpenLIT also sets, from which the adapter would detect it.
      return fromOtelGenAiAttributes(o.usage, o.source.repo === 'openlit/openlit' ? { inputIncludesCache: false } : {});
    default:
      throw new Error(`no adapter for ${o.provider}/${o.api}`);
  }
}

function expectedBuckets(e: RealUsageObject['expected']): UsageBuckets {
  return {
    input_tokens: e.input_tokens,
    cache_read_tokens: e.cache_read_tokens,
    cache_write_tokens: e.cache_write_5m_tokens,
    cache_write_1h_tokens: e.cache_write_1h_tokens,
    output_tokens: e.output_tokens,
    reasoning_tokens: e.reasoning_tokens,
    audio_input_tokens: e.audio_input_tokens,
    audio_output_tokens: e.audio_output_tokens,
    image_input_tokens: e.image_input_tokens,
    image_output_tokens: e.image_output_tokens,
    units: e.requests_by_unit,
    service_tier: e.service_tier,
  };
}

describe('adapters on real provider usage objects (fixtures/real-usage.json)', () => {
  it('has the 52 objects the README tables list', () => {
    expect(fixture.objects).toHaveLength(52);
  });

  it.each(fixture.objects.filter((o) => !o.expected.partial).map((o) => [o.id, o] as const))('%s: buckets, units and tier as expected', (_id, o) => {
    expect(adapt(o)).toEqual(expectedBuckets(o.expected));
  });

  it.each(fixture.objects.filter((o) => o.expected.partial).map((o) => [o.id, o] as const))('%s: a partial count is refused (partial_usage)', (_id, o) => {
    let error: unknown;
    try {
      adapt(o);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UsageAdapterError);
    expect(error).toMatchObject({ provider: 'anthropic', rule: 'partial_usage', field: 'message_start.message.usage' });
  });
});
