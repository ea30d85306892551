import { describeValue, emptyBuckets, UsageReader, type AdapterOptions, type UsageBuckets } from './read';

/**
 * OpenTelemetry GenAI usage attribute names: the semantic conventions' (registry gen_ai.usage.*)
 * and the variants instrumentations emit. Per the spec, cache reads and writes are inside
 * `gen_ai.usage.input_tokens`, reasoning inside `gen_ai.usage.output_tokens`, and the modality
 * counts (`gen_ai.usage.audio.input_tokens`, ...) are parts of those (cached ones included).
 */
export const OTEL_GEN_AI_USAGE = {
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  cacheCreationInputTokens: 'gen_ai.usage.cache_creation.input_tokens',
  reasoningOutputTokens: 'gen_ai.usage.reasoning.output_tokens',
  audioInputTokens: 'gen_ai.usage.audio.input_tokens',
  audioCacheReadInputTokens: 'gen_ai.usage.audio.cache_read.input_tokens',
  imageInputTokens: 'gen_ai.usage.image.input_tokens',
  imageCacheReadInputTokens: 'gen_ai.usage.image.cache_read.input_tokens',
  audioOutputTokens: 'gen_ai.usage.audio.output_tokens',
  imageOutputTokens: 'gen_ai.usage.image.output_tokens',
  /** Deprecated names for input_tokens and output_tokens, still sent by older instrumentations. */
  deprecatedPromptTokens: 'gen_ai.usage.prompt_tokens',
  deprecatedCompletionTokens: 'gen_ai.usage.completion_tokens',
} as const;

/**
 * Each quantity and every name it is sent under, spec name first. Variants: OpenLLMetry before
 * its 2026 migration (`gen_ai.usage.cache_read_input_tokens`, `gen_ai.usage.cache_creation_input_tokens`,
 * `gen_ai.usage.reasoning_tokens`, `llm.usage.*`), OpenLIT (`gen_ai.usage.reasoning_tokens`, the
 * `gen_ai.client.token.usage` total), Sentry's (`gen_ai.usage.input_tokens.cached`, ...) and
 * `gen_ai.usage.cache_write.input_tokens`. All share the spec's inclusion: cache inside input.
 */
const ALIASES = {
  input: [OTEL_GEN_AI_USAGE.inputTokens, OTEL_GEN_AI_USAGE.deprecatedPromptTokens, 'llm.usage.prompt_tokens'],
  output: [OTEL_GEN_AI_USAGE.outputTokens, OTEL_GEN_AI_USAGE.deprecatedCompletionTokens, 'llm.usage.completion_tokens'],
  cacheRead: [OTEL_GEN_AI_USAGE.cacheReadInputTokens, 'gen_ai.usage.cache_read_input_tokens', 'gen_ai.usage.input_tokens.cached'],
  cacheWrite: [OTEL_GEN_AI_USAGE.cacheCreationInputTokens, 'gen_ai.usage.cache_creation_input_tokens', 'gen_ai.usage.cache_write.input_tokens', 'gen_ai.usage.input_tokens.cache_write'],
  reasoning: [OTEL_GEN_AI_USAGE.reasoningOutputTokens, 'gen_ai.usage.reasoning_tokens', 'llm.usage.reasoning_tokens', 'gen_ai.usage.output_tokens.reasoning'],
  total: ['gen_ai.usage.total_tokens', 'llm.usage.total_tokens', 'gen_ai.client.token.usage'],
  audioInput: [OTEL_GEN_AI_USAGE.audioInputTokens],
  audioCacheRead: [OTEL_GEN_AI_USAGE.audioCacheReadInputTokens],
  imageInput: [OTEL_GEN_AI_USAGE.imageInputTokens],
  imageCacheRead: [OTEL_GEN_AI_USAGE.imageCacheReadInputTokens],
  audioOutput: [OTEL_GEN_AI_USAGE.audioOutputTokens],
  imageOutput: [OTEL_GEN_AI_USAGE.imageOutputTokens],
} as const satisfies Record<string, readonly string[]>;
type Quantity = keyof typeof ALIASES;

