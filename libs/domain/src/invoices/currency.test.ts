import { describe, expect, it } from 'vitest';
import { toMinorUnits } from '../pricing/money';
import { currencyMinorUnit, exactQuotient, formatMinor, formatMinorGrouped, parseExchangeRate, picoToMinor } from './currency';
import { InvoiceInputError } from './errors';

const CENT = 10_000_000_000n; // pico-USD in one US cent

describe('picoToMinor', () => {
  it.each<[string, bigint, bigint]>([
    ['half a cent rounds to the even 0', 5_000_000_000n, 0n],
    ['1.5 cents rounds up to the even 2', 15_000_000_000n, 2n],
    ['2.5 cents rounds down to the even 2', 25_000_000_000n, 2n],
    ['3.5 cents rounds up to the even 4', 35_000_000_000n, 4n],
    ['one pico over half a cent rounds up', 5_000_000_001n, 1n],
    ['one pico under half a cent rounds down', 4_999_999_999n, 0n],
    ['$1.2345 (123.45 cents) rounds down', 1_234_500_000_000n, 123n],
    ['$1.2355 (123.55 cents) rounds up', 1_235_500_000_000n, 124n],
    ['exact cents stay', 370n * CENT, 370n],
    ['zero', 0n, 0n],
  ])('USD: %s', (_what, pico, cents) => {
    expect(picoToMinor(pico, 2)).toBe(cents);
    // With the rate 1 it is exactly money.ts's toMinorUnits.
    expect(picoToMinor(pico, 2)).toBe(toMinorUnits(pico, 2));
  });

  it.each<[string, bigint, string, bigint]>([
    ['$1 at 150 JPY', 1_000_000_000_000n, '150', 150n],
    ['$0.01 at 150 = 1.5 yen, tie up to 2', CENT, '150', 2n],
    ['$0.03 at 150 = 4.5 yen, tie down to 4', 3n * CENT, '150', 4n],
    ['$1 at 150.5 = 150.5 yen, tie down to 150', 1_000_000_000_000n, '150.5', 150n],
    ['$1 at 151.5 = 151.5 yen, tie up to 152', 1_000_000_000_000n, '151.5', 152n],
    ['$0.001 at 149.99 = 0.14999 yen', 100_000_000n * 10n, '149.99', 0n],
  ])('JPY (0 decimals): %s', (_what, pico, rate, yen) => {
    expect(picoToMinor(pico, currencyMinorUnit('JPY'), parseExchangeRate('JPY', rate))).toBe(yen);
  });

  it.each<[string, bigint, string, string, bigint]>([
    ['$10 at 0.9137 EUR = 913.7 cents', 10_000_000_000_000n, 'EUR', '0.9137', 914n],
    ['$0.05 at 0.9 EUR = 4.5 cents, tie down', 5n * CENT, 'EUR', '0.9', 4n],
    ['$1 at 0.3075 KWD = 307.5 fils, tie up', 1_000_000_000_000n, 'KWD', '0.3075', 308n],
  ])('other currencies: %s', (_what, pico, currency, rate, minor) => {
    expect(picoToMinor(pico, currencyMinorUnit(currency), parseExchangeRate(currency, rate))).toBe(minor);
  });
});

describe('currencyMinorUnit', () => {
  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KWD', 3],
  ])('%s has %i decimals', (code, decimals) => {
    expect(currencyMinorUnit(code)).toBe(decimals);
  });

  it.each(['XYZ', 'usd', '', 'toString', '__proto__'])('rejects %j', (code) => {
    expect(() => currencyMinorUnit(code)).toThrow(InvoiceInputError);
  });
});

describe('parseExchangeRate', () => {
  it('USD needs no rate, and a given one must be 1', () => {
    expect(parseExchangeRate('USD', undefined)).toEqual({ text: '1', units: 1n, scale: 0 });
    expect(parseExchangeRate('USD', '1.00')).toEqual({ text: '1.00', units: 1n, scale: 0 });
    expect(() => parseExchangeRate('USD', '1.01')).toThrow(/exchange_rate 1/);
  });

  it('other currencies need a positive exact decimal', () => {
    expect(parseExchangeRate('EUR', '0.9137')).toEqual({ text: '0.9137', units: 9137n, scale: 4 });
    expect(() => parseExchangeRate('EUR', undefined)).toThrow(/needs exchange_rate/);
    expect(() => parseExchangeRate('EUR', '0')).toThrow(/positive/);
    expect(() => parseExchangeRate('EUR', '-0.9')).toThrow(/positive/);
    expect(() => parseExchangeRate('EUR', '0,91')).toThrow(InvoiceInputError);
  });
});

describe('exactQuotient', () => {
  it.each<[bigint, bigint, string | null]>([
    [3n, 1n, '3'],
    [27n, 10n, '2.7'],
    [1n, 8n, '0.125'],
    [6n, 12n, '0.5'],
    [0n, 7n, '0'],
    [-1n, 4n, '-0.25'],
    [2_500_000_000n, 1_000n * 1_000_000n, '2.5'],
    [1n, 3n, null],
    [1n, 6n, null],
    [5_000_003n, 3_000_000n, null],
  ])('%s / %s = %s', (num, den, expected) => {
    expect(exactQuotient(num, den)).toBe(expected);
  });
});

describe('formatMinor', () => {
  it.each<[bigint, number, string, string]>([
    [370n, 2, '3.70', '3.70'],
    [-370n, 2, '-3.70', '-3.70'],
    [5n, 2, '0.05', '0.05'],
    [-5n, 2, '-0.05', '-0.05'],
    [1500n, 0, '1500', '1,500'],
    [7n, 3, '0.007', '0.007'],
    [123456789n, 2, '1234567.89', '1,234,567.89'],
    [-100000000n, 0, '-100000000', '-100,000,000'],
    [0n, 2, '0.00', '0.00'],
  ])('%s with %i decimals: %s (grouped %s)', (amount, decimals, plain, grouped) => {
    expect(formatMinor(amount, decimals)).toBe(plain);
    expect(formatMinorGrouped(amount, decimals)).toBe(grouped);
  });
});
