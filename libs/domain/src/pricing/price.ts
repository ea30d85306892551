import type { TokenBucket } from '../usage-event/usage-event';
import { STANDARD_TIER_NAMES, type Catalog, type PricePlan, type RateSet } from './catalog';
import { findEntry, versionAt, type MatchKind } from './resolve';
import { MeterlineError } from '../errors';

/**
 * What is priced: an event's identity, time, tier, disjoint token buckets and units. The v2
 * buckets and units may be left out (a v1-shaped usage): absent means 0 / none.
 */
export interface UsageToPrice {
  provider: string;
  model: string;
  /** Event time, epoch ms: decides which price version applies. */
  occurred_at: number;
  /** Service tier the provider ran the request in (`batch`, `flex`, `priority`, Vertex's
   * `PROVISIONED_THROUGHPUT`), compared in lower case; absent, null, `standard`, `default` or
   * `ON_DEMAND` mean the base prices. */
  tier?: string | null;
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens?: number;
  output_tokens: number;
  reasoning_tokens: number;
  audio_input_tokens?: number;
  audio_output_tokens?: number;
  image_input_tokens?: number;
  image_output_tokens?: number;
  /** Per-request priced units, name -> count. */
  units?: Readonly<Record<string, number>>;
}

/** The token lines, in invoice order; each is `tokens * rate`. */
export const tokenLineNames = ['input', 'cache_read', 'cache_write', 'cache_write_1h', 'output', 'reasoning', 'audio_input', 'audio_output', 'image_input', 'image_output'] as const;
export type TokenLineName = (typeof tokenLineNames)[number];
/** Every line: the token lines, `units` (the sum of the per-unit lines) and the per-request fee. */
export type LineName = TokenLineName | 'units' | 'request';
export const lineNames: readonly LineName[] = [...tokenLineNames, 'units', 'request'];

/** Amount per line, integer pico-USD. */
export type PriceLines = Readonly<Record<LineName, bigint>>;

export interface PricedUsage {
  priced: true;
  /** The price version used, e.g. `openai/o3@2025-06-10`. */
  priceVersionId: string;
  /** The catalog entry that priced the model (canonical name; the event may have used an alias). */
  provider: string;
  model: string;
  matchedBy: MatchKind;
  /** Whether a prompt-size threshold switched the rates; `thresholdAbovePromptTokens` says which. */
  thresholdApplied: boolean;
  thresholdAbovePromptTokens: number | null;
  /** The tier priced, null for the base prices. */
  tier: string | null;
  lines: PriceLines;
  /** Per unit name: count * unit price (their sum is `lines.units`), names sorted. */
  unitLines: Readonly<Record<string, bigint>>;
  total: bigint;
  /**
   * What the cache_read and cache_write (both TTLs) tokens would have cost at the (applied)
   * uncached input rate, minus what they cost. Negative when cache writes cost more than they saved.
   */
  cacheSavings: bigint;
}

export type UnpricedReason = 'unknown_model' | 'no_price_in_effect' | 'unknown_tier' | 'no_rate';

export interface Unpriced {
  priced: false;
  reason: UnpricedReason;
  message: string;
}

/** The usage to price is itself invalid (negative or fractional tokens, bad time). A bug upstream. */
export class PricingInputError extends MeterlineError {
  constructor(message: string) {
    super('PRICING_INPUT_INVALID', message);
  }
}

const bucketOfLine = {
  input: 'input_tokens',
  cache_read: 'cache_read_tokens',
  cache_write: 'cache_write_tokens',
  cache_write_1h: 'cache_write_1h_tokens',
  output: 'output_tokens',
  reasoning: 'reasoning_tokens',
  audio_input: 'audio_input_tokens',
  audio_output: 'audio_output_tokens',
  image_input: 'image_input_tokens',
  image_output: 'image_output_tokens',
} as const satisfies Record<TokenLineName, TokenBucket>;

/** The event bucket a token line prices. */
export function bucketOf(line: TokenLineName): TokenBucket {
  return bucketOfLine[line];
}