/** Usage attributes that are known and carry nothing to split: text/video parts (priced as text, the remainder) and client-side cost estimates. */
const INFORMATIONAL: readonly string[] = [
  'gen_ai.usage.text.input_tokens',
  'gen_ai.usage.video.input_tokens',
  'gen_ai.usage.text.cache_read.input_tokens',
  'gen_ai.usage.text.output_tokens',
  'gen_ai.usage.cost',
  'gen_ai.usage.total_cost',
];
const KNOWN: ReadonlySet<string> = new Set([...Object.values(ALIASES).flat(), ...INFORMATIONAL]);
const USAGE_PREFIXES = ['gen_ai.usage.', 'llm.usage.'] as const;
const SERVICE_TIER_ATTRIBUTES = ['openai.response.service_tier', 'gen_ai.openai.response.service_tier', 'gen_ai.response.service_tier'] as const;

export interface OtelGenAiOptions extends AdapterOptions {
  /**
   * Whether `gen_ai.usage.input_tokens` includes the cache reads and writes, as the spec says it
   * SHOULD. Default: detected from the span. OpenLIT's Anthropic instrumentation
   * (`telemetry.sdk.name` openlit, provider anthropic) sets it to Anthropic's `input_tokens`,
   * which excludes the cache: false there, true otherwise.
   */
  inputIncludesCache?: boolean;
}

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

/** A quantity under any of its names; names that disagree are refused. */
function quantity(attributes: Record<string, unknown>, which: Quantity): number | undefined {
  let found: { name: string; value: number } | undefined;
  for (const name of ALIASES[which]) {
    const value = attribute(attributes, name);
    if (value === undefined) continue;
    if (found !== undefined && found.value !== value) reader.fail(found.name, 'conflicting_attributes', `${found.name} is ${found.value} but ${name} is ${value}`);
    found ??= { name, value };
  }
  return found?.value;
}

function required(attributes: Record<string, unknown>, which: 'input' | 'output'): number {
  const value = quantity(attributes, which);
  const [name, ...others] = ALIASES[which];
  if (value === undefined) reader.fail(name, 'required', `missing (nor ${others.join(', ')}); it is required to split the usage`);
  return value;
}

function rejectUnknownUsage(attributes: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(attributes)) {
    if (!USAGE_PREFIXES.some((prefix) => name.startsWith(prefix)) || KNOWN.has(name)) continue;
    if (typeof value === 'number' || typeof value === 'bigint' || (typeof value === 'string' && DECIMAL_INTEGER.test(value))) {
      if (Number(value) === 0) continue;
      reader.fail(name, 'unknown_field', `is a usage attribute this adapter does not know, and it carries ${describeValue(value)}: billing it as nothing could be wrong`);
    }
  }
}

function serviceTier(attributes: Record<string, unknown>): string | null {
  let tier: { name: string; value: string } | undefined;
  for (const name of SERVICE_TIER_ATTRIBUTES) {
    const value = reader.optionalString(attributes, name);
    if (value === null) continue;
    if (tier !== undefined && tier.value !== value) reader.fail(tier.name, 'conflicting_attributes', `${tier.name} is ${JSON.stringify(tier.value)} but ${name} is ${JSON.stringify(value)}`);
    tier ??= { name, value };
  }
  return tier?.value ?? null;
}

/** OpenLIT's Anthropic spans report Anthropic's own input_tokens, which exclude the cache. */
function detectInputIncludesCache(attributes: Record<string, unknown>): boolean {
  const provider = attributes['gen_ai.provider.name'] ?? attributes['gen_ai.system'];
  return !(attributes['telemetry.sdk.name'] === 'openlit' && provider === 'anthropic');
}

/** Uncached tokens of one media modality: its count minus its cached part, which must be reported when anything was cached. */
function uncachedMedia(attributes: Record<string, unknown>, media: 'audio' | 'image', cacheRead: number, cacheWrite: number): number {
  const total = quantity(attributes, media === 'audio' ? 'audioInput' : 'imageInput') ?? 0;
  if (total === 0) return 0;
  const cachedName = media === 'audio' ? OTEL_GEN_AI_USAGE.audioCacheReadInputTokens : OTEL_GEN_AI_USAGE.imageCacheReadInputTokens;
  const cached = quantity(attributes, media === 'audio' ? 'audioCacheRead' : 'imageCacheRead');
  if ((cached === undefined && cacheRead > 0) || cacheWrite > 0) {
    reader.fail(cachedName, 'cached_modality_unknown', `${total} ${media} input tokens beside ${cacheRead} cached and ${cacheWrite} cache-written tokens, and the span does not say how many of the ${media} tokens were cached`);
  }
  return reader.subtract(total, media === 'audio' ? OTEL_GEN_AI_USAGE.audioInputTokens : OTEL_GEN_AI_USAGE.imageInputTokens, cached ?? 0, cachedName, 'cached_exceeds_modality');
}

