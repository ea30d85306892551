import { describe, expect, it } from 'vitest';
import { projectToPeriodEnd } from './period-projection';

const NOV = { startMs: Date.UTC(2026, 10, 1), endMs: Date.UTC(2026, 11, 1) }; // 30 days

describe('projectToPeriodEnd', () => {
  it.each([
    { case: 'a third of the way: three times', amount: 1_000n, now: Date.UTC(2026, 10, 11), projected: 3_000n },
    { case: 'half way: twice', amount: 7n, now: Date.UTC(2026, 10, 16), projected: 14n },
    { case: 'rounded down', amount: 10n, now: Date.UTC(2026, 10, 8), projected: 42n }, // 10 * 30 / 7 = 42.86
    { case: 'money far past 2^53 stays exact', amount: 123_456_789_012_345_678_901n, now: Date.UTC(2026, 10, 16), projected: 246_913_578_024_691_357_802n },
    { case: 'nothing used', amount: 0n, now: Date.UTC(2026, 10, 20), projected: 0n },
    { case: 'over: as it is', amount: 5n, now: Date.UTC(2026, 11, 3), projected: 5n },
    { case: 'at the end: as it is', amount: 5n, now: NOV.endMs, projected: 5n },
    { case: 'not begun: as it is', amount: 5n, now: Date.UTC(2026, 9, 3), projected: 5n },
  ])('$case', ({ amount, now, projected }) => {
    expect(projectToPeriodEnd(amount, NOV, now)).toBe(projected);
  });
});
