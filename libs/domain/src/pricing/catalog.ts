import { z } from 'zod';
import { DecimalError, parseDecimal } from './money';
import { MeterlineError } from '../errors';

/**
 * Price catalogs: the provider cost book and the customer rate card share one file format
 * (`meterline.prices/v1`, documented in pricing/README.md). Prices are written as decimal strings
 * in USD per million tokens (the request fee in USD per request) and held, once parsed, as
 * integer pico-USD per token (bigint). A price that is not a whole number of pico-USD per token
 * is rejected rather than rounded.
 */

export const CATALOG_FORMAT = 'meterline.prices/v1';

/**
 * Tier names that mean "no tier": the base prices of a version apply. `on_demand` is Vertex AI's
 * `trafficType` `ON_DEMAND` (pay as you go), which the Gemini adapter reports as the tier; event
 * tiers are compared in lower case (`normaliseTier`).
 */
export const STANDARD_TIER_NAMES: readonly string[] = ['standard', 'default', 'on_demand'];

// ---------------------------------------------------------------------------------------------
// The file format (what is written in JSON)
// ---------------------------------------------------------------------------------------------

export const ratesDocumentSchema = z.strictObject({
  /** USD per 1M uncached input tokens. */
  input: z.string(),
  /** USD per 1M tokens read from the prompt cache; defaults to `input`. */
  cache_read: z.string().optional(),
  /** USD per 1M tokens written to the prompt cache with the default (5-minute) TTL; defaults to `input`. */
  cache_write: z.string().optional(),
  /** USD per 1M tokens written to the prompt cache with a 1-hour TTL; defaults to `cache_write`. */
  cache_write_1h: z.string().optional(),
  /** USD per 1M visible output tokens. */
  output: z.string(),
  /** USD per 1M reasoning tokens; defaults to `output`. */
  reasoning: z.string().optional(),
  /**
   * USD per 1M audio / image tokens (uncached). No default: a plan without the rate leaves an
   * event that has such tokens unpriced (`no_rate`) rather than pricing them as text.
   */
  audio_input: z.string().optional(),
  audio_output: z.string().optional(),
  image_input: z.string().optional(),
  image_output: z.string().optional(),
  /** USD per unit of per-request priced work (`web_search`, `web_fetch`, `code_execution`, ...); a unit without a price leaves the event unpriced (`no_rate`). */
  units: z.record(z.string(), z.string()).optional(),
  /** USD per request (per event); defaults to 0. */
  request: z.string().optional(),
});

export const thresholdDocumentSchema = z.strictObject({
  /** The rates apply when input + cache_read + cache_write tokens of the request exceed this. */
  above_prompt_tokens: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  prices: ratesDocumentSchema,
});

export const tierDocumentSchema = z.strictObject({
  prices: ratesDocumentSchema,
  thresholds: z.array(thresholdDocumentSchema).optional(),
});

export const priceVersionDocumentSchema = z.strictObject({
  /** ISO 8601 instant (`2025-06-10T00:00:00Z`) or date (`2025-06-10`, UTC midnight). */
  effective_from: z.string(),
  /** Overrides the date part of the price version id (`openai/o3@<label>`). */
  label: z.string().optional(),
  notes: z.string().optional(),
  prices: ratesDocumentSchema,
  thresholds: z.array(thresholdDocumentSchema).optional(),
  tiers: z.record(z.string(), tierDocumentSchema).optional(),
});

export const modelPriceDocumentSchema = z.strictObject({
  provider: z.string().min(1),
  model: z.string().min(1),
  /** Other exact model names priced by this entry. */
  aliases: z.array(z.string().min(1)).optional(),
  /** Glob patterns (`*` matches any run of characters) for model names priced by this entry. */
  match: z.array(z.string().min(1)).optional(),
  notes: z.string().optional(),
  versions: z.array(priceVersionDocumentSchema).min(1),
});

export const catalogDocumentSchema = z.strictObject({
  format: z.literal(CATALOG_FORMAT),
  description: z.string().optional(),
  models: z.array(modelPriceDocumentSchema),
});

export type RatesDocument = z.infer<typeof ratesDocumentSchema>;
export type ThresholdDocument = z.infer<typeof thresholdDocumentSchema>;
export type TierDocument = z.infer<typeof tierDocumentSchema>;
export type PriceVersionDocument = z.infer<typeof priceVersionDocumentSchema>;
export type ModelPriceDocument = z.infer<typeof modelPriceDocumentSchema>;
export type CatalogDocument = z.infer<typeof catalogDocumentSchema>;

// ---------------------------------------------------------------------------------------------
// The parsed catalog (what pricing uses)
// ---------------------------------------------------------------------------------------------

