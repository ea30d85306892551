/**
 * One inference call, as it travels on `usage-events` (schemas/usage-event/v1.avsc).
 *
 * Token usage comes in DISJOINT buckets: a token is in exactly one of them. Provider usage
 * objects overlap ("prompt tokens" include cached ones at OpenAI, not at Anthropic); the
 * shim's adapters split them before an event is built, so sums here never double count.
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
  /** Input tokens that were neither read from nor written to a prompt cache. */
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  /** Visible output tokens (reasoning excluded). */
  output_tokens: number;
  reasoning_tokens: number;
  latency_ms: number | null;
  ttft_ms: number | null;
  status_code: number | null;
  error_type: string | null;
  metadata: Record<string, string>;
}

export const tokenBuckets = ['input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'] as const;
export type TokenBucket = (typeof tokenBuckets)[number];

export const optionalStringFields = ['project_id', 'api_key_hash', 'client_id', 'user_id', 'trace_id', 'endpoint_id', 'error_type'] as const;

/** All tokens of an event (buckets are disjoint, so this is a plain sum). */
export function totalTokens(event: Pick<UsageEvent, TokenBucket>): number {
  return event.input_tokens + event.cache_read_tokens + event.cache_write_tokens + event.output_tokens + event.reasoning_tokens;
}
