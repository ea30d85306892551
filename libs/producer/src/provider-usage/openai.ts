import { emptyBuckets, positiveUnits, UsageReader, type AdapterOptions, type UsageBuckets } from './read';

/** `usage` of an OpenAI Chat Completions response (also the last streamed chunk with `include_usage`). */
export interface OpenAIChatCompletionsUsage {
  /** All prompt tokens: cached, cache-written, audio and image ones included. */
  prompt_tokens: number;
  /** All completion tokens: reasoning and audio ones included. */
  completion_tokens: number;
  total_tokens?: number | null;
  prompt_tokens_details?: {
    /** Read from the prompt cache. */
    cached_tokens?: number | null;
    /** Written to the prompt cache (GPT-5.6 and later, billed above input). */
    cache_write_tokens?: number | null;
    audio_tokens?: number | null;
    image_tokens?: number | null;
    /** The text part of the prompt (some models report it): text + audio + image = prompt. */
    text_tokens?: number | null;
  } | null;
  completion_tokens_details?: {
    reasoning_tokens?: number | null;
    audio_tokens?: number | null;
    /** Predicted outputs: both are inside completion_tokens and billed as output. */
    accepted_prediction_tokens?: number | null;
    rejected_prediction_tokens?: number | null;
    text_tokens?: number | null;
  } | null;
}

/** A Chat Completions response: its usage and the tier it ran on. Other fields are ignored. */
export interface OpenAIChatCompletion {
  usage: OpenAIChatCompletionsUsage;
  service_tier?: string | null;
}

/** `usage` of an OpenAI Responses API response. */
export interface OpenAIResponsesUsage {
  /** All input tokens: cached and cache-written ones included. */
  input_tokens: number;
  /** All output tokens, reasoning ones included. */
  output_tokens: number;
  total_tokens?: number | null;
  input_tokens_details?: { cached_tokens?: number | null; cache_write_tokens?: number | null } | null;
  output_tokens_details?: { reasoning_tokens?: number | null } | null;
}

/** An output item of a Responses API response: only the priced tool calls are read. */
export interface OpenAIResponseOutputItem {
  type: string;
  /** `web_search_call` only: what the call did (`search`, `open_page`, `find_in_page`). */
  action?: { type?: string | null } | null;
}

/** A Responses API response: usage, tier, output items and the per-tool request counts. */
export interface OpenAIResponse {
  usage: OpenAIResponsesUsage;
  service_tier?: string | null;
  output?: readonly OpenAIResponseOutputItem[] | null;
  /** Per-tool usage, when present: `web_search.num_requests` is OpenAI's own count of searches. */
  tool_usage?: Record<string, unknown> | null;
}

/** `usage` of an OpenAI Embeddings response: all of it is input. */
export interface OpenAIEmbeddingsUsage {
  prompt_tokens: number;
  total_tokens?: number | null;
}

const chat: UsageReader = new UsageReader('openai.chat_completions');
const responses: UsageReader = new UsageReader('openai.responses');
const embeddings: UsageReader = new UsageReader('openai.embeddings');

const CHAT_USAGE_FIELDS: ReadonlySet<string> = new Set(['prompt_tokens', 'completion_tokens', 'total_tokens', 'prompt_tokens_details', 'completion_tokens_details']);
const CHAT_PROMPT_DETAILS: ReadonlySet<string> = new Set(['cached_tokens', 'cache_write_tokens', 'audio_tokens', 'image_tokens', 'text_tokens']);
const CHAT_COMPLETION_DETAILS: ReadonlySet<string> = new Set(['reasoning_tokens', 'audio_tokens', 'accepted_prediction_tokens', 'rejected_prediction_tokens', 'text_tokens']);
const RESPONSES_USAGE_FIELDS: ReadonlySet<string> = new Set(['input_tokens', 'output_tokens', 'total_tokens', 'input_tokens_details', 'output_tokens_details']);
const RESPONSES_INPUT_DETAILS: ReadonlySet<string> = new Set(['cached_tokens', 'cache_write_tokens']);
const RESPONSES_OUTPUT_DETAILS: ReadonlySet<string> = new Set(['reasoning_tokens']);
const EMBEDDINGS_USAGE_FIELDS: ReadonlySet<string> = new Set(['prompt_tokens', 'total_tokens']);
/** Per-tool counts in `tool_usage`: the ones billed per request. `image_gen` bills tokens, refused when it has any. */
const TOOL_USAGE_UNITS = { web_search: 'web_search', file_search: 'file_search' } as const;
/** `web_search_call` actions: only `search` is a billed search; opening or searching a page already found is not. */
const WEB_SEARCH_ACTIONS: ReadonlySet<string> = new Set(['search', 'open_page', 'find', 'find_in_page']);