/** Rates of one price plan, integer pico-USD per token (`request`: per request; `units`: per unit). */
export interface RateSet {
  readonly input: bigint;
  readonly cache_read: bigint;
  /** 5-minute (default TTL) cache writes. */
  readonly cache_write: bigint;
  readonly cache_write_1h: bigint;
  readonly output: bigint;
  readonly reasoning: bigint;
  /** Media rates: null when the plan does not price them (an event with such tokens is then unpriced). */
  readonly audio_input: bigint | null;
  readonly audio_output: bigint | null;
  readonly image_input: bigint | null;
  readonly image_output: bigint | null;
  /** Unit name -> pico-USD per unit. A unit not listed is not priced. */
  readonly units: ReadonlyMap<string, bigint>;
  readonly request: bigint;
}

export interface PriceThreshold {
  /** Applies when the request's prompt tokens (every input bucket: text, cache reads and writes, audio, image) exceed this. */
  readonly abovePromptTokens: number;
  /** Every rate of the request switches to these. */
  readonly rates: RateSet;
}

export interface PricePlan {
  readonly rates: RateSet;
  /** Ascending by `abovePromptTokens`; the highest one crossed applies. */
  readonly thresholds: readonly PriceThreshold[];
}

export interface PriceVersion {
  /** Stable id recorded with every priced line, e.g. `openai/gpt-4o@2024-08-06`. */
  readonly priceVersionId: string;
  /** Epoch ms; the version prices events with `occurred_at >= effectiveFrom` until the next one. */
  readonly effectiveFrom: number;
  /** The base (standard tier) plan. */
  readonly standard: PricePlan;
  /** Named tiers (`batch`, `flex`, `priority`, ...), each a complete plan of its own. */
  readonly tiers: ReadonlyMap<string, PricePlan>;
}

export interface CatalogEntry {
  readonly provider: string;
  readonly model: string;
  readonly aliases: readonly string[];
  readonly match: readonly string[];
  /** Ascending by `effectiveFrom`. */
  readonly versions: readonly PriceVersion[];
}

export interface Catalog {
  /** Where the catalog came from (file name), for messages. */
  readonly source: string;
  readonly entries: readonly CatalogEntry[];
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export interface CatalogProblem {
  /** The file (or source name) at fault. */
  file: string;
  /** The entry at fault: `provider/model`, `tenant acme`, or `models[3]` when it has no name. */
  entry: string;
  /** Path of the field inside the entry, e.g. `versions[0].prices.cache_read`. */
  field: string;
  /** Stable rule name: `pico_integer`, `decimal`, `iso_time`, `duplicate_name`, ... */
  rule: string;
  message: string;
}

export function describeProblem(p: CatalogProblem): string {
  return `${p.file}: ${p.entry}: ${p.field === '' ? '(root)' : p.field}: ${p.message} [${p.rule}]`;
}

/** A price file is invalid; `problems` lists every problem found, not only the first. */
export class CatalogError extends MeterlineError {
  readonly problems: readonly CatalogProblem[];

