import type { TokenBucket } from '../usage-event/usage-event';
import { STANDARD_TIER_NAMES, type Catalog, type PricePlan, type RateSet } from './catalog';
import { findEntry, versionAt, type MatchKind } from './resolve';

/** What is priced: an event's identity, time, tier and disjoint token buckets. */
export interface UsageToPrice {
  provider: string;
  model: string;
  /** Event time, epoch ms: decides which price version applies. */
  occurred_at: number;
  /** Service tier the provider ran the request in (`batch`, `flex`, `priority`); absent, null,
   * `standard` or `default` mean the base prices. */
  tier?: string | null;
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
}

export type LineName = 'input' | 'cache_read' | 'cache_write' | 'output' | 'reasoning' | 'request';
export const lineNames: readonly LineName[] = ['input', 'cache_read', 'cache_write', 'output', 'reasoning', 'request'];

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
  total: bigint;
  /**
   * What the cache_read and cache_write tokens would have cost at the (applied) uncached input
   * rate, minus what they cost. Negative when cache writes cost more than they saved.
   */
  cacheSavings: bigint;
}

export type UnpricedReason = 'unknown_model' | 'no_price_in_effect' | 'unknown_tier';

export interface Unpriced {
  priced: false;
  reason: UnpricedReason;
  message: string;
}

/** The usage to price is itself invalid (negative or fractional tokens, bad time). A bug upstream. */
export class PricingInputError extends Error {
  readonly code = 'PRICING_INPUT_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'PricingInputError';
  }
}

const bucketOfLine = {
  input: 'input_tokens',
  cache_read: 'cache_read_tokens',
  cache_write: 'cache_write_tokens',
  output: 'output_tokens',
  reasoning: 'reasoning_tokens',
} as const satisfies Record<Exclude<LineName, 'request'>, TokenBucket>;

const tokenBuckets: readonly (typeof bucketOfLine)[keyof typeof bucketOfLine][] = Object.values(bucketOfLine);

export function checkUsage(usage: UsageToPrice): void {
  for (const bucket of tokenBuckets) {
    const value = usage[bucket];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new PricingInputError(`${bucket} must be a non-negative integer, got ${String(value)}`);
    }
  }
  if (typeof usage.occurred_at !== 'number' || !Number.isSafeInteger(usage.occurred_at)) {
    throw new PricingInputError(`occurred_at must be integer epoch milliseconds, got ${String(usage.occurred_at)}`);
  }
}

/** Input + cache_read + cache_write: the size of the prompt, which thresholds are measured on. */
export function promptTokens(usage: Pick<UsageToPrice, 'input_tokens' | 'cache_read_tokens' | 'cache_write_tokens'>): number {
  return usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
}

/** Normalises a tier name: null for the base prices. */
export function normaliseTier(tier: string | null | undefined): string | null {
  if (tier === undefined || tier === null || tier === '' || STANDARD_TIER_NAMES.includes(tier)) return null;
  return tier;
}

/** The rates a plan charges for a prompt of `prompt` tokens: the highest threshold crossed, else the base. */
export function ratesFor(plan: PricePlan, prompt: number): { rates: RateSet; above: number | null } {
  for (let i = plan.thresholds.length - 1; i >= 0; i--) {
    const threshold = plan.thresholds[i];
    if (threshold !== undefined && prompt > threshold.abovePromptTokens) return { rates: threshold.rates, above: threshold.abovePromptTokens };
  }
  return { rates: plan.rates, above: null };
}

/** Multiplies tokens by rates: exact, no rounding. */
export function priceLines(usage: UsageToPrice, rates: RateSet): { lines: PriceLines; cacheSavings: bigint } {
  const lines: PriceLines = {
    input: BigInt(usage.input_tokens) * rates.input,
    cache_read: BigInt(usage.cache_read_tokens) * rates.cache_read,
    cache_write: BigInt(usage.cache_write_tokens) * rates.cache_write,
    output: BigInt(usage.output_tokens) * rates.output,
    reasoning: BigInt(usage.reasoning_tokens) * rates.reasoning,
    request: rates.request,
  };
  const cached = BigInt(usage.cache_read_tokens) + BigInt(usage.cache_write_tokens);
  const cacheSavings = cached * rates.input - lines.cache_read - lines.cache_write;
  return { lines, cacheSavings };
}

