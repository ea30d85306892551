import { DecimalError, formatScaled, parseExactDecimal, PICO_DECIMALS, roundHalfEven, type ExactDecimal } from '../pricing/money';
import { InvoiceInputError } from './errors';

/**
 * Invoice currencies. Amounts are priced in integer pico-USD; an invoice is cut in one currency
 * whose amounts are integers of its minor unit (cents for USD and EUR, yen for JPY). A USD amount
 * becomes an amount in the currency with one half-even rounding:
 *
 *   minor = roundHalfEven(pico * rate * 10^minorDecimals, 10^12)
 *
 * where `rate` is the exact decimal exchange rate (units of the currency per 1 USD; 1 for USD).
 */

/** ISO 4217 minor unit (digits after the point) of each currency an invoice may be cut in. */
export const CURRENCY_MINOR_UNITS: Readonly<Record<string, number>> = Object.freeze({
  USD: 2,
  EUR: 2,
  GBP: 2,
  CHF: 2,
  CAD: 2,
  AUD: 2,
  JPY: 0,
  KRW: 0,
  BHD: 3,
  KWD: 3,
});

export const DEFAULT_CURRENCY = 'USD';

/** Digits after the point of the currency's minor unit; throws {@link InvoiceInputError} for an unknown currency. */
export function currencyMinorUnit(currency: string): number {
  const decimals = Object.hasOwn(CURRENCY_MINOR_UNITS, currency) ? CURRENCY_MINOR_UNITS[currency] : undefined;
  if (decimals === undefined) {
    throw new InvoiceInputError(
      'currency',
      `unknown currency ${JSON.stringify(currency)}; known: ${Object.keys(CURRENCY_MINOR_UNITS).join(', ')}`,
    );
  }
  return decimals;
}

/** An exchange rate from USD: `units / 10^scale` units of the currency per 1 USD, > 0. `text` is what the caller wrote. */
export interface ExchangeRate extends ExactDecimal {
  readonly text: string;
}

const ONE: ExchangeRate = Object.freeze({ text: '1', units: 1n, scale: 0 });

/**
 * The exchange rate of an invoice: required (an exact positive decimal string) unless the currency
 * is USD, where it may be absent or must be exactly 1.
 */
export function parseExchangeRate(currency: string, text: string | undefined): ExchangeRate {
  if (text === undefined) {
    if (currency === 'USD') return ONE;
    throw new InvoiceInputError('exchange_rate', `an invoice in ${currency} needs exchange_rate (units of ${currency} per 1 USD, an exact decimal string such as "0.9137")`);
  }
  let value: ExactDecimal;
  try {
    value = parseExactDecimal(text);
  } catch (error) {
    const detail = error instanceof DecimalError ? error.message : String(error);
    throw new InvoiceInputError('exchange_rate', detail, error);
  }
  if (value.units <= 0n) throw new InvoiceInputError('exchange_rate', `exchange_rate must be positive, got ${JSON.stringify(text)}`);
  if (currency === 'USD' && (value.units !== 1n || value.scale !== 0)) {
    throw new InvoiceInputError('exchange_rate', `an invoice in USD has exchange_rate 1, got ${JSON.stringify(text)}`);
  }
  return { text, units: value.units, scale: value.scale };
}

/**
 * Converts exact pico-USD to integer minor units of the invoice currency with ONE half-even
 * rounding. With the rate 1 this is `toMinorUnits(pico, decimals)` from money.ts.
 */
export function picoToMinor(pico: bigint, decimals: number, rate: ExactDecimal = ONE): bigint {
  if (!Number.isSafeInteger(decimals) || decimals < 0 || decimals > PICO_DECIMALS) {
    throw new RangeError(`picoToMinor: decimals must be an integer from 0 to ${PICO_DECIMALS}, got ${String(decimals)}`);
  }
  return roundHalfEven(pico * rate.units * 10n ** BigInt(decimals), 10n ** BigInt(PICO_DECIMALS + rate.scale));
}

/** `a * b` of two exact decimal strings, exact, written as a plain decimal. */
export function multiplyDecimals(a: string, b: ExactDecimal): string {
  const x = parseExactDecimal(a);
  return formatScaled(x.units * b.units, x.scale + b.scale);
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/**
 * `numerator / denominator` as an exact plain decimal string, or null when the quotient has no
 * finite decimal expansion (the reduced denominator has a prime factor other than 2 and 5).
 */
export function exactQuotient(numerator: bigint, denominator: bigint): string | null {
  if (denominator <= 0n) throw new RangeError(`exactQuotient: denominator must be positive, got ${denominator}`);
  const g = gcd(numerator, denominator);
  const num = g === 0n ? 0n : numerator / g;
  let den = g === 0n ? 1n : denominator / g;
  let twos = 0;
  let fives = 0;
  while (den % 2n === 0n) {
    den /= 2n;
    twos++;
  }
  while (den % 5n === 0n) {
    den /= 5n;
    fives++;
  }
  if (den !== 1n) return null;
  const scale = Math.max(twos, fives);
  // num / (2^twos * 5^fives) = num * 2^(scale - twos) * 5^(scale - fives) / 10^scale
  const units = num * 2n ** BigInt(scale - twos) * 5n ** BigInt(scale - fives);
  return formatScaled(units, scale);
}

/** Integer minor units written with the currency's decimals: `formatMinor(-370n, 2) === "-3.70"`, `formatMinor(1500n, 0) === "1500"`. */
export function formatMinor(amount: bigint, decimals: number): string {
  if (!Number.isSafeInteger(decimals) || decimals < 0) throw new RangeError(`formatMinor: decimals must be a non-negative integer, got ${String(decimals)}`);
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(decimals + 1, '0');
  const intPart = digits.slice(0, digits.length - decimals);
  const body = decimals > 0 ? `${intPart}.${digits.slice(digits.length - decimals)}` : intPart;
  return negative ? `-${body}` : body;
}

/** Like {@link formatMinor} with thousands separators, for people: `formatMinorGrouped(123456789n, 2) === "1,234,567.89"`. */
export function formatMinorGrouped(amount: bigint, decimals: number): string {
  const plain = formatMinor(amount, decimals);
  const negative = plain.startsWith('-');
  const body = negative ? plain.slice(1) : plain;
  const point = body.indexOf('.');
  const intPart = point < 0 ? body : body.slice(0, point);
  const rest = point < 0 ? '' : body.slice(point);
  const grouped = intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${grouped}${rest}`;
}
