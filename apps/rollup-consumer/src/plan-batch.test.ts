import { describe, expect, it } from 'vitest';
import { joinPico, splitPico, thresholdTrigger } from './plan-batch';

describe('splitPico', () => {
  const MAX = BigInt(Number.MAX_SAFE_INTEGER);
  it.each([
    [0n, '0', '0'],
    [1n, '0', '1'],
    [999_999n, '0', '999999'],
    [1_000_000n, '1', '0'],
    [1_234_567_890n, '1234', '567890'],
    [-1n, '-1', '999999'],
    [-1_000_000n, '-1', '0'],
    [-1_000_001n, '-2', '999999'],
    [MAX, '9007199254', '740991'],
    [-MAX, '-9007199255', '259009'],
    // Past 2^53 the BigInt path takes over; the split is the same rule.
    [MAX + 1n, '9007199254', '740992'],
    [2n ** 63n - 1n, '9223372036854', '775807'],
    [-(2n ** 70n), '-1180591620717412', '696576'],
  ])('%s -> (%s, %s) with 0 <= lo < 10^6, and joins back', (amount, hi, lo) => {
    const [h, l] = splitPico(amount);
    expect([String(h), String(l)]).toEqual([hi, lo]);
    expect(joinPico(h, l)).toBe(amount);
  });

  it('agrees with the BigInt split on random amounts around the double boundary', () => {
    let seed = 7n;
    for (let i = 0; i < 2_000; i++) {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
      const amount = (seed % (4n * MAX)) - 2n * MAX;
      const [h, l] = splitPico(amount);
      const lo = ((amount % 1_000_000n) + 1_000_000n) % 1_000_000n;
      expect([BigInt(h), BigInt(l)]).toEqual([(amount - lo) / 1_000_000n, lo]);
    }
  });
});

describe('thresholdTrigger', () => {
  it.each([
    [100n, 50, 50n],
    [3n, 50, 2n],
    [10n ** 15n, 80, 8n * 10n ** 14n],
    [2n ** 63n - 1n, 100, 2n ** 63n - 1n],
  ])('limit %s at %s%% triggers at %s', (limit, threshold, trigger) => {
    expect(thresholdTrigger(limit, threshold)).toBe(trigger);
  });
});