/** Tokens of a bucket, 0 when the usage leaves it out. */
function tokens(usage: UsageToPrice, line: TokenLineName): number {
  return usage[bucketOfLine[line]] ?? 0;
}

const NO_UNITS: Readonly<Record<string, number>> = Object.freeze({});
/** Lines whose buckets a v1-shaped usage may leave out (read as 0). */
const V2_LINES: ReadonlySet<TokenLineName> = new Set(['cache_write_1h', 'audio_input', 'audio_output', 'image_input', 'image_output']);

export function checkUsage(usage: UsageToPrice): void {
  for (const line of tokenLineNames) {
    const value = usage[bucketOfLine[line]];
    if (value === undefined && V2_LINES.has(line)) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new PricingInputError(`${bucketOfLine[line]} must be a non-negative integer, got ${String(value)}`);
    }
  }
  for (const [name, count] of Object.entries(usage.units ?? NO_UNITS)) {
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw new PricingInputError(`units.${name} must be a non-negative integer, got ${String(count)}`);
  }
  if (typeof usage.occurred_at !== 'number' || !Number.isSafeInteger(usage.occurred_at)) {
    throw new PricingInputError(`occurred_at must be integer epoch milliseconds, got ${String(usage.occurred_at)}`);
  }
}

/** Every input bucket (text, cache reads, cache writes of both TTLs, audio, image): the size of the prompt, which thresholds are measured on. */
export function promptTokens(usage: Pick<UsageToPrice, 'input_tokens' | 'cache_read_tokens' | 'cache_write_tokens' | 'cache_write_1h_tokens' | 'audio_input_tokens' | 'image_input_tokens'>): number {
  return usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens + (usage.cache_write_1h_tokens ?? 0) + (usage.audio_input_tokens ?? 0) + (usage.image_input_tokens ?? 0);
}

/**
 * Normalises a tier name: null for the base prices, else the name in lower case. Providers spell
 * tiers in their own case (OpenAI `priority`, Vertex `ON_DEMAND` / `PROVISIONED_THROUGHPUT`) while
 * catalog tier names are lower case, so `PROVISIONED_THROUGHPUT` is priced by a
 * `provisioned_throughput` tier.
 */
export function normaliseTier(tier: string | null | undefined): string | null {
  if (tier === undefined || tier === null || tier === '') return null;
  const name = tier.toLowerCase();
  return STANDARD_TIER_NAMES.includes(name) ? null : name;
}

/** The rates a plan charges for a prompt of `prompt` tokens: the highest threshold crossed, else the base. */
export function ratesFor(plan: PricePlan, prompt: number): { rates: RateSet; above: number | null } {
  for (let i = plan.thresholds.length - 1; i >= 0; i--) {
    const threshold = plan.thresholds[i];
    if (threshold !== undefined && prompt > threshold.abovePromptTokens) return { rates: threshold.rates, above: threshold.abovePromptTokens };
  }
  return { rates: plan.rates, above: null };
}

/** The rate of a token line; a media rate the plan lacks reads 0 (resolveRates refuses such usage before any arithmetic). */
function rateOf(rates: RateSet, line: TokenLineName): bigint {
  return rates[line] ?? 0n;
}

/**
 * What a usage needs that a rate set does not price: the first media bucket with tokens and
 * no rate, or the first unit without a price. Undefined when every used bucket and unit is priced.
 */
export function missingRate(usage: UsageToPrice, rates: RateSet): string | undefined {
  for (const line of ['audio_input', 'audio_output', 'image_input', 'image_output'] as const) {
    if (rates[line] === null && tokens(usage, line) > 0) return `${line} (${tokens(usage, line)} ${bucketOfLine[line]})`;
  }
  for (const [name, count] of Object.entries(usage.units ?? NO_UNITS)) {
    if (count > 0 && !rates.units.has(name)) return `units.${name} (${count})`;
  }
  return undefined;
}