interface Part {
  field: string;
  tokens: number;
  rule: string;
}

/** `whole` minus its parts, each checked in turn: a part that does not fit names itself. */
function remainder(reader: UsageReader, whole: number, wholeField: string, parts: readonly Part[]): number {
  let left = whole;
  let taken = '';
  for (const part of parts) {
    if (part.tokens > left) {
      reader.fail(part.field, part.rule, `${part.field} (${part.tokens}) is more than ${wholeField} (${whole})${taken}, which includes it`);
    }
    left -= part.tokens;
    if (part.tokens > 0) taken += ` minus ${part.field} (${part.tokens})`;
  }
  return left;
}

/**
 * Splits OpenAI Chat Completions usage into disjoint buckets. `prompt_tokens` includes the
 * cached (read), cache-written, audio and image tokens of `prompt_tokens_details`;
 * `completion_tokens` includes the reasoning and audio tokens of `completion_tokens_details`.
 * So: input = prompt - cached - cache_write - audio - image, output = completion - reasoning -
 * audio. OpenAI has one cache-write rate (GPT-5.6 and later), kept in the default-TTL bucket.
 * A prompt with both media tokens and cached tokens is refused (`cached_modality_unknown`):
 * the usage does not say which modality was cached, so the uncached media cannot be told apart.
 */
export function fromOpenAIChatCompletionsUsage(usage: OpenAIChatCompletionsUsage, options?: AdapterOptions): UsageBuckets {
  const u = chat.object(usage, 'usage');
  const prompt = chat.count(u, 'prompt_tokens', 'prompt_tokens', true);
  const looksLikeEmbeddings = u.completion_tokens === undefined && u.total_tokens === u.prompt_tokens;
  const completion = chat.count(u, 'completion_tokens', 'completion_tokens', true, looksLikeEmbeddings ? ' (an embeddings usage has none: read it with fromOpenAIEmbeddingsUsage)' : '');
  chat.rejectUnknown(u, CHAT_USAGE_FIELDS, '');

  const pd = chat.optionalObject(u, 'prompt_tokens_details');
  chat.rejectUnknown(pd, CHAT_PROMPT_DETAILS, 'prompt_tokens_details');
  const cached = chat.count(pd, 'cached_tokens', 'prompt_tokens_details.cached_tokens', false);
  const written = chat.count(pd, 'cache_write_tokens', 'prompt_tokens_details.cache_write_tokens', false);
  const audioIn = chat.count(pd, 'audio_tokens', 'prompt_tokens_details.audio_tokens', false);
  const imageIn = chat.count(pd, 'image_tokens', 'prompt_tokens_details.image_tokens', false);
  if (pd.text_tokens !== undefined && pd.text_tokens !== null) {
    const text = chat.checkCount(pd.text_tokens, 'prompt_tokens_details.text_tokens');
    if (text + audioIn + imageIn !== prompt) {
      chat.fail('prompt_tokens_details.text_tokens', 'modality_mismatch', `text (${text}) + audio (${audioIn}) + image (${imageIn}) tokens should be prompt_tokens (${prompt})`);
    }
  }
  if (audioIn + imageIn > 0 && cached + written > 0) {
    chat.fail(
      'prompt_tokens_details.cached_tokens',
      'cached_modality_unknown',
      `the prompt has ${audioIn} audio and ${imageIn} image tokens and ${cached + written} cached or cache-written tokens, and the usage does not say which modality was cached`,
    );
  }
  const input = remainder(chat, prompt, 'prompt_tokens', [
    { field: 'prompt_tokens_details.cached_tokens', tokens: cached, rule: 'cached_exceeds_prompt' },
    { field: 'prompt_tokens_details.cache_write_tokens', tokens: written, rule: 'cache_write_exceeds_prompt' },
    { field: 'prompt_tokens_details.audio_tokens', tokens: audioIn, rule: 'audio_exceeds_prompt' },
    { field: 'prompt_tokens_details.image_tokens', tokens: imageIn, rule: 'image_exceeds_prompt' },
  ]);

  const cd = chat.optionalObject(u, 'completion_tokens_details');
  chat.rejectUnknown(cd, CHAT_COMPLETION_DETAILS, 'completion_tokens_details');
  const reasoning = chat.count(cd, 'reasoning_tokens', 'completion_tokens_details.reasoning_tokens', false);
  const audioOut = chat.count(cd, 'audio_tokens', 'completion_tokens_details.audio_tokens', false);
  for (const key of ['accepted_prediction_tokens', 'rejected_prediction_tokens', 'text_tokens']) chat.count(cd, key, `completion_tokens_details.${key}`, false);
  const output = remainder(chat, completion, 'completion_tokens', [
    { field: 'completion_tokens_details.reasoning_tokens', tokens: reasoning, rule: 'reasoning_exceeds_completion' },
    { field: 'completion_tokens_details.audio_tokens', tokens: audioOut, rule: 'audio_exceeds_completion' },
  ]);

  const buckets: UsageBuckets = {
    ...emptyBuckets(),
    input_tokens: input,
    cache_read_tokens: cached,
    cache_write_tokens: written,
    output_tokens: output,
    reasoning_tokens: reasoning,
    audio_input_tokens: audioIn,
    audio_output_tokens: audioOut,
    image_input_tokens: imageIn,
  };
  chat.checkTotal(buckets, chat.optionalTotal(u, 'total_tokens', 'total_tokens'), 'total_tokens', options);
  return buckets;
}

