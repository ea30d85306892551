import { totalTokens } from '@meterline/domain';
import { emptyBuckets, positiveUnits, UsageReader, type AdapterOptions, type UsageBuckets } from './read';

/** One modality's share of a count (`promptTokensDetails`, `candidatesTokensDetails`, ...). An absent `tokenCount` is 0. */
export interface GeminiModalityTokenCount {
  modality: string;
  tokenCount?: number | null;
}

/** `usageMetadata` of a Gemini `generateContent` response (Gemini API and Vertex AI) or of a Live API message. */
export interface GeminiUsageMetadata {
  /** The whole prompt, cached content included. */
  promptTokenCount?: number | null;
  /** The part of the prompt served from the context cache (explicit or implicit). */
  cachedContentTokenCount?: number | null;
  /** Visible output across all candidates (thoughts excluded). */
  candidatesTokenCount?: number | null;
  /** Live API name for the output count (instead of candidatesTokenCount). */
  responseTokenCount?: number | null;
  /** Thinking tokens. */
  thoughtsTokenCount?: number | null;
  /** Tool results fed back to the model: input, counted apart from `promptTokenCount`. */
  toolUsePromptTokenCount?: number | null;
  /** prompt + toolUsePrompt + candidates + thoughts (Live: prompt + response, thoughts left out). */
  totalTokenCount?: number | null;
  promptTokensDetails?: readonly GeminiModalityTokenCount[] | null;
  cacheTokensDetails?: readonly GeminiModalityTokenCount[] | null;
  candidatesTokensDetails?: readonly GeminiModalityTokenCount[] | null;
  responseTokensDetails?: readonly GeminiModalityTokenCount[] | null;
  toolUsePromptTokensDetails?: readonly GeminiModalityTokenCount[] | null;
  /** Vertex AI: `ON_DEMAND` or `PROVISIONED_THROUGHPUT`. */
  trafficType?: string | null;
  serviceTier?: string | null;
}

/** A `generateContent` response: usage, model and grounding. Other fields are ignored. */
export interface GeminiResponse {
  usageMetadata: GeminiUsageMetadata;
  modelVersion?: string | null;
  candidates?: readonly { groundingMetadata?: { webSearchQueries?: readonly string[] | null } | null }[] | null;
}

export interface GeminiResponseOptions extends AdapterOptions {
  /** The model, when the response does not name it (`modelVersion`): grounding is billed per prompt before Gemini 3, per query from it. */
  model?: string;
}

const reader: UsageReader = new UsageReader('gemini');

const USAGE_FIELDS: ReadonlySet<string> = new Set([
  'promptTokenCount',
  'cachedContentTokenCount',
  'candidatesTokenCount',
  'responseTokenCount',
  'thoughtsTokenCount',
  'toolUsePromptTokenCount',
  'totalTokenCount',
  'promptTokensDetails',
  'cacheTokensDetails',
  'candidatesTokensDetails',
  'responseTokensDetails',
  'toolUsePromptTokensDetails',
  'trafficType',
  'serviceTier',
]);
const DETAIL_FIELDS: ReadonlySet<string> = new Set(['modality', 'tokenCount']);

/** How each modality is priced: video and documents at the text rate; audio and image have their own buckets. */
const MODALITY_PRICED_AS = { TEXT: 'text', VIDEO: 'text', DOCUMENT: 'text', AUDIO: 'audio', IMAGE: 'image' } as const;
type PricedAs = (typeof MODALITY_PRICED_AS)[keyof typeof MODALITY_PRICED_AS];

interface ModalitySplit {
  text: number;
  audio: number;
  image: number;
}

/**
 * Splits `total` by its modality details: audio and image as listed, text the rest (a response
 * may list only its image tokens). When the details list a text-priced modality they must add up
 * to `total`. Without details the whole count is text.
 */
