/**
 * Money for metering and billing: amounts are integer pico-USD (1e-12 USD) held as `bigint`.
 *
 * Nothing in the money path is ever a float. Prices arrive as decimal strings and are parsed
 * exactly; a line is `tokens * rate` (both integers); percentages are applied as an exact
 * fraction with one half-even rounding; rounding to cents happens only when an invoice is cut.
 */

/** One US dollar in pico-USD. */
export const PICO_PER_USD = 1_000_000_000_000n;
import { MeterlineError } from '../errors';
/** Digits after the point of a pico-USD amount written in USD. */
export const PICO_DECIMALS = 12;

/** Largest exponent accepted in a decimal string; keeps "1e999999999" from building a huge bigint. */
const MAX_EXPONENT = 400;
const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** A decimal string was malformed or cannot be represented exactly at the requested scale. */
export class DecimalError extends MeterlineError {
  readonly input: unknown;
  /** `syntax` (not a decimal number) or `precision` (more decimal places than the scale allows). */
  readonly reason: 'syntax' | 'precision' | 'range';

  constructor(input: unknown, reason: 'syntax' | 'precision' | 'range', message: string) {
    super('DECIMAL_INVALID', message);
    this.input = input;
    this.reason = reason;
  }
}

/** An exact decimal: `units / 10^scale`, with `scale >= 0` and no trailing zero after the point. */
export interface ExactDecimal {
  units: bigint;
  scale: number;
}

function describe(input: unknown): string {
  return typeof input === 'string' ? JSON.stringify(input) : `${typeof input} ${String(input)}`;
}

/**
 * Parses a decimal string into the smallest exact fraction `units / 10^scale`.
 * Accepts `2.50`, `0.000003`, `-1`, `1.25e-7`, `3E+2`; rejects everything else (empty strings,
 * whitespace, `.5`, `5.`, `1,000`, `0x10`, `NaN`, `Infinity`, non-strings).
 */
export function parseExactDecimal(text: string): ExactDecimal {
  if (typeof text !== 'string') {
    throw new DecimalError(text, 'syntax', `invalid decimal ${describe(text)}: expected a string`);
  }
  const m = DECIMAL.exec(text);
  if (m === null) {
    throw new DecimalError(
      text,
      'syntax',
      `invalid decimal ${describe(text)}: expected digits with an optional fraction and exponent, such as "2.50", "0.000003" or "1.25e-7"`,
    );
  }
  const negative = m[1] === '-';
  const intPart = m[2] ?? '0';
  const fracPart = m[3] ?? '';
  const exponent = m[4] === undefined ? 0 : Number(m[4]);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > MAX_EXPONENT) {
    throw new DecimalError(text, 'range', `invalid decimal ${describe(text)}: exponent outside -${MAX_EXPONENT}..${MAX_EXPONENT}`);
  }
  let digits = (intPart + fracPart).replace(/^0+(?=\d)/, '');
  // value = digits * 10^(exponent - fracPart.length)
  let power = exponent - fracPart.length;
  // Normalise: strip trailing zeros into the power so the scale is minimal.
  while (digits.length > 1 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    power += 1;
  }
  let units = BigInt(digits);
  if (units === 0n) return { units: 0n, scale: 0 };
  if (power >= 0) {
    units *= 10n ** BigInt(power);
    return { units: negative ? -units : units, scale: 0 };
  }
  return { units: negative ? -units : units, scale: -power };
}

/**
 * Parses a decimal string exactly into an integer count of `10^-scale` units:
 * `parseDecimal("2.50", 6) === 2_500_000n`. Throws a {@link DecimalError} naming the input when the
 * text is not a decimal number or when it has more significant decimal places than `scale`
 * (it would not be exact).
 */
export function parseDecimal(text: string, scale: number): bigint {
  if (!Number.isSafeInteger(scale) || scale < 0 || scale > MAX_EXPONENT) {
    throw new RangeError(`parseDecimal: scale must be an integer from 0 to ${MAX_EXPONENT}, got ${String(scale)}`);
  }
  const value = parseExactDecimal(text);
  if (value.scale > scale) {
    throw new DecimalError(
      text,
      'precision',
      `invalid decimal ${describe(text)}: has ${value.scale} significant decimal places, more than the ${scale} that can be held exactly`,
    );
  }
  return value.units * 10n ** BigInt(scale - value.scale);
}

/** Writes `units / 10^scale` as a plain decimal string (no exponent, no trailing zeros after the point). */
export function formatScaled(units: bigint, scale: number): string {
  if (!Number.isSafeInteger(scale) || scale < 0) throw new RangeError(`formatScaled: scale must be a non-negative integer, got ${String(scale)}`);
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const intPart = digits.slice(0, digits.length - scale);
  const fracPart = digits.slice(digits.length - scale).replace(/0+$/, '');
  const body = fracPart.length > 0 ? `${intPart}.${fracPart}` : intPart;
  return negative ? `-${body}` : body;
}

