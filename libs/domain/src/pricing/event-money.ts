import type { TokenBucket, UsageEvent } from '../usage-event/usage-event';
import type { Catalog } from './catalog';
import { chargeTotal, chooseCharge, type ChargeInput, type TenantOverrides } from './charge';
import { checkUsage, priceTotals, resolveRates, type UnpricedReason } from './price';

/** The three price inputs of the stream, loaded together; `id` names the content (a hash). */
export interface PriceBooks {
  readonly id: string;
  /** What the providers charge the platform. */
  readonly costBook: Catalog;
  /** What tenants are charged by default. */
  readonly rateCard: Catalog;
  readonly overrides?: TenantOverrides;
}

/** The metadata key a v1 event set to be priced in a service tier; v2 events carry `service_tier` (which wins). */
export const SERVICE_TIER_METADATA_KEY = 'service_tier';

/** The tier an event is priced in: its `service_tier`, else (v1 events) `metadata.service_tier`. */
export function serviceTierOf(event: Pick<UsageEvent, 'service_tier' | 'metadata'>): string | null {
  return event.service_tier ?? event.metadata[SERVICE_TIER_METADATA_KEY] ?? null;
}

/** What one event costs and is charged, in integer pico-USD. Unpriced sides are 0 and flagged. */
export interface EventMoney {
  costPico: bigint;
  chargePico: bigint;
  /** Provider-cost side: what the cached tokens would have cost at the uncached input rate, minus what they cost. */
  cacheSavingsPico: bigint;
  costPriced: boolean;
  chargePriced: boolean;
  /** The price versions used (e.g. `openai/gpt-4o@2024-08-06`), null when unpriced. */
  costVersion: string | null;
  chargeVersion: string | null;
  /** Why a side is unpriced (the cost side's reason first). */
  unpriced: { reason: UnpricedReason; message: string } | null;
}

/**
 * Prices one usage event on both books. Never throws for an unknown model or a missing price:
 * that side is 0 and `costPriced`/`chargePriced` say so, so the event is still counted and can
 * be listed and re-rated later (never silently $0).
 */
export function priceEvent(books: PriceBooks, event: Pick<UsageEvent, 'tenant_id' | 'provider' | 'model' | 'occurred_at' | TokenBucket | 'units' | 'service_tier' | 'metadata'>): EventMoney {
  const usage: ChargeInput = {
    tenant_id: event.tenant_id,
    provider: event.provider,
    model: event.model,
    occurred_at: event.occurred_at,
    tier: serviceTierOf(event),
    input_tokens: event.input_tokens,
    cache_read_tokens: event.cache_read_tokens,
    cache_write_tokens: event.cache_write_tokens,
    cache_write_1h_tokens: event.cache_write_1h_tokens,
    output_tokens: event.output_tokens,
    reasoning_tokens: event.reasoning_tokens,
    audio_input_tokens: event.audio_input_tokens,
    audio_output_tokens: event.audio_output_tokens,
    image_input_tokens: event.image_input_tokens,
    image_output_tokens: event.image_output_tokens,
    units: event.units,
  };
  // The same choices as rateEvent, without building per-line amounts: this runs once per event.
  checkUsage(usage);
  const cost = resolveRates(books.costBook, usage);
  const charge = chooseCharge(books.rateCard, books.overrides, books.costBook, usage);
  const costTotals = cost.priced ? priceTotals(usage, cost.rates) : null;
  const chargePico = charge.priced ? chargeTotal(charge, usage) : 0n;
  const missing = !cost.priced ? cost : !charge.priced ? charge : null;
  return {
    costPico: costTotals?.total ?? 0n,
    chargePico,
    cacheSavingsPico: costTotals?.cacheSavings ?? 0n,
    costPriced: cost.priced,
    chargePriced: charge.priced,
    costVersion: cost.priced ? cost.priceVersionId : null,
    chargeVersion: charge.priced ? charge.base.priceVersionId : null,
    unpriced: missing === null ? null : { reason: missing.reason, message: missing.message },
  };
}
