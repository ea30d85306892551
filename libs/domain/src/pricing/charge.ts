import { z } from 'zod';
import { buildEntries, CatalogError, ProblemCollector, type Catalog } from './catalog';
import { DecimalError, parseExactDecimal, roundHalfEven, roundHalfEvenSafe } from './money';
import { checkUsage, lineNames, numericLines, priceTotals, priceUsage, pricedUsage, resolveRates, sumLines, type LineName, type PricedUsage, type PriceLines, type ResolvedRates, type Unpriced, type UsageToPrice } from './price';

/**
 * Charging customers: the rate card (a catalog of customer prices) plus per-tenant overrides,
 * with the provider cost book as the base for cost-plus tenants.
 *
 * Rounding: a percentage (discount, markup, or both) is applied per line as one exact fraction
 * and rounded once, half-even, to the pico-USD:
 *   line' = roundHalfEven(line * (100*10^k + markup) * (100*10^j - discount), (100*10^k) * (100*10^j))
 * where markup and discount are the percentages scaled by 10^k and 10^j. That is the only
 * rounding before an invoice (one per line per event, to the pico); the invoice rounds its total
 * to cents once, with `toMinorUnits`.
 */

export const TENANT_OVERRIDES_FORMAT = 'meterline.tenant-overrides/v1';

/** A percentage held exactly: `units / 10^scale` percent. `text` is what the file said. */
export interface Percent {
  readonly text: string;
  readonly units: bigint;
  readonly scale: number;
}

export interface TenantOverride {
  readonly tenantId: string;
  /** Taken off every charge of the tenant (custom prices, rate card, cost plus markup). 0..100. */
  readonly discountPercent: Percent | null;
  /** Charge = provider cost * (1 + markup) for models the rate card does not price. >= 0. */
  readonly markupPercent: Percent | null;
  /** The tenant's own prices for some models, in the catalog format; they come first. */
  readonly modelPrices: Catalog | null;
}

export interface TenantOverrides {
  readonly source: string;
  readonly tenants: ReadonlyMap<string, TenantOverride>;
}

const tenantDocumentSchema = z.strictObject({
  tenant_id: z.string().min(1),
  discount_percent: z.string().optional(),
  markup_percent: z.string().optional(),
  notes: z.string().optional(),
  model_prices: z.array(z.unknown()).optional(),
});

const overridesRootSchema = z.strictObject({
  format: z.literal(TENANT_OVERRIDES_FORMAT),
  description: z.string().optional(),
  tenants: z.array(z.unknown()),
});

export type TenantOverrideDocument = z.infer<typeof tenantDocumentSchema>;

function parsePercent(text: string, field: string, entry: string, max: bigint | null, collector: ProblemCollector): Percent | null | undefined {
  try {
    const { units, scale } = parseExactDecimal(text);
    const hundred = 100n * 10n ** BigInt(scale);
    if (units < 0n) {
      collector.add(entry, field, 'percent_range', `${JSON.stringify(text)} is negative; write a percentage of 0 or more`);
      return undefined;
    }
    if (max !== null && units * 100n > max * hundred) {
      collector.add(entry, field, 'percent_range', `${JSON.stringify(text)} is over ${max}%`);
      return undefined;
    }
    return { text, units, scale };
  } catch (error) {
    const detail = error instanceof DecimalError ? error.message : String(error);
    collector.add(entry, field, 'decimal', `${detail}; percentages are decimal strings such as "12.5"`);
    return undefined;
  }
}

/**
 * Validates the tenant overrides file (`meterline.tenant-overrides/v1`). Custom model prices use
 * the catalog format; their price version ids are prefixed `tenant:<tenant_id>/`. Throws a
 * {@link CatalogError} listing every problem.
 */
