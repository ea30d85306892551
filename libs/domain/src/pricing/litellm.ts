import {
  CATALOG_FORMAT,
  parseIsoInstant,
  type CatalogDocument,
  type ModelPriceDocument,
  type PriceVersionDocument,
  type RatesDocument,
  type ThresholdDocument,
  type TierDocument,
} from './catalog';
import { DecimalError, parseDecimal, shiftDecimal } from './money';
import { MeterlineError } from '../errors';

/**
 * Imports LiteLLM's `model_prices_and_context_window.json` into the catalog format.
 *
 * LiteLLM writes prices as JSON numbers in USD per token. Each number is turned into its shortest
 * round-trip decimal string (`String(n)`, e.g. "2.5e-6") and the point is moved six places to get
 * USD per 1M tokens ("2.5"); no float is ever multiplied. A price that is not a whole number of
 * pico-USD per token skips the model with a reason, as does a mode that is not priced per token.
 */

export interface LiteLLMImportOptions {
  /** `effective_from` of every imported version; defaults to the epoch (`1970-01-01T00:00:00Z`). */
  effectiveFrom?: string;
  /** Only import these `litellm_provider` values; all when absent. */
  providers?: string[];
}

export interface LiteLLMSkip {
  key: string;
  reason: string;
}

export interface LiteLLMWarning {
  key: string;
  message: string;
}

export interface LiteLLMImportResult {
  /** A `meterline.prices/v1` document; parse it with `parseCatalog`. */
  catalog: CatalogDocument;
  /** Keys not imported, with why. */
  skipped: LiteLLMSkip[];
  /** Imported keys with something to check (e.g. a tier field taken from the base price). */
  warnings: LiteLLMWarning[];
}

const PRICED_MODES = new Set(['chat', 'completion', 'responses', 'embedding']);
const DEFAULT_EFFECTIVE_FROM = '1970-01-01T00:00:00Z';

/** LiteLLM field-name suffix -> our tier name. */
const TIER_SUFFIXES: readonly (readonly [string, string])[] = [
  ['batches', 'batch'],
  ['flex', 'flex'],
  ['priority', 'priority'],
];

/** Our rate field -> LiteLLM per-token field (before any `_above_*` threshold or tier suffix). */
const TOKEN_FIELDS = {
  input: 'input_cost_per_token',
  cache_read: 'cache_read_input_token_cost',
  cache_write: 'cache_creation_input_token_cost',
  cache_write_1h: 'cache_creation_input_token_cost_above_1hr',
  output: 'output_cost_per_token',
  audio_input: 'input_cost_per_audio_token',
  audio_output: 'output_cost_per_audio_token',
  image_input: 'input_cost_per_image_token',
  image_output: 'output_cost_per_image_token',
} as const;
type TokenField = keyof typeof TOKEN_FIELDS;
const tokenFieldNames = Object.keys(TOKEN_FIELDS) as TokenField[];

// `cache_creation_input_token_cost_above_1hr` is the 1-hour write rate, not a threshold: the
// prompt-size part is `_above_<N>k_tokens` only (`..._above_1hr_above_200k_tokens` is both).
const THRESHOLD_FIELD = /^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost|cache_creation_input_token_cost_above_1hr|input_cost_per_audio_token|output_cost_per_audio_token|input_cost_per_image_token|output_cost_per_image_token)_above_(\d+)k_tokens(?:_(batches|flex|priority))?$/;

/** LiteLLM's per-query web search price (by search context size) -> our unit. */
const SEARCH_FIELD = 'search_context_cost_per_query';
const SEARCH_UNIT = 'web_search';

/**
 * Fields that say nothing about price (or that a LiteLLM field above covers), so no warning: the
 * importer warns for every other field whose name says it is a cost it did not map.
 */
const COST_FIELD = /cost|price/;
const IGNORED_FIELDS = new Set(['litellm_provider', 'mode', 'input_cost_per_request', 'output_cost_per_reasoning_token', SEARCH_FIELD]);

/** Whether a field of an entry was mapped (token rates of every tier and threshold, the request fee, reasoning, search). */
function mappedField(key: string): boolean {
  if (IGNORED_FIELDS.has(key) || THRESHOLD_FIELD.test(key)) return true;
  for (const field of Object.values(TOKEN_FIELDS)) {
    if (key === field) return true;
    for (const [suffix] of TIER_SUFFIXES) if (key === `${field}_${suffix}`) return true;
  }
  return false;
}