function splitByModality(total: number, totalField: string, list: readonly unknown[], listField: string): ModalitySplit {
  const sums: Record<PricedAs, number> = { text: 0, audio: 0, image: 0 };
  let listsText = false;
  list.forEach((value, i) => {
    const entry = reader.object(value, `${listField}[${i}]`);
    reader.rejectUnknown(entry, DETAIL_FIELDS, `${listField}[${i}]`);
    const tokens = reader.count(entry, 'tokenCount', `${listField}[${i}].tokenCount`, false);
    const modality = reader.optionalString(entry, 'modality', `${listField}[${i}].modality`);
    const pricedAs = modality !== null && Object.hasOwn(MODALITY_PRICED_AS, modality) ? MODALITY_PRICED_AS[modality as keyof typeof MODALITY_PRICED_AS] : undefined;
    if (pricedAs === undefined) {
      if (tokens === 0) return;
      reader.fail(`${listField}[${i}].modality`, 'unknown_modality', `modality ${JSON.stringify(modality)} (${tokens} tokens) is not one this adapter knows (TEXT, VIDEO, DOCUMENT, AUDIO, IMAGE)`);
    }
    sums[pricedAs] += tokens;
    if (pricedAs === 'text') listsText = true;
  });
  const media = sums.audio + sums.image;
  if (media > total || (listsText && sums.text + media !== total)) {
    reader.fail(listField, 'modality_mismatch', `the modalities add up to ${sums.text + media} (text ${sums.text}, audio ${sums.audio}, image ${sums.image}) but ${totalField} is ${total}`);
  }
  return { text: total - media, audio: sums.audio, image: sums.image };
}

/** The prompt without its cached part, by modality (Gemini caches per modality: `cacheTokensDetails`). */
function uncachedPrompt(u: Record<string, unknown>): ModalitySplit & { cached: number } {
  const prompt = reader.count(u, 'promptTokenCount', 'promptTokenCount', true);
  const cached = reader.count(u, 'cachedContentTokenCount', 'cachedContentTokenCount', false);
  reader.subtract(prompt, 'promptTokenCount', cached, 'cachedContentTokenCount', 'cached_exceeds_prompt');
  const whole = splitByModality(prompt, 'promptTokenCount', reader.optionalArray(u, 'promptTokensDetails'), 'promptTokensDetails');
  const cacheDetails = reader.optionalArray(u, 'cacheTokensDetails');
  if (cached > 0 && cacheDetails.length === 0 && whole.audio + whole.image > 0) {
    reader.fail('cachedContentTokenCount', 'cached_modality_unknown', `${cached} cached tokens without cacheTokensDetails, and the prompt has audio (${whole.audio}) or image (${whole.image}) tokens: which modality was cached is unknown`);
  }
  const cache = splitByModality(cached, 'cachedContentTokenCount', cacheDetails, 'cacheTokensDetails');
  const uncached = (modality: PricedAs): number => {
    if (cache[modality] > whole[modality]) reader.fail('cacheTokensDetails', 'cached_exceeds_prompt', `${cache[modality]} cached ${modality}-priced tokens but the prompt has ${whole[modality]}`);
    return whole[modality] - cache[modality];
  };
  return { text: uncached('text'), audio: uncached('audio'), image: uncached('image'), cached };
}

/** The output count: `candidatesTokenCount` (generateContent, Vertex Live) or `responseTokenCount` (Gemini Live). */
function output(u: Record<string, unknown>): ModalitySplit & { live: boolean } {
  const hasResponse = u.responseTokenCount !== undefined && u.responseTokenCount !== null;
  const hasCandidates = u.candidatesTokenCount !== undefined && u.candidatesTokenCount !== null;
  if (hasResponse && hasCandidates) reader.fail('responseTokenCount', 'conflicting_fields', 'both candidatesTokenCount and responseTokenCount are present: which one counts the output is unknown');
  const [countKey, detailsKey] = hasResponse ? ['responseTokenCount', 'responseTokensDetails'] : ['candidatesTokenCount', 'candidatesTokensDetails'];
  const otherDetails = hasResponse ? 'candidatesTokensDetails' : 'responseTokensDetails';
  if (reader.optionalArray(u, otherDetails).length > 0) reader.fail(otherDetails, 'conflicting_fields', `${otherDetails} is present with ${countKey}`);
  const total = reader.count(u, countKey, countKey, false);
  return { ...splitByModality(total, countKey, reader.optionalArray(u, detailsKey), detailsKey), live: hasResponse };
}

/**
 * Vertex AI's `trafficType` says how the request was paid: provisioned throughput is a priced
 * difference and wins; otherwise the API's `serviceTier`, else `trafficType` (`ON_DEMAND`).
 */
function tierOf(u: Record<string, unknown>): string | null {
  const traffic = reader.optionalString(u, 'trafficType');
  const tier = reader.optionalString(u, 'serviceTier');
  if (traffic !== null && traffic !== 'ON_DEMAND') return traffic;
  return tier ?? traffic;
}

