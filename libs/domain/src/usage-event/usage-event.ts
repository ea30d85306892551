/**
 * One inference call, as it travels on `usage-events` (schemas/usage-event/v2.avsc; v1 events
 * are read into this shape with the v2 defaults: new buckets 0, `units` {}, `service_tier` null).
 *
 * Token usage comes in DISJOINT buckets: a token is in exactly one of them. Provider usage
 * objects overlap ("prompt tokens" include cached ones at OpenAI, not at Anthropic; audio
 * tokens are inside prompt/completion tokens at OpenAI); the shim's adapters split them
 * before an event is built, so sums here never double count.
 * - text: `input_tokens` (uncached text input), `output_tokens` (visible text output),
 *   `reasoning_tokens`;
 * - prompt cache: `cache_read_tokens` (reads of any modality), `cache_write_tokens` (writes
 *   with the default, 5-minute TTL), `cache_write_1h_tokens` (writes with a 1-hour TTL);
 * - media: `audio_input_tokens`, `audio_output_tokens`, `image_input_tokens`,
 *   `image_output_tokens` (uncached; never also counted in the text buckets).
 * Per-request priced work that is not tokens (a web search, a code execution) is in `units`.
 * Field names follow the wire contract (snake_case) so no mapping sits on the hot path.
 */
export interface UsageEvent {
  /** Idempotency key: the same id is counted once. UUIDv7 when the caller gives none. */
  event_id: string;
  /** Event time, epoch milliseconds (UTC). Decides the hour, quota period and invoice month. */
  occurred_at: number;
  tenant_id: string;
  project_id: string | null;
  /** SHA-256 (or HMAC-SHA-256 with a pepper) of the caller's API key, lowercase hex. Never the key. */
  api_key_hash: string | null;
  client_id: string | null;
  user_id: string | null;
  trace_id: string | null;
  endpoint_id: string | null;
  provider: string;
  model: string;
  operation: string;
  /** Uncached TEXT input tokens (not read from nor written to a prompt cache; audio/image input excluded). */
  input_tokens: number;
  /** Input tokens read from a prompt cache, whatever their modality. */
  cache_read_tokens: number;
  /** Input tokens written to a prompt cache with the default (5-minute) TTL. */
  cache_write_tokens: number;
  /** Input tokens written to a prompt cache with a 1-hour TTL (priced above 5-minute writes). */
  cache_write_1h_tokens: number;
  /** Visible TEXT output tokens (reasoning and audio/image output excluded). */
  output_tokens: number;
  reasoning_tokens: number;
  /** Uncached audio input tokens. */
  audio_input_tokens: number;
  audio_output_tokens: number;
  /** Uncached image input tokens. */
  image_input_tokens: number;
  image_output_tokens: number;
  /**
   * Per-request priced units: unit name -> count (`web_search`, `web_fetch`, `code_execution`,
   * ...). Names are bounded (see `unitNamePattern`), counts non-negative integers.
   */
  units: Record<string, number>;
  /** The provider's service tier for the call (`standard`, `priority`, `flex`, `batch`, ...), when known. */
  service_tier: string | null;
  /** Telemetry: milliseconds, fractional allowed. A bad value is reported, never a reason to drop the usage. */
  latency_ms: number | null;
  ttft_ms: number | null;
  status_code: number | null;
  error_type: string | null;
  metadata: Record<string, string>;
}

/** Every token bucket, disjoint: their sum is the event's tokens. */
export const tokenBuckets = [
  'input_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'output_tokens',
  'reasoning_tokens',
  'audio_input_tokens',
  'audio_output_tokens',
  'image_input_tokens',
  'image_output_tokens',
] as const;
export type TokenBucket = (typeof tokenBuckets)[number];

/** The buckets that are input to the model (prompt side), cached or not, any modality. */
export const inputTokenBuckets = ['input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'audio_input_tokens', 'image_input_tokens'] as const satisfies readonly TokenBucket[];
/** The buckets the model produced (completion side), any modality, reasoning included. */
export const outputTokenBuckets = ['output_tokens', 'reasoning_tokens', 'audio_output_tokens', 'image_output_tokens'] as const satisfies readonly TokenBucket[];

/** The token buckets of an event, all of them (a provider adapter's result). */
export type UsageBuckets = Pick<UsageEvent, TokenBucket>;

/** Every bucket 0: the base an adapter fills in. */
export function emptyUsageBuckets(): UsageBuckets {
  return {
    input_tokens: 0,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    cache_write_1h_tokens: 0,
    output_tokens: 0,
    reasoning_tokens: 0,
    audio_input_tokens: 0,
    audio_output_tokens: 0,
    image_input_tokens: 0,
    image_output_tokens: 0,
  };
}

/** A unit name: lowercase snake_case, 1 to 48 characters (it becomes a rollup key, a price name and an invoice line). */
export const unitNamePattern = /^[a-z][a-z0-9_]{0,47}$/;
/** Most distinct units one event may carry. */
export const maxUnitsPerEvent = 16;

/** Units the shipped adapters and price books know; any name matching `unitNamePattern` is accepted. */
export const knownUnits = ['web_search', 'web_fetch', 'code_execution', 'file_search'] as const;

export const optionalStringFields = ['project_id', 'api_key_hash', 'client_id', 'user_id', 'trace_id', 'endpoint_id', 'error_type', 'service_tier'] as const;

/** All tokens of an event (buckets are disjoint, so this is a plain sum). */
export function totalTokens(event: Pick<UsageEvent, TokenBucket>): number {
  return (
    event.input_tokens +
    event.cache_read_tokens +
    event.cache_write_tokens +
    event.cache_write_1h_tokens +
    event.output_tokens +
    event.reasoning_tokens +
    event.audio_input_tokens +
    event.audio_output_tokens +
    event.image_input_tokens +
    event.image_output_tokens
  );
}

/** The fields v2 added, as a v1 event is read (the v2 schema's defaults). */
export type UsageEventV2Fields = Pick<UsageEvent, Exclude<TokenBucket, 'input_tokens' | 'cache_read_tokens' | 'cache_write_tokens' | 'output_tokens' | 'reasoning_tokens'> | 'units' | 'service_tier'>;

export function usageEventV2Defaults(): UsageEventV2Fields {
  return { cache_write_1h_tokens: 0, audio_input_tokens: 0, audio_output_tokens: 0, image_input_tokens: 0, image_output_tokens: 0, units: {}, service_tier: null };
}

/**
 * Telemetry milliseconds as whole microseconds: the precision latency and ttft are stored and
 * summed with (ClickHouse Decimal(3) columns, integer sums in the rollup script), so sums and
 * averages are exact. `1834.271` -> 1834271.
 */
export function millisToMicros(ms: number): number {
  return Math.round(ms * 1_000);
}

/** Whole microseconds as a milliseconds decimal string with three places: 1834271 -> `1834.271`. */
export function microsDecimal(micros: number | bigint): string {
  const us = BigInt(micros);
  const sign = us < 0n ? '-' : '';
  const abs = us < 0n ? -us : us;
  return `${sign}${abs / 1_000n}.${(abs % 1_000n).toString().padStart(3, '0')}`;
}

/** Milliseconds rounded to the microsecond, as a decimal string: 12.3456 -> `12.346`. */
export function millisDecimal(ms: number): string {
  return microsDecimal(millisToMicros(ms));
}