/** An entry the import leaves out (the reason is reported); caught within this file. */
class SkipEntry extends MeterlineError {
  constructor(message: string) {
    super('LITELLM_ENTRY_SKIPPED', message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A LiteLLM per-token price as a USD-per-1M decimal string, or undefined when absent. */
function perMillion(entry: Record<string, unknown>, field: string): string | undefined {
  const value = entry[field];
  if (value === undefined || value === null) return undefined;
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SkipEntry(`${field} is ${String(value)}`);
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    throw new SkipEntry(`${field} is a ${typeof value}, not a number`);
  }
  try {
    const pico = parseDecimal(text, 12);
    if (pico < 0n) throw new SkipEntry(`${field} is negative (${text})`);
  } catch (error) {
    if (error instanceof DecimalError) {
      throw new SkipEntry(
        error.reason === 'precision'
          ? `${field} = ${text} USD per token is not a whole number of pico-USD per token`
          : `${field} = ${JSON.stringify(text)} is not a decimal number`,
      );
    }
    throw error;
  }
  return shiftDecimal(text, 6);
}

/** A LiteLLM per-request price (USD) as a decimal string. */
function perRequest(entry: Record<string, unknown>, field: string): string | undefined {
  const value = entry[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new SkipEntry(`${field} is not a non-negative number`);
  const text = String(value);
  try {
    parseDecimal(text, 12);
  } catch {
    throw new SkipEntry(`${field} = ${text} USD is not a whole number of pico-USD`);
  }
  return shiftDecimal(text, 0);
}

/**
 * `rate * to / from` as an exact USD-per-1M decimal, when it is one with at most 6 places (a
 * whole number of pico-USD per token); undefined otherwise (or when nothing changes).
 */
function scaledRate(rate: string, from: string, to: string): string | undefined {
  try {
    const r = parseDecimal(rate, 6);
    const f = parseDecimal(from, 6);
    const t = parseDecimal(to, 6);
    if (f === 0n || t === f) return undefined;
    const scaled = r * t;
    if (scaled % f !== 0n) return undefined;
    const pico = scaled / f;
    return formatPerMillion(pico);
  } catch {
    return undefined;
  }
}

/** Pico-USD per token as USD per 1M tokens, the shortest exact decimal. */
function formatPerMillion(pico: bigint): string {
  const whole = pico / 1_000_000n;
  const fraction = (pico % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return fraction === '' ? whole.toString() : `${whole}.${fraction}`;
}

/**
 * LiteLLM's `search_context_cost_per_query` (USD per web search, by search context size) as our
 * `web_search` unit price, when every size costs the same (Anthropic). Sizes priced apart cannot
 * be one unit price: the caller warns.
 */
function searchUnits(entry: Record<string, unknown>): Record<string, string> | undefined {
  const prices = entry[SEARCH_FIELD];
  if (!isRecord(prices)) return undefined;
  const values = [...new Set(Object.values(prices).map((v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? String(v) : 'invalid')))];
  if (values.length !== 1 || values[0] === 'invalid') return undefined;
  try {
    parseDecimal(values[0]!, 12);
  } catch {
    return undefined;
  }
  return { [SEARCH_UNIT]: shiftDecimal(values[0]!, 0) };
}

function withSuffix(field: string, suffix: string | null): string {
  return suffix === null ? field : `${field}_${suffix}`;
}

/** Builds a plan (base or tier) from LiteLLM fields; missing tier fields fall back to the base, as LiteLLM does. */
function buildPlan(
  entry: Record<string, unknown>,
  suffix: string | null,
  base: RatesDocument | null,
  isEmbedding: boolean,
  inherited: string[],
): TierDocument | undefined {
  const found: Partial<Record<TokenField, string>> = {};
  for (const name of tokenFieldNames) {
    const v = perMillion(entry, withSuffix(TOKEN_FIELDS[name], suffix));
    if (v !== undefined) found[name] = v;
  }
  if (suffix !== null && Object.keys(found).length === 0) return undefined; // no such tier
  const prices: RatesDocument = {
    input: found.input ?? base?.input ?? '',
    output: found.output ?? base?.output ?? (isEmbedding ? '0' : ''),
  };
  if (prices.input === '') throw new SkipEntry(`no ${withSuffix(TOKEN_FIELDS.input, suffix)}`);
  if (prices.output === '') throw new SkipEntry(`no ${withSuffix(TOKEN_FIELDS.output, suffix)}`);
  if (suffix !== null) {
    if (found.input === undefined) inherited.push('input');
    if (found.output === undefined) inherited.push('output');
  }
  const cacheRead = found.cache_read ?? base?.cache_read;
  const cacheWrite = found.cache_write ?? base?.cache_write;
  if (cacheRead !== undefined) prices.cache_read = cacheRead;
  if (cacheWrite !== undefined) prices.cache_write = cacheWrite;
  if (suffix !== null && found.cache_read === undefined && base?.cache_read !== undefined) {
    // A tier without its own cached-input price: the base cached price scaled by the tier's input
    // discount (batch input at half price caches at half the cached price), not the full
    // cached price, and never the tier's full input price.
    const scaled = scaledRate(base.cache_read, base.input, prices.input);
    if (scaled !== undefined) {
      prices.cache_read = scaled;
      inherited.push(`cache_read (${scaled}: the base cached price times the tier's input discount)`);
    } else inherited.push('cache_read');
  }
  if (suffix !== null && found.cache_write === undefined && base?.cache_write !== undefined) inherited.push('cache_write');
  const cacheWrite1h = found.cache_write_1h ?? base?.cache_write_1h;
  if (cacheWrite1h !== undefined) prices.cache_write_1h = cacheWrite1h;
  for (const media of ['audio_input', 'audio_output', 'image_input', 'image_output'] as const) {
    const rate = found[media] ?? base?.[media];
    if (rate !== undefined) prices[media] = rate;
  }
  const units = suffix === null ? searchUnits(entry) : base?.units;
  if (units !== undefined) prices.units = units;
  const reasoning = suffix === null ? perMillion(entry, 'output_cost_per_reasoning_token') : base?.reasoning;
  if (reasoning !== undefined) prices.reasoning = reasoning;
  const request = suffix === null ? perRequest(entry, 'input_cost_per_request') : base?.request;
  if (request !== undefined) prices.request = request;

  // Thresholds: `<field>_above_<N>k_tokens[_<suffix>]`; fields missing at a threshold keep this plan's rate.
  const byAbove = new Map<number, Partial<Record<TokenField, string>>>();
  for (const key of Object.keys(entry)) {
    const m = THRESHOLD_FIELD.exec(key);
    if (m === null || (m[3] ?? null) !== suffix) continue;
    const name = tokenFieldNames.find((n) => TOKEN_FIELDS[n] === m[1]);
    const v = perMillion(entry, key);
    if (name === undefined || v === undefined) continue;
    const above = Number(m[2]) * 1000;
    const fields = byAbove.get(above) ?? {};
    fields[name] = v;
    byAbove.set(above, fields);
  }
  const thresholds: ThresholdDocument[] = [...byAbove.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([above, fields]) => {
      const t: RatesDocument = { input: fields.input ?? prices.input, output: fields.output ?? prices.output };
      // A threshold without its own cached price: the plan's cached price scaled as the
      // threshold scales input (a long prompt's cache reads cost more too), not the base's.
      const cr = fields.cache_read ?? (prices.cache_read === undefined ? undefined : (scaledRate(prices.cache_read, prices.input, t.input) ?? prices.cache_read));
      if (fields.cache_read === undefined && cr !== undefined && cr !== prices.cache_read) inherited.push(`cache_read above ${above} prompt tokens (${cr}: the cached price times the threshold's input increase)`);
      const cw = fields.cache_write ?? prices.cache_write;
      if (cr !== undefined) t.cache_read = cr;
      if (cw !== undefined) t.cache_write = cw;
      const cw1h = fields.cache_write_1h ?? (prices.cache_write_1h === undefined ? undefined : (scaledRate(prices.cache_write_1h, prices.input, t.input) ?? prices.cache_write_1h));
      if (fields.cache_write_1h === undefined && cw1h !== undefined && cw1h !== prices.cache_write_1h) inherited.push(`cache_write_1h above ${above} prompt tokens (${cw1h}: the 1-hour write price times the threshold's input increase)`);
      if (cw1h !== undefined) t.cache_write_1h = cw1h;
      for (const media of ['audio_input', 'audio_output', 'image_input', 'image_output'] as const) {
        const rate = fields[media] ?? prices[media];
        if (rate !== undefined) t[media] = rate;
      }
      if (prices.reasoning !== undefined) t.reasoning = prices.reasoning;
      if (prices.units !== undefined) t.units = prices.units;
      if (prices.request !== undefined) t.request = prices.request;
      return { above_prompt_tokens: above, prices: t };
    });
  const plan: TierDocument = { prices };
  if (thresholds.length > 0) plan.thresholds = thresholds;
  return plan;
}

/**
 * Converts LiteLLM's price map into a catalog document. Every imported model gets one version
 * effective from `options.effectiveFrom`. Keys are skipped (with a reason) for `sample_spec`,
 * modes other than chat/completion/responses/embedding, providers not selected, missing or
 * inexact prices, and duplicates of a (provider, model) already imported.
 */
export function importLiteLLM(json: unknown, options: LiteLLMImportOptions = {}): LiteLLMImportResult {
  if (!isRecord(json)) throw new TypeError('importLiteLLM: expected the JSON object of model_prices_and_context_window.json');
  const effectiveFrom = options.effectiveFrom ?? DEFAULT_EFFECTIVE_FROM;
  if (parseIsoInstant(effectiveFrom) === undefined) {
    throw new RangeError(`importLiteLLM: effectiveFrom ${JSON.stringify(effectiveFrom)} is not an ISO 8601 instant with a zone or a date`);
  }
  const providers = options.providers === undefined ? null : new Set(options.providers);
  const skipped: LiteLLMSkip[] = [];
  const warnings: LiteLLMWarning[] = [];
  const models = new Map<string, { key: string; doc: ModelPriceDocument }>();

  for (const [key, raw] of Object.entries(json)) {
    const skip = (reason: string): void => {
      skipped.push({ key, reason });
    };
    if (key === 'sample_spec') {
      skip('sample_spec documents the file format; it is not a model');
      continue;
    }
    if (!isRecord(raw)) {
      skip('not an object');
      continue;
    }
    const provider = raw.litellm_provider;
    if (typeof provider !== 'string' || provider.length === 0) {
      skip('no litellm_provider');
      continue;
    }
    if (providers !== null && !providers.has(provider)) {
      skip(`provider ${provider} not selected`);
      continue;
    }
    const mode = raw.mode;
    if (typeof mode !== 'string' || !PRICED_MODES.has(mode)) {
      skip(`mode ${typeof mode === 'string' ? mode : 'missing'} is not priced per token here (chat, completion, responses, embedding)`);
      continue;
    }
    const model = key.startsWith(`${provider}/`) ? key.slice(provider.length + 1) : key;
    if (model.length === 0) {
      skip('empty model name');
      continue;
    }
    const id = `${provider}\u0000${model}`;
    const first = models.get(id);
    if (first !== undefined) {
      skip(`duplicate of ${JSON.stringify(first.key)} (same provider ${provider} and model ${model}); the first is kept`);
      continue;
    }
    const unmapped = Object.keys(raw).filter((field) => COST_FIELD.test(field) && !mappedField(field) && raw[field] !== null && raw[field] !== 0);
    try {
      const inherited: string[] = [];
      const standard = buildPlan(raw, null, null, mode === 'embedding', inherited);
      if (standard === undefined) throw new SkipEntry('no base prices');
      const version: PriceVersionDocument = { effective_from: effectiveFrom, prices: standard.prices };
      if (standard.thresholds !== undefined) version.thresholds = standard.thresholds;
      const tiers: Record<string, TierDocument> = {};
      for (const [suffix, tier] of TIER_SUFFIXES) {
        const tierInherited: string[] = [];
        const plan = buildPlan(raw, suffix, standard.prices, mode === 'embedding', tierInherited);
        if (plan === undefined) continue;
        tiers[tier] = plan;
        if (tierInherited.length > 0) {
          warnings.push({ key, message: `tier ${tier}: ${tierInherited.join(', ')} not given for the tier, the base price is used (as LiteLLM does)` });
        }
      }
      if (Object.keys(tiers).length > 0) version.tiers = tiers;
      if (inherited.length > 0) warnings.push({ key, message: `derived: ${inherited.join(', ')}` });
      if (standard.thresholds !== undefined) {
        for (const [tier, plan] of Object.entries(tiers)) {
          if (plan.thresholds === undefined) warnings.push({ key, message: `tier ${tier} has no prompt-size threshold although the base prices have one` });
        }
      }
      models.set(id, { key, doc: { provider, model, notes: `imported from LiteLLM key ${JSON.stringify(key)}`, versions: [version] } });
      for (const field of unmapped) {
        warnings.push({ key, message: `${field} not imported: the catalog has no rate it maps to (usage it prices is unpriced or priced by another rate)` });
      }
      if (isRecord(raw[SEARCH_FIELD]) && standard.prices.units === undefined) {
        warnings.push({ key, message: `${SEARCH_FIELD} not imported: its search context sizes are priced apart (${JSON.stringify(raw[SEARCH_FIELD])}), one ${SEARCH_UNIT} unit price cannot say which` });
      }
    } catch (error) {
      if (error instanceof SkipEntry) skip(error.message);
      else throw error;
    }
  }

  const sorted = [...models.values()]
    .map((m) => m.doc)
    .sort((a, b) => (a.provider === b.provider ? compare(a.model, b.model) : compare(a.provider, b.provider)));
  return { catalog: { format: CATALOG_FORMAT, description: 'Imported from LiteLLM model_prices_and_context_window.json', models: sorted }, skipped, warnings };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
