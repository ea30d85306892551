import { emptyBuckets, positiveUnits, UsageReader, type UsageBuckets } from './read';

/** Cache writes by lifetime; when they add up to more than 0 they add up to `cache_creation_input_tokens`. */
export interface AnthropicCacheCreation {
  ephemeral_5m_input_tokens?: number | null;
  ephemeral_1h_input_tokens?: number | null;
}

/** One sampling pass of a request that ran context compaction. */
export interface AnthropicUsageIteration {
  /** `compaction` (the summarising pass) or `message` (the answer). */
  type: string;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: AnthropicCacheCreation | null;
  output_tokens_details?: { thinking_tokens?: number | null } | null;
}

/** `usage` of an Anthropic Messages response, or of a stream's final `message_delta`. */
export interface AnthropicUsage {
  /** Input tokens after the last cache breakpoint: cache reads and writes are NOT included. */
  input_tokens: number;
  /** All output tokens; extended-thinking tokens are included. */
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: AnthropicCacheCreation | null;
  /** `thinking_tokens` is the part of `output_tokens` that was extended thinking. */
  output_tokens_details?: { thinking_tokens?: number | null } | null;
  /** Server tools billed per request (web search) or counted (web fetch). */
  server_tool_use?: { web_search_requests?: number | null; web_fetch_requests?: number | null } | null;
  /** With context compaction: every sampling pass; the top-level counts cover only the `message` passes. */
  iterations?: readonly AnthropicUsageIteration[] | null;
  service_tier?: string | null;
  inference_geo?: string | null;
}

/** A streamed event: `message_start` carries a partial usage, `message_delta` the final one. */
export type AnthropicStreamEvent =
  | { type: 'message_start'; message: { usage: AnthropicUsage } & Record<string, unknown> }
  | { type: 'message_delta'; usage: AnthropicUsage } & Record<string, unknown>
  | { type: string } & Record<string, unknown>;

const reader: UsageReader = new UsageReader('anthropic');