/**
 * Splits Gemini `usageMetadata` (generateContent or Live) into disjoint buckets.
 * - Input: `promptTokenCount` includes `cachedContentTokenCount`; both are split by modality
 *   (`promptTokensDetails` minus `cacheTokensDetails`): TEXT, VIDEO and DOCUMENT are priced as
 *   text, AUDIO and IMAGE have their own buckets; all cached tokens are cache reads.
 *   `toolUsePromptTokenCount` is more input on top (split by `toolUsePromptTokensDetails`).
 * - Output: `candidatesTokenCount` (Live: `responseTokenCount`) excludes thoughts; its AUDIO and
 *   IMAGE details have their own buckets, the rest is text. `thoughtsTokenCount` is reasoning.
 * - Tier: see `tierOf`. Context-cache creation is billed as input (plus storage, not per
 *   request), so cache writes are 0.
 * The Live API's `totalTokenCount` leaves thoughts out; both readings of the total are accepted there.
 */
export function fromGeminiUsageMetadata(usageMetadata: GeminiUsageMetadata, options?: AdapterOptions): UsageBuckets {
  const u = reader.object(usageMetadata, 'usageMetadata');
  const prompt = uncachedPrompt(u);
  reader.rejectUnknown(u, USAGE_FIELDS, '');
  const toolUse = splitByModality(
    reader.count(u, 'toolUsePromptTokenCount', 'toolUsePromptTokenCount', false),
    'toolUsePromptTokenCount',
    reader.optionalArray(u, 'toolUsePromptTokensDetails'),
    'toolUsePromptTokensDetails',
  );
  const out = output(u);
  const thoughts = reader.count(u, 'thoughtsTokenCount', 'thoughtsTokenCount', false);
  const buckets: UsageBuckets = {
    ...emptyBuckets(),
    input_tokens: prompt.text + toolUse.text,
    cache_read_tokens: prompt.cached,
    audio_input_tokens: prompt.audio + toolUse.audio,
    image_input_tokens: prompt.image + toolUse.image,
    output_tokens: out.text,
    audio_output_tokens: out.audio,
    image_output_tokens: out.image,
    reasoning_tokens: thoughts,
    service_tier: tierOf(u),
  };
  const reported = reader.optionalTotal(u, 'totalTokenCount', 'totalTokenCount');
  const liveTotalWithoutThoughts = out.live && reported !== undefined && thoughts > 0 && reported === totalTokens(buckets) - thoughts;
  if (!liveTotalWithoutThoughts) reader.checkTotal(buckets, reported, 'totalTokenCount', options);
  return buckets;
}

/** The Gemini generation of a model name (`gemini-2.5-pro` -> 2, `models/gemini-3-flash-preview` -> 3, `gemini-live-2.5-flash` -> 2). */
export function geminiGeneration(model: string): number | undefined {
  const match = /(?:^|\/)gemini-(?:live-)?(\d+)(?:\.\d+)?(?:-|$)/.exec(model);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** The non-empty Google Search queries the model ran, over all candidates. */
function searchQueries(r: Record<string, unknown>): number {
  let queries = 0;
  reader.optionalArray(r, 'candidates').forEach((value, i) => {
    const candidate = reader.object(value, `candidates[${i}]`);
    const grounding = reader.optionalObject(candidate, 'groundingMetadata', `candidates[${i}].groundingMetadata`);
    reader.optionalArray(grounding, 'webSearchQueries', `candidates[${i}].groundingMetadata.webSearchQueries`).forEach((query, j) => {
      if (typeof query !== 'string') reader.fail(`candidates[${i}].groundingMetadata.webSearchQueries[${j}]`, 'string', 'a search query must be a string');
      if (query.trim() !== '') queries += 1;
    });
  });
  return queries;
}

/**
 * A whole `generateContent` response: usage split as `fromGeminiUsageMetadata` does, plus
 * grounding with Google Search as the `web_search` unit: one per grounded prompt before Gemini
 * 3, one per non-empty `webSearchQueries` entry from Gemini 3 (the model comes from
 * `modelVersion`, else `options.model`; a grounded response of unknown model is refused).
 */
export function fromGeminiResponse(response: GeminiResponse, options?: GeminiResponseOptions): UsageBuckets {
  const r = reader.object(response, 'response');
  const buckets = fromGeminiUsageMetadata(r.usageMetadata as GeminiUsageMetadata, options);
  const queries = searchQueries(r);
  if (queries === 0) return buckets;
  const model = reader.optionalString(r, 'modelVersion') ?? options?.model ?? null;
  const generation = model === null ? undefined : geminiGeneration(model);
  if (generation === undefined) {
    reader.fail('modelVersion', 'model_required', `the response ran ${queries} search queries and grounding is billed per prompt or per query depending on the model, but the model ${model === null ? 'is not given' : `${JSON.stringify(model)} is not a known Gemini generation`}`);
  }
  return { ...buckets, units: positiveUnits({ web_search: generation >= 3 ? queries : 1 }) };
}
