export { UsageAdapterError } from './errors';
export { type UsageBuckets, type AdapterOptions, emptyBuckets } from './read';
export {
  fromOpenAIChatCompletionsUsage,
  fromOpenAIChatCompletion,
  fromOpenAIResponsesUsage,
  fromOpenAIResponse,
  fromOpenAIEmbeddingsUsage,
  type OpenAIChatCompletionsUsage,
  type OpenAIChatCompletion,
  type OpenAIResponsesUsage,
  type OpenAIResponse,
  type OpenAIResponseOutputItem,
  type OpenAIEmbeddingsUsage,
} from './openai';
export {
  fromAnthropicUsage,
  fromAnthropicStreamEvent,
  fromAnthropicStream,
  type AnthropicUsage,
  type AnthropicUsageIteration,
  type AnthropicCacheCreation,
  type AnthropicStreamEvent,
} from './anthropic';
export { fromGeminiUsageMetadata, fromGeminiResponse, geminiGeneration, type GeminiUsageMetadata, type GeminiResponse, type GeminiResponseOptions, type GeminiModalityTokenCount } from './gemini';
export { fromOtelGenAiAttributes, OTEL_GEN_AI_USAGE, type OtelGenAiOptions } from './otel';
