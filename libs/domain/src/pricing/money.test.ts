import { describe, expect, it } from 'vitest';
import { DecimalError, formatPico, parseDecimal, parseExactDecimal, roundHalfEven, roundHalfEvenSafe, shiftDecimal, toMinorUnits } from './money';

describe('parseDecimal', () => {
  it.each([
    ['2.50', 6, 2_500_000n],
    ['2.5', 6, 2_500_000n],
    ['0', 6, 0n],
    ['0.000', 0, 0n],
    ['0.000003', 6, 3n],
    ['0.000003', 12, 3_000_000n],
    ['1.25e-7', 12, 125_000n],
    ['1.25E-7', 12, 125_000n],
    ['2.5e-6', 12, 2_500_000n],
    ['3e+2', 0, 300n],
    ['3e2', 0, 300n],
    ['15', 6, 15_000_000n],
    ['007.10', 2, 710n],
    ['-1.5', 1, -15n],
    ['1.2300000', 2, 123n], // trailing zeros beyond the scale are fine
    ['123456789012345678901234567890', 0, 123456789012345678901234567890n],
    ['0.1', 12, 100_000_000_000n], // a value no float holds exactly
  ])('parseDecimal(%j, %i) = %s', (text, scale, expected) => {
    expect(parseDecimal(text, scale)).toBe(expected);
  });

  it.each([
    [''],
    [' 1'],
    ['1 '],
    ['.5'],
    ['5.'],
    ['+1'],
    ['1,000'],
    ['1_000'],
    ['0x10'],
    ['NaN'],
    ['Infinity'],
    ['1e'],
    ['e5'],
    ['1.2.3'],
    ['--1'],
    ['$1.00'],
    ['1e99999'],
  ])('rejects %j with an error naming the input', (text) => {
    expect(() => parseDecimal(text, 12)).toThrow(DecimalError);
    expect(() => parseDecimal(text, 12)).toThrow(JSON.stringify(text));
  });

  it.each([
    ['0.0000001', 6],
    ['1.25e-7', 6],
    ['0.125', 2],
  ])('rejects %j at scale %i: more decimal places than the scale holds exactly', (text, scale) => {
    let caught: unknown;
    try {
      parseDecimal(text, scale);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DecimalError);
    expect((caught as DecimalError).reason).toBe('precision');
    expect((caught as DecimalError).message).toContain(JSON.stringify(text));
  });

  it('rejects non-strings', () => {
    expect(() => parseDecimal(2.5 as unknown as string, 6)).toThrow(DecimalError);
  });

  it('normalises to the minimal scale', () => {
    expect(parseExactDecimal('12.500')).toEqual({ units: 125n, scale: 1 });
    expect(parseExactDecimal('1.25e-7')).toEqual({ units: 125n, scale: 9 });
    expect(parseExactDecimal('1e3')).toEqual({ units: 1000n, scale: 0 });
    expect(parseExactDecimal('-0.0')).toEqual({ units: 0n, scale: 0 });
  });
});

describe('shiftDecimal', () => {
  it.each([
    ['2.5e-6', 6, '2.5'],
    ['0.0000025', 6, '2.5'],
    ['1.25e-7', 6, '0.125'],
    ['3.125e-7', 6, '0.3125'],
    ['0.00001', 6, '10'],
    ['0', 6, '0'],
    ['1e-12', 6, '0.000001'],
    ['42', 0, '42'],
  ])('shiftDecimal(%j, %i) = %j', (text, places, expected) => {
    expect(shiftDecimal(text, places)).toBe(expected);
  });
});