export function parseTenantOverrides(json: unknown, source: string): TenantOverrides {
  const collector = new ProblemCollector(source);
  const root = overridesRootSchema.safeParse(json);
  if (!root.success) {
    collector.addIssues('(overrides)', '', root.error.issues);
    throw new CatalogError(source, collector.problems);
  }
  const tenants = new Map<string, TenantOverride>();
  const seen = new Set<string>();
  root.data.tenants.forEach((raw, i) => {
    const rawId = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).tenant_id : undefined;
    const entry = typeof rawId === 'string' && rawId.length > 0 ? `tenant ${rawId}` : `tenants[${i}]`;
    const parsed = tenantDocumentSchema.safeParse(raw);
    if (!parsed.success) {
      collector.addIssues(entry, '', parsed.error.issues);
      return;
    }
    const doc = parsed.data;
    const before = collector.problems.length;
    if (seen.has(doc.tenant_id)) {
      collector.add(entry, 'tenant_id', 'duplicate_tenant', `tenant ${JSON.stringify(doc.tenant_id)} is listed twice`);
    }
    seen.add(doc.tenant_id);
    const discount = doc.discount_percent === undefined ? null : parsePercent(doc.discount_percent, 'discount_percent', entry, 100n, collector);
    const markup = doc.markup_percent === undefined ? null : parsePercent(doc.markup_percent, 'markup_percent', entry, null, collector);
    let modelPrices: Catalog | null = null;
    if (doc.model_prices !== undefined) {
      const entries = buildEntries(doc.model_prices, {
        collector,
        idPrefix: `tenant:${doc.tenant_id}/`,
        basePath: `tenants[${i}].model_prices`,
        entryPrefix: `${entry}: `,
      });
      modelPrices = { source: `${source} (tenant ${doc.tenant_id})`, entries };
    }
    if (collector.problems.length > before || discount === undefined || markup === undefined) return;
    tenants.set(doc.tenant_id, { tenantId: doc.tenant_id, discountPercent: discount, markupPercent: markup, modelPrices });
  });
  if (collector.problems.length > 0) throw new CatalogError(source, collector.problems);
  return { source, tenants };
}

/** An exact multiplier `numerator / denominator`; `numeric` holds both as doubles when exact. */
interface Factor {
  numerator: bigint;
  denominator: bigint;
  numeric: readonly [numerator: number, denominator: number] | null;
}

function factor(numerator: bigint, denominator: bigint): Factor {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return { numerator, denominator, numeric: numerator <= max && denominator <= max ? [Number(numerator), Number(denominator)] : null };
}

function percentFactor(percent: Percent, sign: 1n | -1n): Factor {
  const hundred = 100n * 10n ** BigInt(percent.scale);
  return factor(hundred + sign * percent.units, hundred);
}

/** The factor of a markup and a discount, built once per pair (the stream asks per event). */
const discountFactors = new WeakMap<Percent, Factor>();
const markupFactors = new WeakMap<Percent, Map<Percent | null, Factor>>();

function factorOf(markup: Percent | null, discount: Percent | null): Factor | null {
  if (markup === null) {
    if (discount === null) return null;
    let found = discountFactors.get(discount);
    if (found === undefined) discountFactors.set(discount, (found = percentFactor(discount, -1n)));
    return found;
  }
  let byDiscount = markupFactors.get(markup);
  if (byDiscount === undefined) markupFactors.set(markup, (byDiscount = new Map<Percent | null, Factor>()));
  let found = byDiscount.get(discount);
  if (found === undefined) {
    const up = percentFactor(markup, 1n);
    const down = discount === null ? null : percentFactor(discount, -1n);
    found = down === null ? up : factor(up.numerator * down.numerator, up.denominator * down.denominator);
    byDiscount.set(discount, found);
  }
  return found;
}

/** Applies a factor to an amount: one half-even rounding to the pico. */
export function applyFactor(amount: bigint, factor: Factor): bigint {
  return roundHalfEven(amount * factor.numerator, factor.denominator);
}

export type ChargeBasis = 'tenant_price' | 'rate_card' | 'cost_plus_markup';

/** A customer charge: the shape of {@link PricedUsage}, with how it was reached. */
export interface ChargedUsage extends PricedUsage {
  basis: ChargeBasis;
  /** The markup applied (as written in the overrides file), null when none. */
  markupPercent: string | null;
  /** The discount applied, null when none. */
  discountPercent: string | null;
}

export interface ChargeInput extends UsageToPrice {
  tenant_id: string;
}

function adjust(base: PricedUsage, basis: ChargeBasis, markup: Percent | null, discount: Percent | null): ChargedUsage {
  const f = factorOf(markup, discount);
  let lines: PriceLines = base.lines;
  let unitLines = base.unitLines;
  let cacheSavings = base.cacheSavings;
  if (f !== null) {
    const adjusted = {} as Record<LineName, bigint>;
    for (const name of lineNames) if (name !== 'units') adjusted[name] = applyFactor(base.lines[name], f);
    // Each unit's line is rounded on its own (as each token line is); `units` is their sum.
    const adjustedUnits: Record<string, bigint> = {};
    adjusted.units = 0n;
    for (const name in base.unitLines) adjusted.units += adjustedUnits[name] = applyFactor(base.unitLines[name]!, f);
    lines = adjusted;
    unitLines = adjustedUnits;
    cacheSavings = applyFactor(base.cacheSavings, f);
  }
  return {
    ...base,
    lines,
    unitLines,
    total: sumLines(lines),
    cacheSavings,
    basis,
    markupPercent: markup?.text ?? null,
    discountPercent: discount?.text ?? null,
  };
}

