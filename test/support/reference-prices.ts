import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UsageEvent } from '@meterline/domain';

/**
 * An independent price reference for the tests: reads the price files as plain JSON and prices
 * events with its own arithmetic (it shares no code with libs/domain/src/pricing). It covers
 * what the generated traffic uses: exact names and aliases, effective dating, prompt-size
 * thresholds, tenant prices, markup and discount; no tiers or match patterns.
 */
interface Prices { input: string; cache_read?: string; cache_write?: string; output: string; reasoning?: string; request?: string }
interface Version { effective_from: string; label?: string; prices: Prices; thresholds?: { above_prompt_tokens: number; prices: Prices }[] }
interface Model { provider: string; model: string; aliases?: string[]; versions: Version[] }
interface Book { models: Model[] }
interface Override { tenant_id: string; discount_percent?: string; markup_percent?: string; model_prices?: Model[] }

/** "2.50" -> 2.50 x 10^scale as a bigint (plain decimals only: the test's files are plain). */
function scaled(text: string, scale: number): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new Error(`reference pricer: not a plain decimal: ${text}`);
  const fraction = (match[2] ?? '').padEnd(scale, '0');
  if (fraction.length > scale) throw new Error(`reference pricer: ${text} has more than ${scale} decimals`);
  return BigInt(match[1]! + fraction);
}

/** Pico-USD per token from USD per 1M tokens: x 10^12 / 10^6. */
const perToken = (usdPerMillion: string): bigint => scaled(usdPerMillion, 6);

type Lines = [input: bigint, cacheRead: bigint, cacheWrite: bigint, output: bigint, reasoning: bigint, request: bigint];

/**
 * The id a version is recorded under: `[tenant:<id>/]provider/model@label`, the label defaulting
 * to the effective date (`2025-06-10`), or the whole instant when it is not a UTC midnight.
 */
function versionId(prefix: string, model: Model, version: Version): string {
  const from = new Date(Date.parse(version.effective_from)).toISOString();
  const label = version.label ?? (from.endsWith('T00:00:00.000Z') ? from.slice(0, 10) : from);
  return `${prefix}${model.provider}/${model.model}@${label}`;
}

function priceWith(book: Book, e: UsageEvent, prefix = ''): { lines: Lines; savings: bigint; version: string; key: string } | null {
  const model = book.models.find((m) => m.provider === e.provider && m.model === e.model) ?? book.models.find((m) => m.provider === e.provider && (m.aliases ?? []).includes(e.model));
  if (!model) return null;
  const version = [...model.versions].sort((a, b) => Date.parse(a.effective_from) - Date.parse(b.effective_from)).filter((v) => Date.parse(v.effective_from) <= e.occurred_at).pop();
  if (!version) return null;
  const prompt = e.input_tokens + e.cache_read_tokens + e.cache_write_tokens;
  const crossed = (version.thresholds ?? []).filter((t) => prompt > t.above_prompt_tokens).sort((a, b) => a.above_prompt_tokens - b.above_prompt_tokens).pop();
  const p = crossed ? crossed.prices : version.prices;
  const input = perToken(p.input);
  const rates = [input, perToken(p.cache_read ?? p.input), perToken(p.cache_write ?? p.input), perToken(p.output), perToken(p.reasoning ?? p.output)];
  const tokens = [e.input_tokens, e.cache_read_tokens, e.cache_write_tokens, e.output_tokens, e.reasoning_tokens].map(BigInt);
  const lines = [...tokens.map((t, i) => t * rates[i]!), scaled(p.request ?? '0', 12)] as Lines;
  const savings = (tokens[1]! + tokens[2]!) * input - lines[1] - lines[2];
  // `key`: which price this is, the version and the threshold crossed (an invoice line each).
  return { lines, savings, version: versionId(prefix, model, version), key: `${versionId(prefix, model, version)}>${crossed?.above_prompt_tokens ?? ''}` };
}

/** round(n / d), half to even; d > 0. */
function halfEven(n: bigint, d: bigint): bigint {
  const q = n / d;
  const r = n - q * d;
  const twice = 2n * (r < 0n ? -r : r);
  if (twice < d) return q;
  const away = n < 0n ? q - 1n : q + 1n;
  if (twice > d) return away;
  return q % 2n === 0n ? q : away;
}

/** A side is null when unpriced; its version is then null too. */
export interface ReferenceMoney { cost: bigint | null; charge: bigint | null; savings: bigint; costVersion: string | null; chargeVersion: string | null }

export class ReferencePrices {
  readonly #cost: Book;
  readonly #card: Book;
  readonly #overrides: Map<string, Override>;

  constructor(dir: string) {
    const read = <T>(name: string): T => JSON.parse(readFileSync(join(dir, name), 'utf8')) as T;
    this.#cost = read<Book>('catalog/provider-costs.json');
    this.#card = read<Book>('catalog/rate-card.json');
    this.#overrides = new Map(read<{ tenants: Override[] }>('tenants/overrides.json').tenants.map((t) => [t.tenant_id, t]));
  }

  price(e: UsageEvent): ReferenceMoney {
    const cost = priceWith(this.#cost, e);
    const charged = this.chargeLines(e);
    return {
      cost: cost ? cost.lines.reduce((a, b) => a + b, 0n) : null,
      charge: charged ? charged.lines.reduce((a, b) => a + b, 0n) : null,
      savings: cost?.savings ?? 0n,
      costVersion: cost?.version ?? null,
      chargeVersion: charged?.version ?? null,
    };
  }

  /**
   * The customer charge of one event per line (input, cache read, cache write, output, reasoning,
   * request), pico-USD, the price version used and which price it was (`key`, with the book);
   * null: unpriced.
   */
  chargeLines(e: UsageEvent): { key: string; version: string; lines: bigint[] } | null {
    const cost = priceWith(this.#cost, e);
    const override = this.#overrides.get(e.tenant_id);
    // Charge: the tenant's own price, else the rate card, else cost plus markup; then the discount.
    let base = override?.model_prices ? priceWith({ models: override.model_prices }, e, `tenant:${e.tenant_id}/`) : null;
    let book = 'tenant';
    let markup: string | undefined;
    if (!base) {
      base = priceWith(this.#card, e);
      book = 'card';
    }
    if (!base && override?.markup_percent !== undefined && cost) {
      base = cost;
      book = 'cost';
      markup = override.markup_percent;
    }
    if (!base) return null;
    // One exact factor, (100 + markup)/100 x (100 - discount)/100, one half-even rounding per line.
    let numerator = 1n;
    let denominator = 1n;
    for (const [text, sign] of [[markup, 1n], [override?.discount_percent, -1n]] as const) {
      if (text === undefined) continue;
      const decimals = text.split('.')[1]?.length ?? 0;
      const hundred = 100n * 10n ** BigInt(decimals);
      numerator *= hundred + sign * scaled(text, decimals);
      denominator *= hundred;
    }
    return { key: `${book}:${base.key}`, version: base.version, lines: base.lines.map((line) => halfEven(line * numerator, denominator)) };
  }
}

export { halfEven };