describe('roundHalfEven', () => {
  it.each([
    [5n, 2n, 2n], // 2.5 -> 2
    [7n, 2n, 4n], // 3.5 -> 4
    [-5n, 2n, -2n],
    [-7n, 2n, -4n],
    [1n, 3n, 0n],
    [2n, 3n, 1n],
    [-2n, 3n, -1n],
    [10n, 5n, 2n],
    [0n, 7n, 0n],
    [15n, 10n, 2n],
    [25n, 10n, 2n],
    [251n, 100n, 3n],
    [249n, 100n, 2n],
    [2n ** 80n + 1n, 2n, 2n ** 79n], // x.5 with an even quotient
  ])('roundHalfEven(%s, %s) = %s', (n, d, expected) => {
    expect(roundHalfEven(n, d)).toBe(expected);
  });

  it('rejects a non-positive denominator', () => {
    expect(() => roundHalfEven(1n, 0n)).toThrow(RangeError);
    expect(() => roundHalfEven(1n, -2n)).toThrow(RangeError);
  });
});

describe('toMinorUnits', () => {
  it.each([
    [12_345_000_000_000n, 2, 1234n], // $12.345: 1234.5 cents, tie to the even 1234
    [12_355_000_000_000n, 2, 1236n],
    [12_365_000_000_000n, 2, 1236n],
    [5_000_000_000n, 2, 0n], // $0.005 -> 0 cents (tie to even)
    [15_000_000_000n, 2, 2n], // $0.015 -> 2 cents
    [15_000_000_001n, 2, 2n],
    [-15_000_000_000n, 2, -2n],
    [1_500_000_000_000n, 0, 2n], // 1.5 JPY-style -> 2
    [999n, 12, 999n],
  ])('toMinorUnits(%s, %i) = %s', (pico, decimals, expected) => {
    expect(toMinorUnits(pico, decimals)).toBe(expected);
  });

  it('defaults to cents', () => {
    expect(toMinorUnits(1_004_999_999_999n)).toBe(100n);
  });
});

describe('formatPico', () => {
  it.each([
    [0n, undefined, '$0.00'],
    [1n, undefined, '$0.000000000001'],
    [2_500_000n, undefined, '$0.0000025'],
    [1_000_000_000_000n, undefined, '$1.00'],
    [1_234_500_000_000n, undefined, '$1.2345'],
    [-500_000_000_000n, undefined, '-$0.50'],
    [1_234_500_000_000n, 2, '$1.23'],
    [1_235_500_000_000n, 3, '$1.236'],
    [1_234_500_000_000n, 3, '$1.234'],
    [1_000_000_000_000n, 0, '$1'],
    [2n ** 70n, 2, '$1180591620.72'],
  ])('formatPico(%s, %s) = %j', (pico, decimals, expected) => {
    expect(formatPico(pico, decimals)).toBe(expected);
  });
});

describe('roundHalfEvenSafe (doubles) equals roundHalfEven (BigInt) wherever it answers', () => {
  const MAX = Number.MAX_SAFE_INTEGER;
  it.each<[number, number]>([
    [0, 7], [5, 10], [15, 10], [25, 10], [-5, 10], [-15, 10], [-25, 10], [14, 10], [16, 10], [-16, 10],
    [1, 3], [2, 3], [-2, 3], [10_800 * 2_500_000_123, 10_000], [MAX, 2], [-MAX, 2], [MAX, MAX], [MAX - 1, MAX],
  ])('%s / %s', (numerator, denominator) => {
    expect(roundHalfEvenSafe(numerator, denominator)).toBe(Number(roundHalfEven(BigInt(numerator), BigInt(denominator))));
  });
  it.each<[number, number]>([[MAX + 1, 3], [-(MAX + 1), 3], [7, 0], [7, -1], [7, MAX + 1], [Number.NaN, 3]])('declines %s / %s', (numerator, denominator) => {
    expect(roundHalfEvenSafe(numerator, denominator)).toBeNull();
  });
  it('agrees on 20,000 random pairs', () => {
    let seed = 11;
    const rand = (): number => (seed = (seed * 48_271) % 2_147_483_647);
    for (let i = 0; i < 20_000; i++) {
      const numerator = (rand() * 2_097_152 + rand()) % MAX * (rand() % 2 === 0 ? 1 : -1);
      const denominator = 1 + (rand() % (i % 2 === 0 ? 20_000 : 2_000_000_000));
      expect(roundHalfEvenSafe(numerator, denominator)).toBe(Number(roundHalfEven(BigInt(numerator), BigInt(denominator))));
    }
  });
});
