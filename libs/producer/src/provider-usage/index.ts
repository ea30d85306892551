export { UsageAdapterError } from './errors';
export { type UsageBuckets, type AdapterOptions } from './read';
export { fromOpenAIChatCompletionsUsage, fromOpenAIResponsesUsage, type OpenAIChatCompletionsUsage, type OpenAIResponsesUsage } from './openai';
export { fromAnthropicUsage, type AnthropicUsage } from './anthropic';
export { fromGeminiUsageMetadata, type GeminiUsageMetadata } from './gemini';
export { fromOtelGenAiAttributes, OTEL_GEN_AI_USAGE } from './otel';
