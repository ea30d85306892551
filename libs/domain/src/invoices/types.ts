import type { InvoiceBucket } from './buckets';

export type { InvoiceBucket } from './buckets';

/** The format tag of an invoice document (JSON export). */
export const INVOICE_FORMAT = 'meterline.invoice/v1';

/** `credit_note`: on a revision (2, 3, ...), reverses what the earlier revisions of the period billed. */
export const invoiceLineKinds = ['usage', 'request_fee', 'adjustment', 'minimum_commitment', 'discount', 'credit', 'credit_note'] as const;
export type InvoiceLineKind = (typeof invoiceLineKinds)[number];

export const invoiceStatuses = ['draft', 'final'] as const;
export type InvoiceStatus = (typeof invoiceStatuses)[number];

/**
 * Priced usage of one tenant and period, summed per (provider, model, price version, tier,
 * threshold, bucket). Feed it from ClickHouse aggregates (`sum(tokens)`, `sum(amount_pico)` grouped
 * by those columns) or from per-event `chargeUsage` results with {@link aggregateChargedEvents}.
 *
 * `tier` and `threshold_above_prompt_tokens` are part of the key because one price version charges
 * different rates per tier and above a prompt-size threshold; a line has one unit price.
 */
export interface PricedUsageAggregate {
  /** The provider and model as the events named them (what raw events and rollups are keyed by). */
  provider: string;
  model: string;
  /** The price version that priced the usage, e.g. `openai/gpt-4o@2024-08-06` (`tenant:<id>/...` for tenant prices). */
  price_version_id: string;
  /** Service tier priced (`batch`, `flex`, ...); null or absent for the base prices. */
  tier?: string | null;
  /** The prompt-size threshold whose rates applied; null or absent for the base rates. */
  threshold_above_prompt_tokens?: number | null;
  bucket: InvoiceBucket;
  /** Tokens (token buckets), units (`unit:<name>`) or requests (`request`). Integer >= 0. */
  quantity: bigint;
  /** The exact charge, integer pico-USD: the sum of the per-event charged lines (tenant discount and markup included). >= 0. */
  amount_pico: bigint;
  /**
   * The customer's rate in USD per 1M tokens (USD per request for `request`), an exact decimal
   * string as the catalog writes it, after tenant discount or markup. Absent or null: derived as
   * `amount_pico / quantity` when that is an exact decimal, else the line has no unit price.
   */
  unit_price?: string | null;
}

/** Late usage of an earlier period that was already invoiced: becomes an `adjustment` line naming that invoice. */
export interface LateUsageAdjustment extends PricedUsageAggregate {
  /** The invoice that billed `original_period` without this usage. */
  original_invoice_id: string;
  /** `YYYY-MM`, before the invoice's period. */
  original_period: string;
}

/** Contract terms applied to the invoice after usage, in the invoice currency's minor units. */
export interface BillingTerms {
  /** Minimum spend per month; the invoice is topped up to it when the subtotal is below. */
  minimum_commitment_minor?: bigint;
  /** Percentage off the subtotal (after the top-up), an exact decimal string 0..100 such as "12.5". */
  discount_percent?: string;
  /** A fixed amount off, after the percentage; never takes the amount below zero. */
  fixed_discount_minor?: bigint;
  /** Prepaid or promotional credit available; applied last, never takes the total below zero. */
  credits_available_minor?: bigint;
}

export interface InvoiceInput {
  tenant_id: string;
  /** Billing month, `YYYY-MM`. */
  period: string;
  /** 1 for the first invoice of the period; a re-issue (correction) is the next revision. Default 1. */
  revision?: number;
  /** Default `draft`. */
  status?: InvoiceStatus;
  /** ISO 4217 code from {@link CURRENCY_MINOR_UNITS}; default `USD`. */
  currency?: string;
  /** Units of `currency` per 1 USD, an exact decimal string; required unless the currency is USD. */
  exchange_rate?: string;
  /** Priced usage of the period. */
  usage: readonly PricedUsageAggregate[];
  /** Late usage of earlier, already invoiced periods. */
  adjustments?: readonly LateUsageAdjustment[];
  terms?: BillingTerms;
  /** The injected clock: epoch ms, read once for `issued_at`. */
  clock: () => number;
}