/** Per-unit lines (count * price), names sorted; units of count 0 are left out. */
function unitLinesOf(usage: UsageToPrice, rates: RateSet): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  const names = Object.keys(usage.units ?? NO_UNITS).sort();
  for (const name of names) {
    const count = usage.units![name]!;
    if (count > 0) out[name] = BigInt(count) * (rates.units.get(name) ?? 0n);
  }
  return out;
}

/** Multiplies tokens and units by rates: exact, no rounding. */
export function priceLines(usage: UsageToPrice, rates: RateSet): { lines: PriceLines; unitLines: Record<string, bigint>; cacheSavings: bigint } {
  const unitLines = unitLinesOf(usage, rates);
  let units = 0n;
  for (const name in unitLines) units += unitLines[name]!;
  const lines = { units, request: rates.request } as Record<LineName, bigint>;
  for (const line of tokenLineNames) lines[line] = BigInt(tokens(usage, line)) * rateOf(rates, line);
  const cached = BigInt(usage.cache_read_tokens) + BigInt(usage.cache_write_tokens) + BigInt(usage.cache_write_1h_tokens ?? 0);
  const cacheSavings = cached * rates.input - lines.cache_read - lines.cache_write - lines.cache_write_1h;
  return { lines, unitLines, cacheSavings };
}

export function sumLines(lines: PriceLines): bigint {
  let total = 0n;
  for (const line of lineNames) total += lines[line];
  return total;
}

/** The rates that apply to one usage: which version, tier and threshold, before any arithmetic. */
export interface ResolvedRates {
  priced: true;
  priceVersionId: string;
  provider: string;
  model: string;
  matchedBy: MatchKind;
  tier: string | null;
  rates: RateSet;
  /** The prompt-size threshold that switched the rates, null for the plan's base rates. */
  above: number | null;
}

/**
 * Finds the rates a catalog applies to a usage, or why none apply. The usage must already have
 * passed {@link checkUsage}.
 */