const USAGE_FIELDS: ReadonlySet<string> = new Set([
  'input_tokens',
  'output_tokens',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
  'cache_creation',
  'output_tokens_details',
  'server_tool_use',
  'iterations',
  'service_tier',
  'inference_geo',
]);
const ITERATION_FIELDS: ReadonlySet<string> = new Set(['type', 'input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'cache_creation', 'output_tokens_details']);
const CACHE_CREATION_FIELDS: ReadonlySet<string> = new Set(['ephemeral_5m_input_tokens', 'ephemeral_1h_input_tokens']);
const OUTPUT_DETAILS_FIELDS: ReadonlySet<string> = new Set(['thinking_tokens']);
/** Server-tool counters -> unit names. */
const SERVER_TOOL_UNITS = { web_search_requests: 'web_search', web_fetch_requests: 'web_fetch' } as const;
const ITERATION_TYPES: ReadonlySet<string> = new Set(['compaction', 'message']);

interface TokenCounts {
  input: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  output: number;
  thinking: number;
}

/**
 * Cache writes by lifetime. `cache_creation_input_tokens` is the total; `cache_creation` splits
 * it into 5-minute and 1-hour writes. A breakdown of 0/0 beside a positive total (seen in real
 * responses) says nothing: the writes took the default TTL, 5 minutes. A non-zero breakdown that
 * does not add up is refused.
 */
function cacheWrites(u: Record<string, unknown>, prefix: string): { fiveMinutes: number; oneHour: number } {
  const total = reader.count(u, 'cache_creation_input_tokens', `${prefix}cache_creation_input_tokens`, false);
  if (u.cache_creation === undefined || u.cache_creation === null) return { fiveMinutes: total, oneHour: 0 };
  const detail = reader.object(u.cache_creation, `${prefix}cache_creation`);
  reader.rejectUnknown(detail, CACHE_CREATION_FIELDS, `${prefix}cache_creation`);
  const fiveMinutes = reader.count(detail, 'ephemeral_5m_input_tokens', `${prefix}cache_creation.ephemeral_5m_input_tokens`, false);
  const oneHour = reader.count(detail, 'ephemeral_1h_input_tokens', `${prefix}cache_creation.ephemeral_1h_input_tokens`, false);
  const byLifetime = fiveMinutes + oneHour;
  if (u.cache_creation_input_tokens === undefined || u.cache_creation_input_tokens === null) return { fiveMinutes, oneHour };
  if (byLifetime === 0) return { fiveMinutes: total, oneHour: 0 };
  if (byLifetime !== total) {
    reader.fail(
      `${prefix}cache_creation`,
      'cache_creation_mismatch',
      `ephemeral_5m_input_tokens (${fiveMinutes}) + ephemeral_1h_input_tokens (${oneHour}) = ${byLifetime}, but cache_creation_input_tokens is ${total}`,
    );
  }
  return { fiveMinutes, oneHour };
}

/** The token counts of a usage or of one iteration (same field names). */
function tokenCounts(u: Record<string, unknown>, prefix: string): TokenCounts {
  const output = reader.count(u, 'output_tokens', `${prefix}output_tokens`, true);
  const details = reader.optionalObject(u, 'output_tokens_details', `${prefix}output_tokens_details`);
  reader.rejectUnknown(details, OUTPUT_DETAILS_FIELDS, `${prefix}output_tokens_details`);
  const thinking = reader.count(details, 'thinking_tokens', `${prefix}output_tokens_details.thinking_tokens`, false);
  reader.subtract(output, `${prefix}output_tokens`, thinking, `${prefix}output_tokens_details.thinking_tokens`, 'thinking_exceeds_output');
  const { fiveMinutes, oneHour } = cacheWrites(u, prefix);
  return {
    input: reader.count(u, 'input_tokens', `${prefix}input_tokens`, true),
    cacheRead: reader.count(u, 'cache_read_input_tokens', `${prefix}cache_read_input_tokens`, false),
    cacheWrite5m: fiveMinutes,
    cacheWrite1h: oneHour,
    output,
    thinking,
  };
}

function add(a: TokenCounts, b: TokenCounts): TokenCounts {
  return {
    input: a.input + b.input,
    cacheRead: a.cacheRead + b.cacheRead,
    cacheWrite5m: a.cacheWrite5m + b.cacheWrite5m,
    cacheWrite1h: a.cacheWrite1h + b.cacheWrite1h,
    output: a.output + b.output,
    thinking: a.thinking + b.thinking,
  };
}

const ZERO: TokenCounts = { input: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, output: 0, thinking: 0 };

/**
 * With context compaction the bill is the sum over `usage.iterations`; the top-level counts are
 * those of the `message` passes only, which is checked (a different meaning would double bill
 * or drop a pass). Thinking reported only at the top level belongs to the message pass.
 */
function iterationCounts(iterations: readonly unknown[], top: TokenCounts): TokenCounts {
  let all = ZERO;
  let messages = ZERO;
  iterations.forEach((value, i) => {
    const prefix = `iterations[${i}].`;
    const it = reader.object(value, `iterations[${i}]`);
    reader.rejectUnknown(it, ITERATION_FIELDS, `iterations[${i}]`);
    const type = reader.optionalString(it, 'type', `${prefix}type`);
    if (type === null || !ITERATION_TYPES.has(type)) {
      reader.fail(`${prefix}type`, 'unknown_iteration', `iteration type ${JSON.stringify(type)} is not one this adapter knows (compaction, message): its tokens may run on another model`);
    }
    const counts = tokenCounts(it, prefix);
    all = add(all, counts);
    if (type === 'message') messages = add(messages, counts);
  });
  const keys: readonly (keyof TokenCounts)[] = ['input', 'cacheRead', 'cacheWrite5m', 'cacheWrite1h', 'output'];
  const differs = keys.find((key) => messages[key] !== top[key]);
  if (differs !== undefined) {
    reader.fail('iterations', 'iterations_mismatch', `the message iterations have ${differs} ${messages[differs]} but the top-level usage has ${top[differs]}: the top level should be the message pass`);
  }
  if (all.thinking === 0) all = { ...all, thinking: top.thinking };
  return all;
}

/**
 * Splits Anthropic usage into disjoint buckets. Anthropic reports them apart: `input_tokens`
 * excludes cache reads (`cache_read_input_tokens`) and writes (`cache_creation_input_tokens`,
 * split by `cache_creation` into 5-minute and 1-hour writes). Thinking is inside
 * `output_tokens`; `output_tokens_details.thinking_tokens`, when present, moves it to reasoning.
 * With `iterations` (context compaction) every pass is billed. `server_tool_use` becomes units
 * (`web_search`, `web_fetch`), `service_tier` the tier.
 *
 * A stream's `message_start` usage is a partial count: pass stream events to
 * `fromAnthropicStreamEvent`, which refuses it.
 */
export function fromAnthropicUsage(usage: AnthropicUsage): UsageBuckets {
  const u = reader.object(usage, 'usage');
  const top = tokenCounts(u, '');
  reader.rejectUnknown(u, USAGE_FIELDS, '');
  const iterations = reader.optionalArray(u, 'iterations');
  const counts = iterations.length === 0 ? top : iterationCounts(iterations, top);

  const serverTools = reader.optionalObject(u, 'server_tool_use');
  reader.rejectUnknown(serverTools, new Set(Object.keys(SERVER_TOOL_UNITS)), 'server_tool_use');
  const units: Record<string, number> = {};
  for (const [counter, unit] of Object.entries(SERVER_TOOL_UNITS)) units[unit] = reader.count(serverTools, counter, `server_tool_use.${counter}`, false);

  return {
    ...emptyBuckets(),
    input_tokens: counts.input,
    cache_read_tokens: counts.cacheRead,
    cache_write_tokens: counts.cacheWrite5m,
    cache_write_1h_tokens: counts.cacheWrite1h,
    output_tokens: counts.output - counts.thinking,
    reasoning_tokens: counts.thinking,
    units: positiveUnits(units),
    service_tier: reader.optionalString(u, 'service_tier'),
  };
}

/**
 * The usage of one streamed event. `message_delta` carries the final, cumulative usage of the
 * message (split as `fromAnthropicUsage` does; it has no `service_tier`, which `message_start`
 * had). `message_start` carries a count taken before generation: refused (`partial_usage`), it
 * must not be billed. Any other event carries no usage (`not_a_usage_event`).
 */
export function fromAnthropicStreamEvent(event: AnthropicStreamEvent): UsageBuckets {
  const e = reader.object(event, 'event');
  const type = reader.optionalString(e, 'type', 'event.type');
  if (type === 'message_start') {
    reader.fail('message_start.message.usage', 'partial_usage', 'a message_start usage is counted before generation (output 1, input before server tools ran); bill the final usage of the message_delta event');
  }
  if (type !== 'message_delta') {
    reader.fail('event.type', 'not_a_usage_event', `${JSON.stringify(type)} events carry no billable usage; the message_delta event carries the final usage`);
  }
  const usage = reader.object(e.usage, 'message_delta.usage');
  if (usage.input_tokens === undefined || usage.input_tokens === null) {
    reader.fail('message_delta.usage.input_tokens', 'required', 'missing: this message_delta has only the output count (older API); merge it with message_start with fromAnthropicStream');
  }
  return fromAnthropicUsage(usage as unknown as AnthropicUsage);
}

/**
 * The final usage of a whole stream: the last `message_delta` usage over the `message_start`
 * one (fields the delta leaves out, as older APIs did with input and cache counts, keep their
 * start values), with the tier from `message_start`. A stream without a `message_delta` did not
 * finish: its count is partial (`partial_usage`).
 */
export function fromAnthropicStream(events: Iterable<AnthropicStreamEvent>): UsageBuckets {
  let start: Record<string, unknown> | undefined;
  let delta: Record<string, unknown> | undefined;
  for (const event of events) {
    const e = reader.object(event, 'event');
    if (e.type === 'message_start') start = reader.object(reader.object(e.message, 'message_start.message').usage, 'message_start.message.usage');
    if (e.type === 'message_delta') delta = reader.object(e.usage, 'message_delta.usage');
  }
  if (delta === undefined) reader.fail('message_delta.usage', 'partial_usage', 'the stream has no message_delta event: only the partial message_start count is known');
  const merged: Record<string, unknown> = { ...start };
  for (const [key, value] of Object.entries(delta)) if (value !== undefined && value !== null) merged[key] = value;
  return fromAnthropicUsage(merged as unknown as AnthropicUsage);
}
