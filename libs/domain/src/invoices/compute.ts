import { DecimalError, parseExactDecimal, roundHalfEven, type ExactDecimal } from '../pricing/money';
import { averageUnitPrice, compareAggregates, mergeAggregates } from './aggregate';
import { bucketLabel } from './buckets';
import { currencyMinorUnit, DEFAULT_CURRENCY, formatMinor, multiplyDecimals, parseExchangeRate, picoToMinor, type ExchangeRate } from './currency';
import { InvoiceInputError } from './errors';
import { checkPeriod, checkRevision, invoiceId, parseInvoiceId } from './invoice-id';
import {
  INVOICE_FORMAT,
  invoiceStatuses,
  type BillingTerms,
  type Invoice,
  type InvoiceInput,
  type InvoiceLine,
  type InvoiceLineKind,
  type LateUsageAdjustment,
  type PricedUsageAggregate,
} from './types';

/**
 * The invoice of one tenant for one month, computed from priced usage. Pure: the clock and every
 * datum are injected; money is integer pico-USD in, integer minor units of the currency out.
 *
 * Rounding: each usage, request fee and adjustment line is rounded ONCE, half-even, from its exact
 * pico-USD amount (times the exchange rate) to the currency's minor unit. Everything after that is
 * integer arithmetic on rounded amounts, in this order:
 *
 *   1. subtotal   = usage lines + request fee lines + adjustment lines (sums of rounded lines)
 *   2. top-up     = max(0, minimum commitment - subtotal)            -> `minimum_commitment` line
 *   3. percentage = roundHalfEven((subtotal + top-up) * percent / 100) -> `discount` line
 *                   (computed on the rounded amount, rounded once)
 *   4. fixed      = min(fixed discount, what is left)                  -> `discount` line (never below 0)
 *   5. credits    = min(credits available, what is left)               -> `credit` line (never below 0)
 *   6. total      = subtotal + top-up - percentage - fixed - credits   (= the sum of all lines)
 *
 * The commitment is a commitment of spend before discounts: a discount or credit can take the
 * total below it. Late usage of earlier months (adjustments) counts toward this month's subtotal,
 * commitment included. Tenant-level `discount_percent` of the price overrides is already inside the
 * per-event charges; the `discount_percent` of {@link BillingTerms} is an invoice-level discount on
 * top of it.
 */