  constructor(source: string, problems: readonly CatalogProblem[]) {
    const n = problems.length;
    super('CATALOG_INVALID', `invalid price file ${source}: ${n} problem${n === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${describeProblem(p)}`).join('\n')}`);
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/** Collects problems for one file. */
export class ProblemCollector {
  readonly problems: CatalogProblem[] = [];
  constructor(readonly file: string) {}

  add(entry: string, field: string, rule: string, message: string): void {
    this.problems.push({ file: this.file, entry, field, rule, message });
  }

  /** Adds zod issues, with paths relative to `base`. */
  addIssues(entry: string, base: string, issues: readonly z.core.$ZodIssue[]): void {
    for (const issue of issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          this.add(entry, joinPath(base, [...issue.path, key]), issue.code, `unknown field ${JSON.stringify(key)} (check the spelling; see pricing/README.md)`);
        }
      } else {
        this.add(entry, joinPath(base, issue.path), issue.code, issue.message);
      }
    }
  }
}

export function joinPath(base: string, path: readonly PropertyKey[]): string {
  let out = base;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Parses an ISO 8601 instant with an explicit zone (`2025-06-10T12:00:00Z`,
 * `2025-06-10T14:00:00+02:00`) or a plain date (`2025-06-10`, read as UTC midnight) to epoch ms.
 * Returns undefined for anything else, including impossible dates such as `2025-02-30`.
 */
export function parseIsoInstant(text: string): number | undefined {
  const m = ISO_INSTANT.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4] ?? '0');
  const minute = Number(m[5] ?? '0');
  const second = Number(m[6] ?? '0');
  const millis = Number((m[7] ?? '0').padEnd(3, '0'));
  const zone = m[8] ?? 'Z';
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return undefined;
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return date.getTime() - offsetMinutes * 60_000;
}

const DAY_MS = 86_400_000;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._:+-]*$/;
const TIER_NAME = /^[a-z][a-z0-9_-]*$/;

/** The default label of a version: its UTC date, or the full instant when it is not midnight. */
export function versionLabel(effectiveFrom: number): string {
  const iso = new Date(effectiveFrom).toISOString();
  return effectiveFrom % DAY_MS === 0 ? iso.slice(0, 10) : iso;
}

interface EntryContext {
  collector: ProblemCollector;
  /** Prefix of every price version id built (`tenant:acme/` for tenant prices). */
  idPrefix: string;
  /** Path of the entries array in the file, for messages (`models`, `tenants[0].model_prices`). */
  basePath: string;
  /** Prefix of entry names in messages (`tenant acme: `). */
  entryPrefix: string;
}

function convertPrice(
  text: string,
  field: string,
  kind: 'token' | 'request',
  entry: string,
  collector: ProblemCollector,
): bigint | undefined {
  // Per token: USD/1M * 1e12 pico / 1e6 tokens = USD/1M * 1e6. Per request: USD * 1e12.
  const scale = kind === 'token' ? 6 : 12;
  try {
    const value = parseDecimal(text, scale);
    if (value < 0n) {
      collector.add(entry, field, 'non_negative', `price ${JSON.stringify(text)} is negative; prices must be zero or more`);
      return undefined;
    }
    return value;
  } catch (error) {
    if (error instanceof DecimalError && error.reason === 'precision') {
      const why =
        kind === 'token'
          ? `${JSON.stringify(text)} USD per 1M tokens is not a whole number of pico-USD per token; use at most 6 decimal places (1 pico-USD per token = "0.000001" per 1M tokens)`
          : `${JSON.stringify(text)} USD per request is not a whole number of pico-USD; use at most 12 decimal places`;
      collector.add(entry, field, 'pico_integer', why);
    } else {
      const detail = error instanceof Error ? error.message : String(error);
      collector.add(entry, field, 'decimal', `${detail}; prices are decimal strings in USD per ${kind === 'token' ? '1M tokens' : 'request'}`);
    }
    return undefined;
  }
}

/** A unit name in a price file: the same rule as the event's `units` keys. */
const UNIT_NAME = /^[a-z][a-z0-9_]{0,47}$/;

function convertRates(doc: RatesDocument, path: string, entry: string, collector: ProblemCollector): RateSet | undefined {
  const input = convertPrice(doc.input, `${path}.input`, 'token', entry, collector);
  const output = convertPrice(doc.output, `${path}.output`, 'token', entry, collector);
  const cacheRead = doc.cache_read === undefined ? input : convertPrice(doc.cache_read, `${path}.cache_read`, 'token', entry, collector);
  const cacheWrite = doc.cache_write === undefined ? input : convertPrice(doc.cache_write, `${path}.cache_write`, 'token', entry, collector);
  const cacheWrite1h = doc.cache_write_1h === undefined ? cacheWrite : convertPrice(doc.cache_write_1h, `${path}.cache_write_1h`, 'token', entry, collector);
  const reasoning = doc.reasoning === undefined ? output : convertPrice(doc.reasoning, `${path}.reasoning`, 'token', entry, collector);
  const media = (text: string | undefined, name: string): bigint | null | undefined => (text === undefined ? null : convertPrice(text, `${path}.${name}`, 'token', entry, collector));
  const audioInput = media(doc.audio_input, 'audio_input');
  const audioOutput = media(doc.audio_output, 'audio_output');
  const imageInput = media(doc.image_input, 'image_input');
  const imageOutput = media(doc.image_output, 'image_output');
  const units = new Map<string, bigint>();
  let unitsOk = true;
  for (const [name, text] of Object.entries(doc.units ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!UNIT_NAME.test(name)) {
      collector.add(entry, `${path}.units.${name}`, 'unit_name', `unit name ${JSON.stringify(name)} must match ${UNIT_NAME.source} (e.g. web_search)`);
      unitsOk = false;
      continue;
    }
    const price = convertPrice(text, `${path}.units.${name}`, 'request', entry, collector);
    if (price === undefined) unitsOk = false;
    else units.set(name, price);
  }
  const request = doc.request === undefined ? 0n : convertPrice(doc.request, `${path}.request`, 'request', entry, collector);
  if (
    input === undefined || output === undefined || cacheRead === undefined || cacheWrite === undefined || cacheWrite1h === undefined || reasoning === undefined || request === undefined ||
    audioInput === undefined || audioOutput === undefined || imageInput === undefined || imageOutput === undefined || !unitsOk
  ) {
    return undefined;
  }
  return {
    input,
    cache_read: cacheRead,
    cache_write: cacheWrite,
    cache_write_1h: cacheWrite1h,
    output,
    reasoning,
    audio_input: audioInput,
    audio_output: audioOutput,
    image_input: imageInput,
    image_output: imageOutput,
    units,
    request,
  };
}

function convertPlan(
  prices: RatesDocument,
  thresholds: readonly ThresholdDocument[] | undefined,
  path: string,
  entry: string,
  collector: ProblemCollector,
): PricePlan | undefined {
  const rates = convertRates(prices, joinPath(path, ['prices']), entry, collector);
  const converted: PriceThreshold[] = [];
  let ok = rates !== undefined;
  const seen = new Set<number>();
  (thresholds ?? []).forEach((t, i) => {
    const tPath = joinPath(path, ['thresholds', i]);
    if (seen.has(t.above_prompt_tokens)) {
      collector.add(entry, `${tPath}.above_prompt_tokens`, 'duplicate_threshold', `two thresholds above ${t.above_prompt_tokens} prompt tokens`);
      ok = false;
    }
    seen.add(t.above_prompt_tokens);
    const tRates = convertRates(t.prices, `${tPath}.prices`, entry, collector);
    if (tRates === undefined) ok = false;
    else converted.push({ abovePromptTokens: t.above_prompt_tokens, rates: tRates });
  });
  if (!ok || rates === undefined) return undefined;
  converted.sort((a, b) => a.abovePromptTokens - b.abovePromptTokens);
  return { rates, thresholds: converted };
}

function convertEntry(doc: ModelPriceDocument, path: string, entry: string, ctx: EntryContext): CatalogEntry | undefined {
  const { collector } = ctx;
  let ok = true;
  const versions: PriceVersion[] = [];
  const seenFrom = new Map<number, number>();
  const seenIds = new Set<string>();
  doc.versions.forEach((v, i) => {
    const vPath = joinPath(path, ['versions', i]);
    const effectiveFrom = parseIsoInstant(v.effective_from);
    if (effectiveFrom === undefined) {
      collector.add(
        entry,
        `${vPath}.effective_from`,
        'iso_time',
        `${JSON.stringify(v.effective_from)} is not an ISO 8601 instant with a zone (e.g. "2025-06-10T00:00:00Z") or a date ("2025-06-10")`,
      );
      ok = false;
    } else if (seenFrom.has(effectiveFrom)) {
      collector.add(entry, `${vPath}.effective_from`, 'duplicate_effective_from', `versions[${seenFrom.get(effectiveFrom)}] has the same effective_from`);
      ok = false;
    } else {
      seenFrom.set(effectiveFrom, i);
    }
    if (v.label !== undefined && !LABEL.test(v.label)) {
      collector.add(entry, `${vPath}.label`, 'label', `label ${JSON.stringify(v.label)} must be letters, digits and . _ : + - (no spaces)`);
      ok = false;
    }
    const standard = convertPlan(v.prices, v.thresholds, vPath, entry, collector);
    const tiers = new Map<string, PricePlan>();
    for (const [name, tier] of Object.entries(v.tiers ?? {})) {
      const tPath = joinPath(vPath, ['tiers', name]);
      if (STANDARD_TIER_NAMES.includes(name)) {
        collector.add(entry, tPath, 'reserved_tier', `tier "${name}" means the base prices; put them in "prices" instead`);
        ok = false;
        continue;
      }
      if (!TIER_NAME.test(name)) {
        collector.add(entry, tPath, 'tier_name', `tier name ${JSON.stringify(name)} must be lowercase letters, digits, _ or -`);
        ok = false;
        continue;
      }
      const plan = convertPlan(tier.prices, tier.thresholds, tPath, entry, collector);
      if (plan === undefined) ok = false;
      else tiers.set(name, plan);
    }
    if (standard === undefined || effectiveFrom === undefined) {
      ok = false;
      return;
    }
    const priceVersionId = `${ctx.idPrefix}${doc.provider}/${doc.model}@${v.label ?? versionLabel(effectiveFrom)}`;
    if (seenIds.has(priceVersionId)) {
      collector.add(entry, `${vPath}.label`, 'duplicate_version_id', `price version id ${priceVersionId} is used twice; give the versions distinct labels`);
      ok = false;
    }
    seenIds.add(priceVersionId);
    versions.push({ priceVersionId, effectiveFrom, standard, tiers });
  });
  if (!ok) return undefined;
  versions.sort((a, b) => a.effectiveFrom - b.effectiveFrom);
  return { provider: doc.provider, model: doc.model, aliases: doc.aliases ?? [], match: doc.match ?? [], versions };
}

function entryName(raw: unknown, index: number, ctx: EntryContext): string {
  if (typeof raw === 'object' && raw !== null) {
    const r = raw as Record<string, unknown>;
    if (typeof r.provider === 'string' && typeof r.model === 'string') return `${ctx.entryPrefix}${r.provider}/${r.model}`;
  }
  return `${ctx.entryPrefix}${ctx.basePath}[${index}]`;
}

/** Checks names and patterns across entries: a model name resolves to one entry per provider. */
function checkNames(entries: readonly { entry: CatalogEntry; name: string; path: string }[], collector: ProblemCollector): boolean {
  let ok = true;
  const names = new Map<string, string>(); // provider \0 name -> entry name
  const patterns = new Map<string, string>();
  for (const { entry, name, path } of entries) {
    const own = new Set<string>();
    const all: [string, string][] = [[entry.model, 'model'], ...entry.aliases.map((a, i): [string, string] => [a, `aliases[${i}]`])];
    for (const [modelName, field] of all) {
      const key = `${entry.provider}\u0000${modelName}`;
      const other = names.get(key);
      if (own.has(modelName)) {
        collector.add(name, joinPath(path, [field]), 'duplicate_name', `model name ${JSON.stringify(modelName)} is listed twice in this entry`);
        ok = false;
      } else if (other !== undefined) {
        collector.add(name, joinPath(path, [field]), 'duplicate_name', `model name ${JSON.stringify(modelName)} is already priced by ${other}`);
        ok = false;
      } else {
        names.set(key, name);
      }
      own.add(modelName);
      if (modelName.includes('*')) {
        collector.add(name, joinPath(path, [field]), 'name_syntax', `model names and aliases are exact; put glob patterns in "match"`);
        ok = false;
      }
    }
    entry.match.forEach((pattern, i) => {
      const field = joinPath(path, ['match', i]);
      if (!pattern.includes('*')) {
        collector.add(name, field, 'pattern_syntax', `pattern ${JSON.stringify(pattern)} has no "*"; exact names belong in "aliases"`);
        ok = false;
        return;
      }
      if (pattern.replaceAll('*', '').length === 0) {
        collector.add(name, field, 'pattern_too_broad', `pattern ${JSON.stringify(pattern)} matches every model; an unknown model must stay unpriced`);
        ok = false;
        return;
      }
      const key = `${entry.provider}\u0000${pattern}`;
      const other = patterns.get(key);
      if (other !== undefined) {
        collector.add(name, field, 'duplicate_pattern', `pattern ${JSON.stringify(pattern)} is already used by ${other}`);
        ok = false;
      } else {
        patterns.set(key, name);
      }
    });
  }
  return ok;
}

/** Converts raw model-price entries (catalog `models` or tenant `model_prices`), collecting problems. */
export function buildEntries(rawEntries: readonly unknown[], ctx: EntryContext): CatalogEntry[] {
  const built: { entry: CatalogEntry; name: string; path: string }[] = [];
  rawEntries.forEach((raw, i) => {
    const path = '';
    const name = entryName(raw, i, ctx);
    const parsed = modelPriceDocumentSchema.safeParse(raw);
    if (!parsed.success) {
      ctx.collector.addIssues(name, path, parsed.error.issues);
      return;
    }
    const entry = convertEntry(parsed.data, path, name, ctx);
    if (entry !== undefined) built.push({ entry, name, path });
  });
  checkNames(built, ctx.collector);
  return built.map((b) => b.entry);
}

const catalogRootSchema = z.strictObject({
  format: z.literal(CATALOG_FORMAT),
  description: z.string().optional(),
  models: z.array(z.unknown()),
});

/**
 * Validates a price catalog (`meterline.prices/v1`) and converts every price to integer pico-USD
 * per token. Throws a {@link CatalogError} listing every problem (file, entry, field, rule).
 */
export function parseCatalog(json: unknown, source: string): Catalog {
  const collector = new ProblemCollector(source);
  const root = catalogRootSchema.safeParse(json);
  if (!root.success) {
    collector.addIssues('(catalog)', '', root.error.issues);
    throw new CatalogError(source, collector.problems);
  }
  const entries = buildEntries(root.data.models, { collector, idPrefix: '', basePath: 'models', entryPrefix: '' });
  if (collector.problems.length > 0) throw new CatalogError(source, collector.problems);
  return { source, entries };
}