/** A whole Chat Completions response: its usage split as `fromOpenAIChatCompletionsUsage` does, with the response's `service_tier`. */
export function fromOpenAIChatCompletion(response: OpenAIChatCompletion, options?: AdapterOptions): UsageBuckets {
  const r = chat.object(response, 'response');
  return { ...fromOpenAIChatCompletionsUsage(r.usage as OpenAIChatCompletionsUsage, options), service_tier: chat.optionalString(r, 'service_tier') };
}

/**
 * Splits OpenAI Responses API usage into disjoint buckets. `input_tokens` includes
 * `input_tokens_details.cached_tokens` (reads) and `.cache_write_tokens` (writes, one rate, the
 * default-TTL bucket); `output_tokens` includes `output_tokens_details.reasoning_tokens`.
 */
export function fromOpenAIResponsesUsage(usage: OpenAIResponsesUsage, options?: AdapterOptions): UsageBuckets {
  const u = responses.object(usage, 'usage');
  const input = responses.count(u, 'input_tokens', 'input_tokens', true);
  const output = responses.count(u, 'output_tokens', 'output_tokens', true);
  responses.rejectUnknown(u, RESPONSES_USAGE_FIELDS, '');
  const idt = responses.optionalObject(u, 'input_tokens_details');
  responses.rejectUnknown(idt, RESPONSES_INPUT_DETAILS, 'input_tokens_details');
  const cached = responses.count(idt, 'cached_tokens', 'input_tokens_details.cached_tokens', false);
  const written = responses.count(idt, 'cache_write_tokens', 'input_tokens_details.cache_write_tokens', false);
  const odt = responses.optionalObject(u, 'output_tokens_details');
  responses.rejectUnknown(odt, RESPONSES_OUTPUT_DETAILS, 'output_tokens_details');
  const reasoning = responses.count(odt, 'reasoning_tokens', 'output_tokens_details.reasoning_tokens', false);
  const buckets: UsageBuckets = {
    ...emptyBuckets(),
    input_tokens: remainder(responses, input, 'input_tokens', [
      { field: 'input_tokens_details.cached_tokens', tokens: cached, rule: 'cached_exceeds_input' },
      { field: 'input_tokens_details.cache_write_tokens', tokens: written, rule: 'cache_write_exceeds_input' },
    ]),
    cache_read_tokens: cached,
    cache_write_tokens: written,
    output_tokens: responses.subtract(output, 'output_tokens', reasoning, 'output_tokens_details.reasoning_tokens', 'reasoning_exceeds_output'),
    reasoning_tokens: reasoning,
  };
  responses.checkTotal(buckets, responses.optionalTotal(u, 'total_tokens', 'total_tokens'), 'total_tokens', options);
  return buckets;
}