export function computeInvoice(input: InvoiceInput): Invoice {
  const tenantId = input.tenant_id;
  if (typeof tenantId !== 'string' || tenantId.length === 0) throw new InvoiceInputError('tenant_id', 'must be a non-empty string');
  checkPeriod(input.period, 'period');
  const revision = input.revision ?? 1;
  checkRevision(revision);
  const status = input.status ?? 'draft';
  if (!invoiceStatuses.includes(status)) throw new InvoiceInputError('status', `must be one of ${invoiceStatuses.join(', ')}, got ${JSON.stringify(status)}`);
  const currency = input.currency ?? DEFAULT_CURRENCY;
  const decimals = currencyMinorUnit(currency);
  const rate = parseExchangeRate(currency, input.exchange_rate);
  const terms = checkTerms(input.terms ?? {});
  if (typeof input.clock !== 'function') throw new InvoiceInputError('clock', 'must be a function returning epoch milliseconds');
  const issuedAt = input.clock();
  if (!Number.isSafeInteger(issuedAt)) throw new InvoiceInputError('clock', `returned ${String(issuedAt)}, not integer epoch milliseconds`);

  const id = invoiceId(tenantId, input.period, revision);
  const usage = mergeAggregates(input.usage, 'usage').sort(compareAggregates);
  const adjustments = checkAdjustments(input.adjustments ?? [], tenantId, input.period);

  const money: Money = { currency, decimals, rate };
  const lines: Omit<InvoiceLine, 'line_no'>[] = [];
  for (const a of usage) {
    if (!billable(a)) continue;
    lines.push(usageLine(a.bucket === 'request' ? 'request_fee' : 'usage', a, money, null));
  }
  for (const a of adjustments) {
    if (!billable(a)) continue;
    lines.push(usageLine('adjustment', a, money, a));
  }

  const sumOf = (kind: InvoiceLineKind): bigint => lines.reduce((sum, l) => (l.kind === kind ? sum + l.amount_minor : sum), 0n);
  const usageMinor = sumOf('usage');
  const requestFeesMinor = sumOf('request_fee');
  const adjustmentsMinor = sumOf('adjustment');
  const subtotal = usageMinor + requestFeesMinor + adjustmentsMinor;
  const fmt = (amount: bigint): string => `${formatMinor(amount, decimals)} ${currency}`;

  // 2. Minimum commitment.
  const commitment = terms.minimumCommitment;
  const topUp = commitment > subtotal ? commitment - subtotal : 0n;
  if (topUp > 0n) {
    lines.push(termLine('minimum_commitment', `Minimum commitment top-up: commitment ${fmt(commitment)}, subtotal ${fmt(subtotal)}`, topUp));
  }
  const base = subtotal + topUp;

  // 3. Percentage discount, on the rounded amount, rounded once half-even.
  const percent = terms.discountPercent;
  const percentDiscount = percent === null ? 0n : roundHalfEven(base * percent.units, 100n * 10n ** BigInt(percent.scale));
  if (percent !== null && percentDiscount > 0n) {
    lines.push({ ...termLine('discount', `Discount ${percent.text}% of ${fmt(base)}`, -percentDiscount), percent: percent.text });
  }
  const afterPercent = base - percentDiscount;

  // 4. Fixed discount, never below zero.
  const fixed = terms.fixedDiscount;
  const fixedDiscount = fixed < afterPercent ? fixed : afterPercent;
  if (fixedDiscount > 0n) {
    const capped = fixedDiscount < fixed ? ` (${fmt(fixed)} offered, limited to the amount due)` : '';
    lines.push(termLine('discount', `Fixed discount ${fmt(fixedDiscount)}${capped}`, -fixedDiscount));
  }
  const afterFixed = afterPercent - fixedDiscount;

  // 5. Credits, never below zero.
  const available = terms.creditsAvailable;
  const credit = available < afterFixed ? available : afterFixed;
  if (credit > 0n) {
    lines.push(termLine('credit', `Credit applied: ${fmt(credit)} of ${fmt(available)} available, ${fmt(available - credit)} remaining`, -credit));
  }
  const total = afterFixed - credit;

  return {
    format: INVOICE_FORMAT,
    invoice_id: id,
    tenant_id: tenantId,
    period: input.period,
    revision,
    supersedes_invoice_id: revision > 1 ? invoiceId(tenantId, input.period, revision - 1) : null,
    status,
    issued_at: issuedAt,
    currency,
    currency_minor_unit: decimals,
    exchange_rate: rate.text,
    lines: lines.map((line, i) => ({ ...line, line_no: i + 1 })),
    usage_minor: usageMinor,
    request_fees_minor: requestFeesMinor,
    adjustments_minor: adjustmentsMinor,
    subtotal_minor: subtotal,
    minimum_commitment_minor: commitment,
    minimum_commitment_top_up_minor: topUp,
    percent_discount_minor: percentDiscount,
    fixed_discount_minor: fixedDiscount,
    discounts_minor: percentDiscount + fixedDiscount,
    credits_available_minor: available,
    credits_applied_minor: credit,
    credits_remaining_minor: available - credit,
    credit_notes_minor: 0n,
    total_minor: total,
  };
}

interface Money {
  currency: string;
  decimals: number;
  rate: ExchangeRate;
}

interface CheckedTerms {
  minimumCommitment: bigint;
  discountPercent: (ExactDecimal & { text: string }) | null;
  fixedDiscount: bigint;
  creditsAvailable: bigint;
}

function minorAmount(value: bigint | undefined, field: string): bigint {
  if (value === undefined) return 0n;
  if (typeof value !== 'bigint' || value < 0n) throw new InvoiceInputError(`terms.${field}`, `must be a bigint >= 0 (minor units), got ${String(value)}`);
  return value;
}

function checkTerms(terms: BillingTerms): CheckedTerms {
  let discountPercent: CheckedTerms['discountPercent'] = null;
  if (terms.discount_percent !== undefined) {
    const text = terms.discount_percent;
    let value: ExactDecimal;
    try {
      value = parseExactDecimal(text);
    } catch (error) {
      throw new InvoiceInputError('terms.discount_percent', error instanceof DecimalError ? error.message : String(error), error);
    }
    if (value.units < 0n || value.units > 100n * 10n ** BigInt(value.scale)) {
      throw new InvoiceInputError('terms.discount_percent', `must be from 0 to 100, got ${JSON.stringify(text)}`);
    }
    discountPercent = { text, ...value };
  }
  return {
    minimumCommitment: minorAmount(terms.minimum_commitment_minor, 'minimum_commitment_minor'),
    discountPercent,
    fixedDiscount: minorAmount(terms.fixed_discount_minor, 'fixed_discount_minor'),
    creditsAvailable: minorAmount(terms.credits_available_minor, 'credits_available_minor'),
  };
}

