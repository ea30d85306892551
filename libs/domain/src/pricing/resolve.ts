import type { Catalog, CatalogEntry, PriceVersion } from './catalog';

/** How a model name found its catalog entry. */
export type MatchKind = 'model' | 'alias' | 'pattern';

export interface EntryMatch {
  entry: CatalogEntry;
  matchedBy: MatchKind;
  /** The pattern that matched, when `matchedBy` is `pattern`. */
  pattern: string | null;
}

export interface ResolvedPrice extends EntryMatch {
  version: PriceVersion;
}

interface CompiledPattern {
  pattern: string;
  regex: RegExp;
  /** Characters other than `*`: the more, the more specific. */
  literalLength: number;
  order: number;
  entry: CatalogEntry;
}

interface ProviderIndex {
  exact: Map<string, CatalogEntry>;
  alias: Map<string, CatalogEntry>;
  /** Most specific first. */
  patterns: CompiledPattern[];
}

const indexes = new WeakMap<Catalog, Map<string, ProviderIndex>>();

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles a glob (`*` = any run of characters, everything else literal) to an anchored regex. */
export function globToRegex(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map(escapeRegex).join('.*')}$`, 's');
}

function buildIndex(catalog: Catalog): Map<string, ProviderIndex> {
  const byProvider = new Map<string, ProviderIndex>();
  let order = 0;
  for (const entry of catalog.entries) {
    let index = byProvider.get(entry.provider);
    if (index === undefined) {
      index = { exact: new Map(), alias: new Map(), patterns: [] };
      byProvider.set(entry.provider, index);
    }
    // First entry wins on a clash; parseCatalog rejects clashes, hand-built catalogs may not.
    if (!index.exact.has(entry.model)) index.exact.set(entry.model, entry);
    for (const alias of entry.aliases) if (!index.alias.has(alias)) index.alias.set(alias, entry);
    for (const pattern of entry.match) {
      index.patterns.push({ pattern, regex: globToRegex(pattern), literalLength: pattern.replaceAll('*', '').length, order: order++, entry });
    }
  }
  for (const index of byProvider.values()) {
    index.patterns.sort((a, b) => b.literalLength - a.literalLength || b.pattern.length - a.pattern.length || a.order - b.order);
  }
  return byProvider;
}

function indexOf(catalog: Catalog): Map<string, ProviderIndex> {
  let index = indexes.get(catalog);
  if (index === undefined) {
    index = buildIndex(catalog);
    indexes.set(catalog, index);
  }
  return index;
}

/**
 * Finds the catalog entry for a model: the exact model name first, then an alias, then the most
 * specific matching pattern (most literal characters; then the longest pattern; then the first
 * in the file). Provider and model names are compared exactly.
 */
export function findEntry(catalog: Catalog, provider: string, model: string): EntryMatch | undefined {
  const index = indexOf(catalog).get(provider);
  if (index === undefined) return undefined;
  const exact = index.exact.get(model);
  if (exact !== undefined) return { entry: exact, matchedBy: 'model', pattern: null };
  const alias = index.alias.get(model);
  if (alias !== undefined) return { entry: alias, matchedBy: 'alias', pattern: null };
  for (const p of index.patterns) {
    if (p.regex.test(model)) return { entry: p.entry, matchedBy: 'pattern', pattern: p.pattern };
  }
  return undefined;
}

/** The version in effect at `occurredAt` (epoch ms): the latest with `effectiveFrom <= occurredAt`. */
export function versionAt(entry: CatalogEntry, occurredAt: number): PriceVersion | undefined {
  let found: PriceVersion | undefined;
  for (const version of entry.versions) {
    if (version.effectiveFrom <= occurredAt) found = version;
    else break;
  }
  return found;
}

/**
 * The price of `provider`/`model` for an event at `occurredAt` (epoch ms), or undefined when the
 * catalog has no entry for the model or no version of it was in effect yet.
 */
export function resolvePrice(catalog: Catalog, provider: string, model: string, occurredAt: number): ResolvedPrice | undefined {
  const match = findEntry(catalog, provider, model);
  if (match === undefined) return undefined;
  const version = versionAt(match.entry, occurredAt);
  if (version === undefined) return undefined;
  return { ...match, version };
}