export function resolveRates(catalog: Catalog, usage: UsageToPrice): ResolvedRates | Unpriced {
  const match = findEntry(catalog, usage.provider, usage.model);
  if (match === undefined) {
    return { priced: false, reason: 'unknown_model', message: `${catalog.source} has no price for ${usage.provider}/${usage.model}` };
  }
  const version = versionAt(match.entry, usage.occurred_at);
  if (version === undefined) {
    const first = match.entry.versions[0];
    return {
      priced: false,
      reason: 'no_price_in_effect',
      message: `${catalog.source}: no price for ${match.entry.provider}/${match.entry.model} was in effect at ${new Date(usage.occurred_at).toISOString()}${
        first === undefined ? '' : ` (the first starts ${new Date(first.effectiveFrom).toISOString()})`
      }`,
    };
  }
  const tier = normaliseTier(usage.tier);
  const plan = tier === null ? version.standard : version.tiers.get(tier);
  if (plan === undefined) {
    const known = [...version.tiers.keys()];
    return {
      priced: false,
      reason: 'unknown_tier',
      message: `${version.priceVersionId} has no tier ${JSON.stringify(tier)}${tier === usage.tier ? '' : ` (the event's ${JSON.stringify(usage.tier)})`} (tiers: ${known.length === 0 ? 'none' : known.join(', ')})`,
    };
  }
  const { rates, above } = ratesFor(plan, promptTokens(usage));
  const missing = missingRate(usage, rates);
  if (missing !== undefined) {
    return { priced: false, reason: 'no_rate', message: `${version.priceVersionId}${tier === null ? '' : ` tier ${tier}`} has no price for ${missing}` };
  }
  return { priced: true, priceVersionId: version.priceVersionId, provider: match.entry.provider, model: match.entry.model, matchedBy: match.matchedBy, tier, rates, above };
}

/** Multiplies out resolved rates into priced lines. */
export function pricedUsage(resolved: ResolvedRates, usage: UsageToPrice): PricedUsage {
  const { lines, unitLines, cacheSavings } = priceLines(usage, resolved.rates);
  return {
    priced: true,
    priceVersionId: resolved.priceVersionId,
    provider: resolved.provider,
    model: resolved.model,
    matchedBy: resolved.matchedBy,
    thresholdApplied: resolved.above !== null,
    thresholdAbovePromptTokens: resolved.above,
    tier: resolved.tier,
    lines,
    unitLines,
    total: sumLines(lines),
    cacheSavings,
  };
}

/** The token rates of a rate set as doubles (tokenLineNames order), or null when one is past 2^53 (then only BigInt is exact). */
const numericRatesOf = new WeakMap<RateSet, readonly number[] | null>();
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function numericRates(rates: RateSet): readonly number[] | null {
  let numeric = numericRatesOf.get(rates);
  if (numeric === undefined) {
    const all = [...tokenLineNames.map((line) => rateOf(rates, line)), rates.request];
    numeric = all.every((rate) => rate >= 0n && rate <= MAX_SAFE) ? all.map(Number) : null;
    numericRatesOf.set(rates, numeric);
  }
  return numeric;
}

/**
 * The line amounts of {@link priceLines} as doubles: the ten token lines (tokenLineNames order),
 * the request fee, then one line per unit (names sorted), or null when one of them or their sum
 * would pass 2^53 - 1. Exact when not null: a product of integers whose true value is at most
 * 2^53 - 1 is computed exactly, and one that is larger rounds to at least 2^53 and is caught by
 * the bound on the sum.
 */
export function numericLines(usage: UsageToPrice, rates: RateSet): number[] | null {
  const n = numericRates(rates);
  if (n === null) return null;
  const lines = [
    usage.input_tokens * n[0]!,
    usage.cache_read_tokens * n[1]!,
    usage.cache_write_tokens * n[2]!,
    (usage.cache_write_1h_tokens ?? 0) * n[3]!,
    usage.output_tokens * n[4]!,
    usage.reasoning_tokens * n[5]!,
    (usage.audio_input_tokens ?? 0) * n[6]!,
    (usage.audio_output_tokens ?? 0) * n[7]!,
    (usage.image_input_tokens ?? 0) * n[8]!,
    (usage.image_output_tokens ?? 0) * n[9]!,
    n[10]!,
  ];
  let sum = 0;
  for (const line of lines) sum += line;
  if (usage.units !== undefined) {
    for (const name of Object.keys(usage.units).sort()) {
      const count = usage.units[name]!;
      if (count === 0) continue;
      const price = rates.units.get(name) ?? 0n;
      if (price > MAX_SAFE) return null;
      const line = count * Number(price);
      lines.push(line);
      sum += line;
    }
  }
  return sum <= Number.MAX_SAFE_INTEGER ? lines : null;
}

/**
 * The total and cache savings of {@link priceLines}, without building the lines: the stream's
 * per-event path. In doubles while exact (see {@link numericLines}), else in BigInt.
 */
export function priceTotals(usage: UsageToPrice, rates: RateSet): { total: bigint; cacheSavings: bigint } {
  const lines = numericLines(usage, rates);
  if (lines !== null) {
    const cachedAtInput = (usage.cache_read_tokens + usage.cache_write_tokens + (usage.cache_write_1h_tokens ?? 0)) * numericRates(rates)![0]!;
    if (cachedAtInput <= Number.MAX_SAFE_INTEGER) {
      let total = 0;
      for (const line of lines) total += line;
      return { total: BigInt(total), cacheSavings: BigInt(cachedAtInput - lines[1]! - lines[2]! - lines[3]!) };
    }
  }
  const { lines: exact, cacheSavings } = priceLines(usage, rates);
  return { total: sumLines(exact), cacheSavings };
}

/**
 * Prices one event against a catalog. Exact: every line is `tokens * rate` in pico-USD, nothing
 * is rounded. An unknown model, a model with no version in effect at `occurred_at`, or a tier the
 * version does not define yields `{ priced: false }` with the reason, never a zero price.
 * Throws {@link PricingInputError} when the usage itself is invalid.
 */
export function priceUsage(catalog: Catalog, usage: UsageToPrice): PricedUsage | Unpriced {
  checkUsage(usage);
  const resolved = resolveRates(catalog, usage);
  return resolved.priced ? pricedUsage(resolved, usage) : resolved;
}
