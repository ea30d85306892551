import { z } from 'zod';
import { DecimalError, parseExactDecimal } from '../pricing/money';
import { currencyMinorUnit, DEFAULT_CURRENCY, parseExchangeRate } from './currency';
import { InvoiceInputError } from './errors';
import type { BillingTerms } from './types';
import { MeterlineError } from '../errors';

/**
 * Per-tenant billing terms (`pricing/tenants/billing.json`, format `meterline.tenant-billing/v1`):
 * the invoice currency, minimum commitment, discounts and credit. Money is written in the
 * currency's major unit as exact decimal strings (`"500.00"` EUR) and held in minor units.
 * A tenant not listed is invoiced in USD with no terms.
 *
 * `credits` is the credit granted over the tenant's life; what an invoice may use is that grant
 * minus what earlier final invoices used (the invoice job reads those from the invoices table).
 */
export const TENANT_BILLING_FORMAT = 'meterline.tenant-billing/v1';

export interface TenantBilling {
  tenant_id: string;
  currency: string;
  /** Units of the currency per 1 USD, exact; "1" for USD. */
  exchange_rate: string;
  /** Everything but the credit balance, which depends on earlier invoices. */
  terms: Omit<BillingTerms, 'credits_available_minor'>;
  /** Credit granted in total, minor units (0 when none). */
  credits_granted_minor: bigint;
}

export interface TenantBillingBook {
  source: string;
  tenants: ReadonlyMap<string, TenantBilling>;
}

/** Every problem of the file, one per line, each naming the tenant and the field. */
export class BillingTermsError extends MeterlineError {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super('BILLING_TERMS_INVALID', `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the billing terms:\n  ${problems.join('\n  ')}`);
  }
}

const tenantSchema = z.strictObject({
  tenant_id: z.string().min(1),
  currency: z.string().optional(),
  exchange_rate: z.string().optional(),
  minimum_commitment: z.string().optional(),
  discount_percent: z.string().optional(),
  fixed_discount: z.string().optional(),
  credits: z.string().optional(),
  notes: z.string().optional(),
});

const rootSchema = z.strictObject({
  format: z.literal(TENANT_BILLING_FORMAT),
  description: z.string().optional(),
  tenants: z.array(z.unknown()),
});

/** A tenant with no entry: USD, no terms. */
export function defaultBilling(tenantId: string): TenantBilling {
  return { tenant_id: tenantId, currency: DEFAULT_CURRENCY, exchange_rate: '1', terms: {}, credits_granted_minor: 0n };
}

/** `"500.00"` in a currency with `digits` minor digits, as minor units; an error text when not exact or negative. */
function toMinor(text: string, digits: number): bigint | string {
  let parsed: { units: bigint; scale: number };
  try {
    parsed = parseExactDecimal(text);
  } catch (error) {
    return error instanceof DecimalError ? error.message : String(error);
  }
  if (parsed.units < 0n) return `${JSON.stringify(text)} is negative`;
  if (parsed.scale > digits) {
    const factor = 10n ** BigInt(parsed.scale - digits);
    if (parsed.units % factor !== 0n) return `${JSON.stringify(text)} has more decimals than the currency's minor unit (${digits})`;
    return parsed.units / factor;
  }
  return parsed.units * 10n ** BigInt(digits - parsed.scale);
}

/** Validates the billing terms document; throws a {@link BillingTermsError} listing every problem. */
export function parseTenantBilling(json: unknown, source: string): TenantBillingBook {
  const problems: string[] = [];
  const issues = (where: string, error: z.ZodError): void => {
    for (const issue of error.issues) problems.push(`${where}${issue.path.length > 0 ? `.${issue.path.join('.')}` : ''}: ${issue.message}`);
  };
  const root = rootSchema.safeParse(json);
  if (!root.success) {
    issues('(document)', root.error);
    throw new BillingTermsError(source, problems);
  }
  const tenants = new Map<string, TenantBilling>();
  const seen = new Set<string>();
  root.data.tenants.forEach((raw, i) => {
    const rawId = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).tenant_id : undefined;
    const where = typeof rawId === 'string' && rawId.length > 0 ? `tenant ${rawId}` : `tenants[${i}]`;
    const parsed = tenantSchema.safeParse(raw);
    if (!parsed.success) return issues(where, parsed.error);
    const doc = parsed.data;
    const before = problems.length;
    if (seen.has(doc.tenant_id)) problems.push(`${where}.tenant_id: listed twice`);
    seen.add(doc.tenant_id);
    const currency = doc.currency ?? DEFAULT_CURRENCY;
    let digits = 2;
    let rate = '1';
    try {
      digits = currencyMinorUnit(currency);
      rate = parseExchangeRate(currency, doc.exchange_rate).text;
    } catch (error) {
      problems.push(`${where}: ${error instanceof InvoiceInputError ? error.message.replace(/^invalid invoice input: /, '') : String(error)}`);
    }
    const minor = (field: 'minimum_commitment' | 'fixed_discount' | 'credits'): bigint | undefined => {
      const text = doc[field];
      if (text === undefined) return undefined;
      const value = toMinor(text, digits);
      if (typeof value === 'string') {
        problems.push(`${where}.${field}: ${value}; write an amount in ${currency} such as "${digits === 0 ? '500' : `500.${'0'.repeat(digits)}`}"`);
        return undefined;
      }
      return value;
    };
    const terms: Omit<BillingTerms, 'credits_available_minor'> = {};
    const commitment = minor('minimum_commitment');
    if (commitment !== undefined) terms.minimum_commitment_minor = commitment;
    const fixed = minor('fixed_discount');
    if (fixed !== undefined) terms.fixed_discount_minor = fixed;
    const credits = minor('credits') ?? 0n;
    if (doc.discount_percent !== undefined) {
      try {
        const p = parseExactDecimal(doc.discount_percent);
        if (p.units < 0n || p.units > 100n * 10n ** BigInt(p.scale)) problems.push(`${where}.discount_percent: ${JSON.stringify(doc.discount_percent)} is not between 0 and 100`);
        else terms.discount_percent = doc.discount_percent;
      } catch (error) {
        problems.push(`${where}.discount_percent: ${error instanceof DecimalError ? error.message : String(error)}`);
      }
    }
    if (problems.length > before) return;
    tenants.set(doc.tenant_id, { tenant_id: doc.tenant_id, currency, exchange_rate: rate, terms, credits_granted_minor: credits });
  });
  if (problems.length > 0) throw new BillingTermsError(source, problems);
  return { source, tenants };
}
