import { describe, expect, it } from 'vitest';
import { wholeUtcDays, zoneIsUtc } from './day-span';

const at = (iso: string) => Date.parse(iso);

describe('wholeUtcDays', () => {
  it.each([
    { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', days: ['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'] },
    { from: '2026-11-01T05:00:00Z', to: '2026-11-03T07:00:00Z', days: ['2026-11-02T00:00:00.000Z', '2026-11-03T00:00:00.000Z'] },
    { from: '2026-11-01T05:00:00Z', to: '2026-11-02T07:00:00Z', days: undefined }, // no whole day inside
    { from: '2026-11-01T00:00:00Z', to: '2026-11-01T23:00:00Z', days: undefined },
    { from: '2026-11-01T00:00:00Z', to: '2026-11-02T00:00:00Z', days: ['2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z'] },
  ])('[$from, $to)', ({ from, to, days }) => {
    const span = wholeUtcDays(at(from), at(to));
    expect(span === undefined ? undefined : [new Date(span.fromMs).toISOString(), new Date(span.toMs).toISOString()]).toEqual(days);
  });
});

describe('zoneIsUtc', () => {
  const JAN = at('2026-01-01T00:00:00Z');
  const DEC = at('2026-12-31T00:00:00Z');
  it.each([
    { zone: 'UTC', utc: true },
    { zone: 'Etc/GMT', utc: true },
    { zone: 'Africa/Abidjan', utc: true },
    { zone: 'Europe/London', utc: false }, // BST in summer
    { zone: 'Europe/Paris', utc: false },
    { zone: 'Asia/Kolkata', utc: false },
  ])('$zone over 2026: $utc', ({ zone, utc }) => {
    expect(zoneIsUtc(zone, JAN, DEC)).toBe(utc);
  });

  it('Europe/London in a winter month is UTC', () => {
    expect(zoneIsUtc('Europe/London', at('2026-12-01T00:00:00Z'), at('2026-12-31T00:00:00Z'))).toBe(true);
  });

  it('refuses a name that is not a zone', () => {
    expect(() => zoneIsUtc('Mars/Olympus', JAN, DEC)).toThrow(RangeError);
  });
});
