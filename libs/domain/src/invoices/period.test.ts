import { describe, expect, it } from 'vitest';
import { nextPeriod, periodBounds, periodClosableAt, periodOf, previousPeriod } from './period';

describe('billing periods (UTC months)', () => {
  it.each([
    ['2026-01', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z'],
    ['2026-02', '2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
    ['2028-02', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
    ['2026-12', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
  ])('%s spans [%s, %s)', (period, start, end) => {
    const b = periodBounds(period);
    expect(new Date(b.startMs).toISOString()).toBe(start);
    expect(new Date(b.endMs).toISOString()).toBe(end);
  });

  it.each([
    ['2026-01-31T23:59:59.999Z', '2026-01'],
    ['2026-02-01T00:00:00.000Z', '2026-02'],
    ['2026-12-31T23:59:59.999Z', '2026-12'],
  ])('%s is in %s', (instant, period) => expect(periodOf(Date.parse(instant))).toBe(period));

  it.each([
    ['2026-01', '2025-12', '2026-02'],
    ['2026-12', '2026-11', '2027-01'],
    ['2026-06', '2026-05', '2026-07'],
  ])('around %s: previous %s, next %s', (period, prev, next) => {
    expect(previousPeriod(period)).toBe(prev);
    expect(nextPeriod(period)).toBe(next);
  });

  it.each([
    ['2026-01', 0, '2026-02-01T00:00:00.000Z'],
    ['2026-01', 2 * 3_600_000, '2026-02-01T02:00:00.000Z'],
    ['2026-12', 90 * 60_000, '2027-01-01T01:30:00.000Z'],
  ])('%s with %d ms of allowed lateness may close from %s', (period, lateness, at) => {
    expect(new Date(periodClosableAt(period, lateness)).toISOString()).toBe(at);
  });

  it.each(['2026-13', '2026-1', 'jan', ''])('rejects %j with the field and the expected form', (bad) => {
    expect(() => periodBounds(bad)).toThrow(/period: expected a month "YYYY-MM"/);
  });
});