/**
 * Splits OpenTelemetry GenAI span attributes into disjoint buckets. Input: the input count
 * minus cache reads and writes (unless the instrumentation reports them outside it, see
 * `inputIncludesCache`) minus uncached audio and image input. Output: the output count minus
 * reasoning, audio and image output. Every name variant of `ALIASES` is read; a reported total
 * must equal input + output as reported. Cache writes carry no TTL here: the default, 5 minutes.
 * A `gen_ai.usage.*` / `llm.usage.*` attribute this adapter does not know, with a count, is refused.
 */
export function fromOtelGenAiAttributes(attributes: Record<string, unknown>, options?: OtelGenAiOptions): UsageBuckets {
  const attrs = reader.object(attributes, 'attributes');
  const input = required(attrs, 'input');
  const output = required(attrs, 'output');
  rejectUnknownUsage(attrs);
  const cacheRead = quantity(attrs, 'cacheRead') ?? 0;
  const cacheWrite = quantity(attrs, 'cacheWrite') ?? 0;
  const reasoning = quantity(attrs, 'reasoning') ?? 0;
  const audioIn = uncachedMedia(attrs, 'audio', cacheRead, cacheWrite);
  const imageIn = uncachedMedia(attrs, 'image', cacheRead, cacheWrite);
  const audioOut = quantity(attrs, 'audioOutput') ?? 0;
  const imageOut = quantity(attrs, 'imageOutput') ?? 0;

  const total = quantity(attrs, 'total');
  if (total !== undefined && options?.checkTotal !== false && total !== input + output) {
    reader.fail(ALIASES.total.find((name) => attrs[name] !== undefined && attrs[name] !== null) ?? 'gen_ai.usage.total_tokens', 'total_mismatch', `the total is ${total} but input (${input}) + output (${output}) is ${input + output}`);
  }

  const includesCache = options?.inputIncludesCache ?? detectInputIncludesCache(attrs);
  const cached = cacheRead + cacheWrite;
  if (includesCache && cached > input) {
    reader.fail(
      OTEL_GEN_AI_USAGE.inputTokens,
      'cache_exceeds_input',
      `cache_read (${cacheRead}) + cache_creation (${cacheWrite}) = ${cached} is more than the input tokens (${input}), which must include them (an instrumentation that reports input without the cache needs inputIncludesCache: false)`,
    );
  }
  const uncachedInput = includesCache ? input - cached : input;
  const media = audioIn + imageIn;
  if (media > uncachedInput) reader.fail(OTEL_GEN_AI_USAGE.inputTokens, 'media_exceeds_input', `uncached audio (${audioIn}) + image (${imageIn}) input is more than the uncached input (${uncachedInput})`);
  const parts = reasoning + audioOut + imageOut;
  if (parts > output) {
    const field = reasoning > output ? OTEL_GEN_AI_USAGE.reasoningOutputTokens : OTEL_GEN_AI_USAGE.outputTokens;
    reader.fail(field, reasoning > output ? 'reasoning_exceeds_output' : 'media_exceeds_output', `reasoning (${reasoning}) + audio (${audioOut}) + image (${imageOut}) output is more than the output tokens (${output}), which include them`);
  }
  return {
    ...emptyBuckets(),
    input_tokens: uncachedInput - media,
    cache_read_tokens: cacheRead,
    cache_write_tokens: cacheWrite,
    output_tokens: output - parts,
    reasoning_tokens: reasoning,
    audio_input_tokens: audioIn,
    audio_output_tokens: audioOut,
    image_input_tokens: imageIn,
    image_output_tokens: imageOut,
    service_tier: serviceTier(attrs),
  };
}