export type UnitPriceBasis = 'per_1m_tokens' | 'per_request';

export interface InvoiceLine {
  /** 1-based position on the invoice. */
  line_no: number;
  kind: InvoiceLineKind;
  /** A sentence for people, e.g. `openai/gpt-4o output tokens`. */
  description: string;
  /** Usage, request fee and adjustment lines; null on the others. */
  provider: string | null;
  model: string | null;
  price_version_id: string | null;
  tier: string | null;
  threshold_above_prompt_tokens: number | null;
  bucket: InvoiceBucket | null;
  /** Tokens or requests; null on lines that are not usage. */
  quantity: bigint | null;
  quantity_unit: 'tokens' | 'requests' | null;
  /** In the invoice currency, exact, per 1M tokens or per request (`unit_price_basis`). */
  unit_price: string | null;
  /** In USD, exact, as the catalog writes it. */
  unit_price_usd: string | null;
  unit_price_basis: UnitPriceBasis | null;
  /** The exact priced amount before rounding, pico-USD; null on lines that are not usage. */
  amount_pico_usd: bigint | null;
  /** Integer minor units of the invoice currency; negative for discounts and credits. */
  amount_minor: bigint;
  /** The percentage of a percentage discount line, as written in the terms. */
  percent: string | null;
  /** Adjustment lines: the invoice and period the late usage belongs to; a credit note: the revision it replaces and its period. */
  original_invoice_id: string | null;
  original_period: string | null;
}

export interface Invoice {
  format: typeof INVOICE_FORMAT;
  invoice_id: string;
  tenant_id: string;
  period: string;
  revision: number;
  /** The id of the revision this one replaces (revision - 1), null for revision 1. */
  supersedes_invoice_id: string | null;
  status: InvoiceStatus;
  /** Epoch ms, from the injected clock. */
  issued_at: number;
  currency: string;
  /** Digits after the point of the currency's minor unit (2 for USD, 0 for JPY). */
  currency_minor_unit: number;
  /** Units of the currency per 1 USD, as given ("1" for USD). */
  exchange_rate: string;
  lines: readonly InvoiceLine[];
  /** Sum of the usage lines (tokens). */
  usage_minor: bigint;
  /** Sum of the request fee lines. */
  request_fees_minor: bigint;
  /** Sum of the adjustment lines. */
  adjustments_minor: bigint;
  /** usage + request fees + adjustments. */
  subtotal_minor: bigint;
  /** The commitment in the terms (0 when none). */
  minimum_commitment_minor: bigint;
  /** max(0, commitment - subtotal). */
  minimum_commitment_top_up_minor: bigint;
  /** Taken off by the percentage discount (>= 0). */
  percent_discount_minor: bigint;
  /** Taken off by the fixed discount (>= 0, capped so the amount stays >= 0). */
  fixed_discount_minor: bigint;
  /** percent + fixed discount (>= 0). */
  discounts_minor: bigint;
  credits_available_minor: bigint;
  /** Credit used by this invoice (>= 0). */
  credits_applied_minor: bigint;
  /** Credit left for later invoices. */
  credits_remaining_minor: bigint;
  /**
   * Revisions only (0 on revision 1): minus what the earlier revisions of the period billed in
   * total, the `credit_note` line. A revision restates the whole period; this reverses the rest.
   */
  credit_notes_minor: bigint;
  /**
   * subtotal + top-up - discounts - credits + credit notes; equals the sum of every line's amount.
   * >= 0 on revision 1; on a revision, what is due on top of the earlier ones (< 0: owed back),
   * so the totals of a period's revisions add up to what the period costs.
   */
  total_minor: bigint;
}