/** Per-request counts from `tool_usage` (OpenAI's own): unit -> count, for the tools it lists. */
function toolUsageCounts(toolUsage: Record<string, unknown>): Partial<Record<keyof typeof TOOL_USAGE_UNITS, number>> {
  responses.rejectUnknown(toolUsage, new Set(Object.keys(TOOL_USAGE_UNITS)), 'tool_usage');
  const counts: Partial<Record<keyof typeof TOOL_USAGE_UNITS, number>> = {};
  for (const tool of Object.keys(TOOL_USAGE_UNITS) as (keyof typeof TOOL_USAGE_UNITS)[]) {
    if (toolUsage[tool] === undefined || toolUsage[tool] === null) continue;
    const detail = responses.object(toolUsage[tool], `tool_usage.${tool}`);
    responses.rejectUnknown(detail, new Set(['num_requests']), `tool_usage.${tool}`);
    counts[tool] = responses.count(detail, 'num_requests', `tool_usage.${tool}.num_requests`, true);
  }
  return counts;
}

/** Counts the priced tool calls among the output items: searches (not page opens) and file searches. */
function outputItemCounts(output: readonly unknown[]): { web_search: number; file_search: number } {
  const counts = { web_search: 0, file_search: 0 };
  output.forEach((value, i) => {
    const item = responses.object(value, `output[${i}]`);
    if (item.type === 'file_search_call') counts.file_search += 1;
    if (item.type !== 'web_search_call') return;
    // An item without an action predates actions: every web_search_call was one search then.
    const action = responses.optionalObject(item, 'action', `output[${i}].action`);
    const kind = responses.optionalString(action, 'type', `output[${i}].action.type`) ?? 'search';
    if (!WEB_SEARCH_ACTIONS.has(kind)) responses.fail(`output[${i}].action.type`, 'unknown_action', `web_search_call action ${JSON.stringify(kind)} is not one this adapter knows (search, open_page, find_in_page)`);
    if (kind === 'search') counts.web_search += 1;
  });
  return counts;
}

/**
 * A whole Responses API response: usage split as `fromOpenAIResponsesUsage` does, its
 * `service_tier`, and the tool calls billed per request as units: `web_search` (searches, from
 * `tool_usage.web_search.num_requests` when present, else the `web_search_call` items whose
 * action is `search`) and `file_search` (one per `file_search_call` item).
 */
export function fromOpenAIResponse(response: OpenAIResponse, options?: AdapterOptions): UsageBuckets {
  const r = responses.object(response, 'response');
  const buckets = fromOpenAIResponsesUsage(r.usage as OpenAIResponsesUsage, options);
  const fromItems = outputItemCounts(responses.optionalArray(r, 'output'));
  const fromToolUsage = toolUsageCounts(responses.optionalObject(r, 'tool_usage'));
  const units = positiveUnits({
    web_search: fromToolUsage.web_search ?? fromItems.web_search,
    file_search: fromToolUsage.file_search ?? fromItems.file_search,
  });
  return { ...buckets, units, service_tier: responses.optionalString(r, 'service_tier') };
}

/** OpenAI Embeddings usage: `prompt_tokens` is all input (uncached text); `total_tokens` equals it. */
export function fromOpenAIEmbeddingsUsage(usage: OpenAIEmbeddingsUsage, options?: AdapterOptions): UsageBuckets {
  const u = embeddings.object(usage, 'usage');
  const buckets: UsageBuckets = { ...emptyBuckets(), input_tokens: embeddings.count(u, 'prompt_tokens', 'prompt_tokens', true) };
  embeddings.rejectUnknown(u, EMBEDDINGS_USAGE_FIELDS, '');
  embeddings.checkTotal(buckets, embeddings.optionalTotal(u, 'total_tokens', 'total_tokens'), 'total_tokens', options);
  return buckets;
}