/**
 * Moves the decimal point of a decimal string: `shiftDecimal("2.5e-6", 6) === "2.5"`. Exact; the
 * result is a plain decimal (no exponent). Used to turn per-token prices into per-million ones.
 */
export function shiftDecimal(text: string, places: number): string {
  if (!Number.isSafeInteger(places)) throw new RangeError(`shiftDecimal: places must be an integer, got ${String(places)}`);
  const value = parseExactDecimal(text);
  const scale = value.scale - places;
  if (scale <= 0) return (value.units * 10n ** BigInt(-scale)).toString();
  return formatScaled(value.units, scale);
}

/**
 * `numerator / denominator` rounded to the nearest integer, ties to the even neighbour (banker's
 * rounding), exact for any size. The denominator must be positive; the numerator may be negative
 * (ties then go to the even neighbour as well: -2.5 -> -2, -3.5 -> -4).
 */
export function roundHalfEven(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new RangeError(`roundHalfEven: denominator must be positive, got ${denominator}`);
  const quotient = numerator / denominator; // truncates toward zero
  const remainder = numerator % denominator; // same sign as the numerator
  if (remainder === 0n) return quotient;
  const twice = 2n * (remainder < 0n ? -remainder : remainder);
  if (twice > denominator || (twice === denominator && quotient % 2n !== 0n)) {
    return numerator < 0n ? quotient - 1n : quotient + 1n;
  }
  return quotient;
}

/**
 * {@link roundHalfEven} in doubles, for callers that keep amounts below 2^53: exact when
 * |numerator| and denominator are integers at most 2^53 - 1 (`%` on doubles is exact, and so is
 * the division of the multiple that remains). Returns null otherwise, for the BigInt path.
 */
export function roundHalfEvenSafe(numerator: number, denominator: number): number | null {
  if (!(Math.abs(numerator) <= Number.MAX_SAFE_INTEGER) || !(denominator > 0 && denominator <= Number.MAX_SAFE_INTEGER)) return null;
  const remainder = numerator % denominator; // same sign as the numerator, exact
  const quotient = (numerator - remainder) / denominator; // an exact integer: truncated toward zero
  if (remainder === 0) return quotient;
  const twice = 2 * Math.abs(remainder);
  if (twice > denominator || (twice === denominator && quotient % 2 !== 0)) return numerator < 0 ? quotient - 1 : quotient + 1;
  return quotient;
}

function checkDecimals(decimals: number, name: string): void {
  if (!Number.isSafeInteger(decimals) || decimals < 0 || decimals > PICO_DECIMALS) {
    throw new RangeError(`${name}: decimals must be an integer from 0 to ${PICO_DECIMALS}, got ${String(decimals)}`);
  }
}

/**
 * Rounds pico-USD to the currency's minor unit (cents by default), half-even. This is the
 * rounding an invoice does, once, on a total; it is never applied per event.
 */
export function toMinorUnits(pico: bigint, currencyDecimals = 2): bigint {
  checkDecimals(currencyDecimals, 'toMinorUnits');
  return roundHalfEven(pico, 10n ** BigInt(PICO_DECIMALS - currencyDecimals));
}

/**
 * Formats pico-USD as dollars: `formatPico(1_234_500_000_000n) === "$1.2345"`.
 * Without `decimals` the value is exact (trailing zeros trimmed, at least two decimals kept);
 * with `decimals` it is rounded half-even to that many places and padded: `formatPico(x, 2)`.
 * Negative amounts are written `-$0.50`.
 */
export function formatPico(pico: bigint, decimals?: number): string {
  let units = pico;
  let scale = PICO_DECIMALS;
  if (decimals !== undefined) {
    checkDecimals(decimals, 'formatPico');
    units = roundHalfEven(pico, 10n ** BigInt(PICO_DECIMALS - decimals));
    scale = decimals;
  }
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const intPart = digits.slice(0, digits.length - scale);
  let fracPart = digits.slice(digits.length - scale);
  if (decimals === undefined) {
    fracPart = fracPart.replace(/0+$/, '');
    if (fracPart.length < 2) fracPart = fracPart.padEnd(2, '0');
  }
  const body = fracPart.length > 0 ? `${intPart}.${fracPart}` : intPart;
  return negative ? `-$${body}` : `$${body}`;
}

/** Sums pico amounts (exact). */
export function sumPico(amounts: Iterable<bigint>): bigint {
  let total = 0n;
  for (const amount of amounts) total += amount;
  return total;
}
