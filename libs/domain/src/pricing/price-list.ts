import type { Catalog, CatalogEntry, PricePlan, PriceVersion, RateSet } from './catalog';
import type { PriceBooks } from './event-money';
import { formatScaled } from './money';
import { findEntry, versionAt } from './resolve';

/**
 * The price books as a list people and programs read (`GET /v1/prices`): every catalog entry with
 * its effective-dated versions and their ids, each rate an exact decimal string. Token rates are
 * USD per 1M tokens (what the files write; a rate is a whole number of pico-USD per token, so at
 * most 6 decimals), the request fee USD per request. Never a float.
 */

export const priceBookKinds = ['cost', 'rate_card', 'tenant'] as const;
/** `cost`: what the providers charge the platform; `rate_card`: what tenants are charged by default; `tenant`: a tenant's own prices. */
export type PriceBookKind = (typeof priceBookKinds)[number];

export interface ListedRates {
  /** Media rates only when the plan prices them (usage with such tokens is unpriced otherwise). */
  usd_per_1m_tokens: {
    input: string; cache_read: string; cache_write: string; cache_write_1h: string; output: string; reasoning: string;
    audio_input?: string; audio_output?: string; image_input?: string; image_output?: string;
  };
  usd_per_request: string;
  /** USD per unit of per-request priced work (web_search, ...), names sorted. */
  usd_per_unit: Record<string, string>;
}

export interface ListedThreshold {
  above_prompt_tokens: number;
  rates: ListedRates;
}

export interface ListedVersion {
  price_version_id: string;
  /** ISO 8601 instant (UTC): in force from it (inclusive) ... */
  effective_from: string;
  /** ... to the next version's `effective_from` (exclusive); null: still in force. */
  effective_to: string | null;
  rates: ListedRates;
  thresholds: ListedThreshold[];
  tiers: { tier: string; rates: ListedRates; thresholds: ListedThreshold[] }[];
}

export interface ListedPriceEntry {
  book: PriceBookKind;
  /** The tenant of `tenant` prices; null for the shared books. */
  tenant_id: string | null;
  provider: string;
  model: string;
  aliases: string[];
  match: string[];
  versions: ListedVersion[];
}

/** A tenant's discount and markup (the overrides file): they apply on top of the prices listed. */
export interface ListedTenantTerms {
  tenant_id: string;
  discount_percent: string | null;
  markup_percent: string | null;
}

export interface PriceListQuery {
  provider?: string | undefined;
  /** A model name as events write it: the entry that prices it (exact name, alias or pattern, as pricing resolves it). */
  model?: string | undefined;
  /** Epoch ms: only the version in force then (entries with none in force are left out). */
  at?: number | undefined;
  book?: PriceBookKind | undefined;
  /** Tenant prices and terms of this tenant only; undefined: every tenant's (for callers bound to none). */
  tenant?: string | undefined;
}

export interface PriceList {
  /** The books' id (a hash of the files): changes when a file does. */
  books_id: string;
  entries: ListedPriceEntry[];
  tenants: ListedTenantTerms[];
}

const PER_MILLION_SCALE = 6; // pico-USD per token -> USD per 1M tokens
const PER_REQUEST_SCALE = 12; // pico-USD -> USD

function listRates(rates: RateSet): ListedRates {
  const perMillion = (pico: bigint): string => formatScaled(pico, PER_MILLION_SCALE);
  const tokens: ListedRates['usd_per_1m_tokens'] = {
    input: perMillion(rates.input), cache_read: perMillion(rates.cache_read), cache_write: perMillion(rates.cache_write), cache_write_1h: perMillion(rates.cache_write_1h),
    output: perMillion(rates.output), reasoning: perMillion(rates.reasoning),
  };
  for (const media of ['audio_input', 'audio_output', 'image_input', 'image_output'] as const) {
    const rate = rates[media];
    if (rate !== null) tokens[media] = perMillion(rate);
  }
  return {
    usd_per_1m_tokens: tokens,
    usd_per_request: formatScaled(rates.request, PER_REQUEST_SCALE),
    usd_per_unit: Object.fromEntries([...rates.units].map(([name, pico]) => [name, formatScaled(pico, PER_REQUEST_SCALE)])),
  };
}

function listThresholds(plan: PricePlan): ListedThreshold[] {
  return plan.thresholds.map((t) => ({ above_prompt_tokens: t.abovePromptTokens, rates: listRates(t.rates) }));
}

function listVersion(version: PriceVersion, next: PriceVersion | undefined): ListedVersion {
  return {
    price_version_id: version.priceVersionId,
    effective_from: new Date(version.effectiveFrom).toISOString(),
    effective_to: next === undefined ? null : new Date(next.effectiveFrom).toISOString(),
    rates: listRates(version.standard.rates),
    thresholds: listThresholds(version.standard),
    tiers: [...version.tiers.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([tier, plan]) => ({ tier, rates: listRates(plan.rates), thresholds: listThresholds(plan) })),
  };
}

function listEntries(catalog: Catalog, book: PriceBookKind, tenantId: string | null, query: PriceListQuery): ListedPriceEntry[] {
  const out: ListedPriceEntry[] = [];
  for (const entry of catalog.entries) {
    if (query.provider !== undefined && entry.provider !== query.provider) continue;
    if (query.model !== undefined && findEntry(catalog, entry.provider, query.model)?.entry !== entry) continue;
    const versions = selectVersions(entry, query.at);
    if (versions.length === 0) continue;
    out.push({ book, tenant_id: tenantId, provider: entry.provider, model: entry.model, aliases: [...entry.aliases], match: [...entry.match], versions });
  }
  return out;
}

/** Every version (each ended by the next), or only the one in force at `at`. */
function selectVersions(entry: CatalogEntry, at: number | undefined): ListedVersion[] {
  const all = entry.versions.map((v, i) => listVersion(v, entry.versions[i + 1]));
  if (at === undefined) return all;
  const inForce = versionAt(entry, at);
  return all.filter((v) => v.price_version_id === inForce?.priceVersionId);
}

/**
 * The prices of `books` that `query` selects: the cost book, then the rate card, then the tenants'
 * own prices by tenant id, each in file order.
 */
export function listPrices(books: PriceBooks, query: PriceListQuery = {}): PriceList {
  const wanted = (book: PriceBookKind): boolean => query.book === undefined || query.book === book;
  const entries: ListedPriceEntry[] = [];
  if (wanted('cost')) entries.push(...listEntries(books.costBook, 'cost', null, query));
  if (wanted('rate_card')) entries.push(...listEntries(books.rateCard, 'rate_card', null, query));
  const tenants = [...(books.overrides?.tenants.values() ?? [])]
    .filter((t) => query.tenant === undefined || t.tenantId === query.tenant)
    .sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
  if (wanted('tenant')) {
    for (const t of tenants) if (t.modelPrices !== null) entries.push(...listEntries(t.modelPrices, 'tenant', t.tenantId, query));
  }
  return {
    books_id: books.id,
    entries,
    tenants: tenants.map((t) => ({ tenant_id: t.tenantId, discount_percent: t.discountPercent?.text ?? null, markup_percent: t.markupPercent?.text ?? null })),
  };
}
