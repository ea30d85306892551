import { describe, expect, it } from 'vitest';
import { HOUR_MS, hourStart, lateness } from './hour';

const H = Date.UTC(2026, 10, 23, 14); // 2026-11-23T14:00:00Z
const MIN = 60_000;

describe('hourStart', () => {
  it.each([
    ['the hour itself', H, H],
    ['one ms into the hour', H + 1, H],
    ['the last ms of the hour', H + HOUR_MS - 1, H],
    ['the next hour', H + HOUR_MS, H + HOUR_MS],
    ['epoch', 0, 0],
    ['just before epoch', -1, -HOUR_MS],
    ['one hour before epoch exactly', -HOUR_MS, -HOUR_MS],
    ['a fraction of a ms', H + 0.5, H],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - (Number.MAX_SAFE_INTEGER % HOUR_MS)],
    ['an ISO instant', Date.parse('2026-03-08T06:59:59.999Z'), Date.parse('2026-03-08T06:00:00Z')],
  ])('%s', (_what, ms, expected) => {
    expect(hourStart(ms)).toBe(expected);
    expect(hourStart(ms) % HOUR_MS === 0).toBe(true);
  });

  it.each([[Number.NaN], [Number.POSITIVE_INFINITY]])('rejects %s', (ms) => {
    expect(() => hourStart(ms)).toThrow(RangeError);
  });
});

describe('lateness', () => {
  it.each([
    // [what, occurred_at, watermark, allowed lateness, late, beyondAllowed]
    ['watermark inside the hour', H + 10 * MIN, H + 30 * MIN, 5 * MIN, false, false],
    ['watermark before the hour (event ahead)', H + 10 * MIN, H - MIN, 5 * MIN, false, false],
    ['watermark 1 ms before the hour ends', H + 59 * MIN, H + HOUR_MS - 1, 0, false, false],
    ['watermark exactly at the end of the hour', H + 59 * MIN, H + HOUR_MS, 5 * MIN, true, false],
    ['within allowed lateness', H, H + HOUR_MS + 4 * MIN, 5 * MIN, true, false],
    ['1 ms before the hour closes', H + 1, H + HOUR_MS + 5 * MIN - 1, 5 * MIN, true, false],
    ['exactly when the hour closes', H + 1, H + HOUR_MS + 5 * MIN, 5 * MIN, true, true],
    ['zero allowed lateness: late is beyond', H, H + HOUR_MS, 0, true, true],
    ['days late', H, H + 48 * HOUR_MS, 5 * MIN, true, true],
  ])('%s', (_what, occurredAt, watermark, allowed, late, beyondAllowed) => {
    expect(lateness(occurredAt, watermark, allowed)).toEqual({ late, beyondAllowed });
  });

  it.each([
    ['negative allowed lateness', H, H, -1],
    ['NaN watermark', H, Number.NaN, 0],
    ['NaN occurred_at', Number.NaN, H, 0],
  ])('rejects %s', (_what, occurredAt, watermark, allowed) => {
    expect(() => lateness(occurredAt, watermark, allowed)).toThrow(RangeError);
  });
});