function checkAdjustments(rows: readonly LateUsageAdjustment[], tenantId: string, period: string): LateUsageAdjustment[] {
  rows.forEach((row, i) => {
    const field = `adjustments[${i}]`;
    checkPeriod(row.original_period, `${field}.original_period`);
    if (row.original_period >= period) {
      throw new InvoiceInputError(`${field}.original_period`, `${row.original_period} is not before the invoice's period ${period}; late usage of this period is ordinary usage`);
    }
    if (typeof row.original_invoice_id !== 'string' || row.original_invoice_id.length === 0) {
      throw new InvoiceInputError(`${field}.original_invoice_id`, 'must name the invoice that billed the original period');
    }
    const parsed = parseInvoiceId(row.original_invoice_id);
    if (parsed !== undefined && (parsed.tenant_id !== tenantId || parsed.period !== row.original_period)) {
      throw new InvoiceInputError(
        `${field}.original_invoice_id`,
        `${row.original_invoice_id} is the invoice of tenant ${JSON.stringify(parsed.tenant_id)} for ${parsed.period}, not of ${JSON.stringify(tenantId)} for ${row.original_period}`,
      );
    }
  });
  const merged = mergeAggregates(rows, 'adjustments', (r) => JSON.stringify([r.original_period, r.original_invoice_id]));
  return merged.sort(
    (a, b) =>
      (a.original_period < b.original_period ? -1 : a.original_period > b.original_period ? 1 : 0) ||
      (a.original_invoice_id < b.original_invoice_id ? -1 : a.original_invoice_id > b.original_invoice_id ? 1 : 0) ||
      compareAggregates(a, b),
  );
}

/** A usage row becomes a line unless it is empty; a request row only when there is a fee. */
function billable(a: PricedUsageAggregate): boolean {
  if (a.bucket === 'request') return a.amount_pico !== 0n;
  return a.quantity !== 0n || a.amount_pico !== 0n;
}

function describeUsage(a: PricedUsageAggregate): string {
  const details: string[] = [];
  if (a.tier !== undefined && a.tier !== null) details.push(`${a.tier} tier`);
  if (a.threshold_above_prompt_tokens !== undefined && a.threshold_above_prompt_tokens !== null) {
    details.push(`prompts above ${a.threshold_above_prompt_tokens} tokens`);
  }
  return `${a.provider}/${a.model} ${bucketLabel(a.bucket)}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

function usageLine(kind: InvoiceLineKind, a: PricedUsageAggregate, money: Money, adjusts: LateUsageAdjustment | null): Omit<InvoiceLine, 'line_no'> {
  const unitPriceUsd = a.unit_price ?? averageUnitPrice(a.bucket, a.quantity, a.amount_pico);
  const unitPrice = unitPriceUsd === null || money.currency === 'USD' ? unitPriceUsd : multiplyDecimals(unitPriceUsd, money.rate);
  const description =
    adjusts === null ? describeUsage(a) : `Late usage of ${adjusts.original_period} (invoice ${adjusts.original_invoice_id}): ${describeUsage(a)}`;
  return {
    kind,
    description,
    provider: a.provider,
    model: a.model,
    price_version_id: a.price_version_id,
    tier: a.tier ?? null,
    threshold_above_prompt_tokens: a.threshold_above_prompt_tokens ?? null,
    bucket: a.bucket,
    quantity: a.quantity,
    quantity_unit: a.bucket === 'request' ? 'requests' : 'tokens',
    unit_price: unitPrice,
    unit_price_usd: unitPriceUsd,
    unit_price_basis: a.bucket === 'request' ? 'per_request' : 'per_1m_tokens',
    amount_pico_usd: a.amount_pico,
    amount_minor: picoToMinor(a.amount_pico, money.decimals, money.rate),
    percent: null,
    original_invoice_id: adjusts?.original_invoice_id ?? null,
    original_period: adjusts?.original_period ?? null,
  };
}

function termLine(kind: InvoiceLineKind, description: string, amount: bigint): Omit<InvoiceLine, 'line_no'> {
  return {
    kind,
    description,
    provider: null,
    model: null,
    price_version_id: null,
    tier: null,
    threshold_above_prompt_tokens: null,
    bucket: null,
    quantity: null,
    quantity_unit: null,
    unit_price: null,
    unit_price_usd: null,
    unit_price_basis: null,
    amount_pico_usd: null,
    amount_minor: amount,
    percent: null,
    original_invoice_id: null,
    original_period: null,
  };
}