export function sumLines(lines: PriceLines): bigint {
  return lines.input + lines.cache_read + lines.cache_write + lines.output + lines.reasoning + lines.request;
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
      message: `${version.priceVersionId} has no tier ${JSON.stringify(tier)} (tiers: ${known.length === 0 ? 'none' : known.join(', ')})`,
    };
  }
  const { rates, above } = ratesFor(plan, promptTokens(usage));
  return { priced: true, priceVersionId: version.priceVersionId, provider: match.entry.provider, model: match.entry.model, matchedBy: match.matchedBy, tier, rates, above };
}

/** Multiplies out resolved rates into priced lines. */
export function pricedUsage(resolved: ResolvedRates, usage: UsageToPrice): PricedUsage {
  const { lines, cacheSavings } = priceLines(usage, resolved.rates);
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
    total: sumLines(lines),
    cacheSavings,
  };
}

/** A rate set as doubles, or null when a rate is past 2^53 (then only BigInt is exact). */
type NumericRates = readonly [input: number, cacheRead: number, cacheWrite: number, output: number, reasoning: number, request: number];
const numericRatesOf = new WeakMap<RateSet, NumericRates | null>();

function numericRates(rates: RateSet): NumericRates | null {
  let numeric = numericRatesOf.get(rates);
  if (numeric === undefined) {
    const all = [rates.input, rates.cache_read, rates.cache_write, rates.output, rates.reasoning, rates.request] as const;
    numeric = all.every((rate) => rate >= 0n && rate <= BigInt(Number.MAX_SAFE_INTEGER)) ? (all.map(Number) as unknown as NumericRates) : null;
    numericRatesOf.set(rates, numeric);
  }
  return numeric;
}

/**
 * The six line amounts of {@link priceLines} as doubles (input, cache_read, cache_write, output,
 * reasoning, request), or null when one of them or their sum would pass 2^53 - 1. Exact when not
 * null: a product of integers whose true value is at most 2^53 - 1 is computed exactly, and one
 * that is larger rounds to at least 2^53 and is caught by the bound on the sum.
 */
export function numericLines(usage: UsageToPrice, rates: RateSet): number[] | null {
  const n = numericRates(rates);
  if (n === null) return null;
  const lines = [
    usage.input_tokens * n[0],
    usage.cache_read_tokens * n[1],
    usage.cache_write_tokens * n[2],
    usage.output_tokens * n[3],
    usage.reasoning_tokens * n[4],
    n[5],
  ];
  return lines[0]! + lines[1]! + lines[2]! + lines[3]! + lines[4]! + lines[5]! <= Number.MAX_SAFE_INTEGER ? lines : null;
}

/**
 * The total and cache savings of {@link priceLines}, without building the lines: the stream's
 * per-event path. In doubles while exact (see {@link numericLines}), else in BigInt.
 */
export function priceTotals(usage: UsageToPrice, rates: RateSet): { total: bigint; cacheSavings: bigint } {
  const lines = numericLines(usage, rates);
  if (lines !== null) {
    const cachedAtInput = (usage.cache_read_tokens + usage.cache_write_tokens) * numericRates(rates)![0];
    if (cachedAtInput <= Number.MAX_SAFE_INTEGER) {
      const [input, cacheRead, cacheWrite, output, reasoning, request] = lines as [number, number, number, number, number, number];
      return { total: BigInt(input + cacheRead + cacheWrite + output + reasoning + request), cacheSavings: BigInt(cachedAtInput - cacheRead - cacheWrite) };
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