/** Which price a tenant is charged for one usage and how it is adjusted, before any arithmetic. */
export interface ChargeChoice {
  priced: true;
  base: ResolvedRates;
  basis: ChargeBasis;
  markup: Percent | null;
  discount: Percent | null;
}

/**
 * Chooses the customer's price for one usage (checked with `checkUsage` already):
 *  1. the tenant's custom price for the model, when one is in effect (a tier it does not define
 *     is `unknown_tier`, not a silent fall back to list prices);
 *  2. else the rate card's price;
 *  3. else, when the tenant has `markup_percent`, the provider cost times (1 + markup);
 *  4. else unpriced (the rate card's reason), never zero.
 * The tenant's `discount_percent` then applies to whichever price was used.
 */
export function chooseCharge(rateCard: Catalog, overrides: TenantOverrides | undefined, costBook: Catalog, usage: ChargeInput): ChargeChoice | Unpriced {
  const override = overrides?.tenants.get(usage.tenant_id);
  const discount = override?.discountPercent ?? null;
  if (override?.modelPrices) {
    const custom = resolveRates(override.modelPrices, usage);
    if (custom.priced) return { priced: true, base: custom, basis: 'tenant_price', markup: null, discount };
    if (custom.reason === 'unknown_tier') return custom;
  }
  const card = resolveRates(rateCard, usage);
  if (card.priced) return { priced: true, base: card, basis: 'rate_card', markup: null, discount };
  const markup = override?.markupPercent ?? null;
  if (markup === null) return card;
  const cost = resolveRates(costBook, usage);
  if (!cost.priced) return { ...cost, message: `not on the rate card and no provider cost to mark up: ${cost.message}` };
  return { priced: true, base: cost, basis: 'cost_plus_markup', markup, discount };
}

/**
 * What the customer is charged for one event, line by line (see {@link chooseCharge} for which
 * price). Lines are rounded once each, half-even, to the pico (see the module comment).
 */
export function chargeUsage(rateCard: Catalog, overrides: TenantOverrides | undefined, costBook: Catalog, usage: ChargeInput): ChargedUsage | Unpriced {
  checkUsage(usage);
  const choice = chooseCharge(rateCard, overrides, costBook, usage);
  return choice.priced ? adjust(pricedUsage(choice.base, usage), choice.basis, choice.markup, choice.discount) : choice;
}

/**
 * The total of {@link chargeUsage} for a chosen price: the sum of its lines, each rounded once.
 * The stream's per-event path: in doubles while every step is exact, else line by line in BigInt.
 */
export function chargeTotal(choice: ChargeChoice, usage: UsageToPrice): bigint {
  const f = factorOf(choice.markup, choice.discount);
  if (f === null) return priceTotals(usage, choice.base.rates).total;
  const total = f.numeric === null ? null : roundedTotalInDoubles(numericLines(usage, choice.base.rates), f.numeric);
  return total !== null ? BigInt(total) : adjust(pricedUsage(choice.base, usage), choice.basis, choice.markup, choice.discount).total;
}

/** The sum of the lines times the factor, each rounded half-even, or null where doubles are not exact. */
function roundedTotalInDoubles(lines: readonly number[] | null, [numerator, denominator]: readonly [number, number]): number | null {
  if (lines === null) return null;
  let total = 0;
  for (const line of lines) {
    const rounded = roundHalfEvenSafe(line * numerator, denominator);
    if (rounded === null) return null;
    total += rounded;
  }
  // Each rounded line is at most its unrounded value times the factor, which was exact.
  return total <= Number.MAX_SAFE_INTEGER ? total : null;
}

export interface RatedEvent {
  /** What the provider charges us. */
  cost: PricedUsage | Unpriced;
  /** What we charge the customer. */
  charge: ChargedUsage | Unpriced;
  /** charge.total - cost.total, null unless both sides are priced. */
  margin: bigint | null;
}

/** Prices both sides of one event: provider cost, customer charge and the margin between them. */
export function rateEvent(rateCard: Catalog, overrides: TenantOverrides | undefined, costBook: Catalog, usage: ChargeInput): RatedEvent {
  const cost = priceUsage(costBook, usage);
  const charge = chargeUsage(rateCard, overrides, costBook, usage);
  const margin = cost.priced && charge.priced ? charge.total - cost.total : null;
  return { cost, charge, margin };
}
