import { describe, expect, it } from 'vitest';
import { isValidTimeZone, quotaPeriod, zoneOffsetMs, type QuotaPeriodKind } from './period';

const HOUR = 3_600_000;
const at = (iso: string): number => Date.parse(iso);

// Expected values checked against the system tzdata with `zdump -v` (independent of ICU).
describe('quotaPeriod', () => {
  it.each<[string, string, QuotaPeriodKind, string, string, string, string, number]>([
    // [what, zone, kind, event (UTC), label, start (UTC), end (UTC), hours]
    ['UTC day', 'UTC', 'day', '2026-11-23T12:34:56.789Z', '2026-11-23', '2026-11-23T00:00:00Z', '2026-11-24T00:00:00Z', 24],
    ['UTC month', 'UTC', 'month', '2026-11-23T12:00:00Z', '2026-11', '2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z', 30 * 24],
    ['UTC December rolls the year', 'UTC', 'month', '2026-12-31T23:59:59.999Z', '2026-12', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z', 31 * 24],
    ['UTC last day of the year', 'UTC', 'day', '2026-12-31T23:59:59.999Z', '2026-12-31', '2026-12-31T00:00:00Z', '2027-01-01T00:00:00Z', 24],
    ['Etc/UTC', 'Etc/UTC', 'day', '2026-11-23T12:00:00Z', '2026-11-23', '2026-11-23T00:00:00Z', '2026-11-24T00:00:00Z', 24],
    ['leap February (2028)', 'UTC', 'month', '2028-02-29T12:00:00Z', '2028-02', '2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z', 29 * 24],
    ['leap day itself', 'UTC', 'day', '2028-02-29T23:00:00Z', '2028-02-29', '2028-02-29T00:00:00Z', '2028-03-01T00:00:00Z', 24],
    ['common February (2026)', 'UTC', 'month', '2026-02-28T23:59:59.999Z', '2026-02', '2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z', 28 * 24],
    ['February 2100 is not leap', 'UTC', 'month', '2100-02-15T00:00:00Z', '2100-02', '2100-02-01T00:00:00Z', '2100-03-01T00:00:00Z', 28 * 24],
    ['leap February, Berlin', 'Europe/Berlin', 'month', '2028-02-10T00:00:00Z', '2028-02', '2028-01-31T23:00:00Z', '2028-02-29T23:00:00Z', 29 * 24],
    // Europe/Berlin: CET +1, CEST +2 from 2026-03-29 01:00Z to 2026-10-25 01:00Z
    ['Berlin winter day', 'Europe/Berlin', 'day', '2026-01-15T12:00:00Z', '2026-01-15', '2026-01-14T23:00:00Z', '2026-01-15T23:00:00Z', 24],
    ['Berlin summer day', 'Europe/Berlin', 'day', '2026-07-15T12:00:00Z', '2026-07-15', '2026-07-14T22:00:00Z', '2026-07-15T22:00:00Z', 24],
    ['Berlin spring forward (23 h)', 'Europe/Berlin', 'day', '2026-03-29T12:00:00Z', '2026-03-29', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', 23],
    ['Berlin fall back (25 h)', 'Europe/Berlin', 'day', '2026-10-25T12:00:00Z', '2026-10-25', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z', 25],
    ['Berlin March (one hour short)', 'Europe/Berlin', 'month', '2026-03-15T12:00:00Z', '2026-03', '2026-02-28T23:00:00Z', '2026-03-31T22:00:00Z', 31 * 24 - 1],
    ['Berlin October (one hour long)', 'Europe/Berlin', 'month', '2026-10-15T12:00:00Z', '2026-10', '2026-09-30T22:00:00Z', '2026-10-31T23:00:00Z', 31 * 24 + 1],
    ['Berlin: 23:30Z on Nov 30 is already December', 'Europe/Berlin', 'month', '2026-11-30T23:30:00Z', '2026-12', '2026-11-30T23:00:00Z', '2026-12-31T23:00:00Z', 31 * 24],
    ['Berlin: new year local, old year UTC', 'Europe/Berlin', 'day', '2026-12-31T23:30:00Z', '2027-01-01', '2026-12-31T23:00:00Z', '2027-01-01T23:00:00Z', 24],
    // America/New_York: EST -5, EDT -4 from 2026-03-08 07:00Z to 2026-11-01 06:00Z
    ['New York spring forward (23 h)', 'America/New_York', 'day', '2026-03-08T12:00:00Z', '2026-03-08', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z', 23],
    ['New York fall back (25 h)', 'America/New_York', 'day', '2026-11-01T12:00:00Z', '2026-11-01', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z', 25],
    ['New York: the repeated 01:30 (second time) is Nov 1', 'America/New_York', 'day', '2026-11-01T06:30:00Z', '2026-11-01', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z', 25],
    ['New York: 02:00Z Nov 1 is still Oct 31 local', 'America/New_York', 'day', '2026-11-01T02:00:00Z', '2026-10-31', '2026-10-31T04:00:00Z', '2026-11-01T04:00:00Z', 24],
    ['New York: Nov 30 evening local is still November', 'America/New_York', 'month', '2026-12-01T04:59:59.999Z', '2026-11', '2026-11-01T04:00:00Z', '2026-12-01T05:00:00Z', 30 * 24 + 1],
    ['New York March (one hour short)', 'America/New_York', 'month', '2026-03-20T00:00:00Z', '2026-03', '2026-03-01T05:00:00Z', '2026-04-01T04:00:00Z', 31 * 24 - 1],
    // Asia/Kolkata +5:30, no DST
    ['Kolkata day', 'Asia/Kolkata', 'day', '2026-11-23T12:00:00Z', '2026-11-23', '2026-11-22T18:30:00Z', '2026-11-23T18:30:00Z', 24],
    ['Kolkata: 19:00Z is the next day', 'Asia/Kolkata', 'day', '2026-11-23T19:00:00Z', '2026-11-24', '2026-11-23T18:30:00Z', '2026-11-24T18:30:00Z', 24],
    ['Kolkata month', 'Asia/Kolkata', 'month', '2026-11-23T12:00:00Z', '2026-11', '2026-10-31T18:30:00Z', '2026-11-30T18:30:00Z', 30 * 24],
    // Pacific/Chatham: +12:45, +13:45 from 2026-09-26 14:00Z to 2027-04-03 14:00Z
    ['Chatham summer (+13:45)', 'Pacific/Chatham', 'day', '2026-11-23T12:00:00Z', '2026-11-24', '2026-11-23T10:15:00Z', '2026-11-24T10:15:00Z', 24],
    ['Chatham winter (+12:45)', 'Pacific/Chatham', 'day', '2026-07-15T00:00:00Z', '2026-07-15', '2026-07-14T11:15:00Z', '2026-07-15T11:15:00Z', 24],
    ['Chatham spring forward at 02:45 local (23 h)', 'Pacific/Chatham', 'day', '2026-09-27T00:00:00Z', '2026-09-27', '2026-09-26T11:15:00Z', '2026-09-27T10:15:00Z', 23],
    ['Chatham month', 'Pacific/Chatham', 'month', '2026-11-23T12:00:00Z', '2026-11', '2026-10-31T10:15:00Z', '2026-11-30T10:15:00Z', 30 * 24],
    // Australia/Lord_Howe: a half-hour DST shift (+11 -> +10:30 on 2026-04-04 15:00Z)
    ['Lord Howe fall back half an hour (24.5 h)', 'Australia/Lord_Howe', 'day', '2026-04-05T12:00:00Z', '2026-04-05', '2026-04-04T13:00:00Z', '2026-04-05T13:30:00Z', 24.5],
    // Midnight itself moved by DST
    ['Santiago: midnight skipped, day starts 01:00', 'America/Santiago', 'day', '2026-09-06T12:00:00Z', '2026-09-06', '2026-09-06T04:00:00Z', '2026-09-07T03:00:00Z', 23],
    ['Santiago: the day before ends at the gap', 'America/Santiago', 'day', '2026-09-06T03:59:59.999Z', '2026-09-05', '2026-09-05T04:00:00Z', '2026-09-06T04:00:00Z', 24],
    ['Santiago: 23:00-24:00 twice (25 h)', 'America/Santiago', 'day', '2026-04-05T03:30:00Z', '2026-04-04', '2026-04-04T03:00:00Z', '2026-04-05T04:00:00Z', 25],
    ['Santiago September (one hour short)', 'America/Santiago', 'month', '2026-09-20T00:00:00Z', '2026-09', '2026-09-01T04:00:00Z', '2026-10-01T03:00:00Z', 30 * 24 - 1],
    ['Havana: midnight twice, the first one starts the day', 'America/Havana', 'day', '2026-11-01T04:30:00Z', '2026-11-01', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z', 25],
    ['Havana: midnight skipped', 'America/Havana', 'day', '2026-03-08T12:00:00Z', '2026-03-08', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z', 23],
    ['Beirut: midnight skipped (east of UTC)', 'Asia/Beirut', 'day', '2026-03-29T12:00:00Z', '2026-03-29', '2026-03-28T22:00:00Z', '2026-03-29T21:00:00Z', 23],
    ['Beirut: 23:00-24:00 twice (east of UTC)', 'Asia/Beirut', 'day', '2026-10-24T21:30:00Z', '2026-10-24', '2026-10-23T21:00:00Z', '2026-10-24T22:00:00Z', 25],
    // Samoa skipped 2011-12-30 entirely (-10 -> +14 at 2011-12-30 10:00Z)
    ['Apia: the day before the skipped day', 'Pacific/Apia', 'day', '2011-12-29T22:00:00Z', '2011-12-29', '2011-12-29T10:00:00Z', '2011-12-30T10:00:00Z', 24],
    ['Apia: the day after', 'Pacific/Apia', 'day', '2011-12-30T10:00:00Z', '2011-12-31', '2011-12-30T10:00:00Z', '2011-12-31T10:00:00Z', 24],
    ['Apia: December 2011 had 30 days', 'Pacific/Apia', 'month', '2011-12-15T00:00:00Z', '2011-12', '2011-12-01T10:00:00Z', '2011-12-31T10:00:00Z', 30 * 24],
    // Offset zone
    ['fixed offset zone +05:30', '+05:30', 'day', '2026-11-23T12:00:00Z', '2026-11-23', '2026-11-22T18:30:00Z', '2026-11-23T18:30:00Z', 24],
  ])('%s', (_what, zone, kind, event, label, start, end, hours) => {
    const p = quotaPeriod({ period: kind, time_zone: zone }, at(event));
    expect(p).toEqual({ label, start: at(start), end: at(end) });
    expect((p.end - p.start) / HOUR).toBe(hours);
  });

  it.each<[string, QuotaPeriodKind, string]>([
    ['UTC', 'day', '2026-11-24T00:00:00Z'],
    ['UTC', 'month', '2026-12-01T00:00:00Z'],
    ['Europe/Berlin', 'day', '2026-03-29T22:00:00Z'],
    ['America/New_York', 'day', '2026-11-02T05:00:00Z'],
    ['America/New_York', 'month', '2026-12-01T05:00:00Z'],
    ['Asia/Kolkata', 'day', '2026-11-23T18:30:00Z'],
    ['Pacific/Chatham', 'month', '2026-11-30T10:15:00Z'],
    ['America/Santiago', 'day', '2026-09-06T04:00:00Z'],
  ])('the boundary millisecond belongs to the next period (%s %s at %s)', (zone, kind, boundaryIso) => {
    const boundary = at(boundaryIso);
    const before = quotaPeriod({ period: kind, time_zone: zone }, boundary - 1);
    const after = quotaPeriod({ period: kind, time_zone: zone }, boundary);
    expect(before.end).toBe(boundary);
    expect(after.start).toBe(boundary);
    expect(after.label).not.toBe(before.label);
  });

  it.each([['UTC'], ['Europe/Berlin'], ['America/New_York'], ['Asia/Kolkata'], ['Pacific/Chatham'], ['America/Santiago'], ['America/Havana'], ['Australia/Lord_Howe']])(
    'days and months of 2026 in %s tile time, each starting at the first instant of its local date',
    (zone) => {
      const dayFmt = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
      const localDate = (t: number): string => dayFmt.format(t);
      for (const kind of ['day', 'month'] as const) {
        let previous = quotaPeriod({ period: kind, time_zone: zone }, at('2025-12-30T00:00:00Z'));
        let count = 0;
        while (previous.label < '2027') {
          const next = quotaPeriod({ period: kind, time_zone: zone }, previous.end);
          expect(next.start).toBe(previous.end);
          expect(localDate(next.start).startsWith(next.label)).toBe(true);
          expect(localDate(next.start - 1).startsWith(next.label)).toBe(false);
          // a mid-period instant (not just the boundary) maps to the same period
          const mid = next.start + Math.floor((next.end - next.start) / 2);
          expect(quotaPeriod({ period: kind, time_zone: zone }, mid)).toEqual(next);
          if (next.label.startsWith('2026')) count++;
          previous = next;
        }
        expect(count).toBe(kind === 'day' ? 365 : 12);
      }
    },
  );

  it('defaults to UTC', () => {
    expect(quotaPeriod({ period: 'day' }, at('2026-11-23T23:59:59.999Z')).label).toBe('2026-11-23');
  });

  it('returns a fresh object each time (callers may keep or change it)', () => {
    const a = quotaPeriod({ period: 'day', time_zone: 'UTC' }, at('2026-11-23T01:00:00Z'));
    a.start = 0;
    expect(quotaPeriod({ period: 'day', time_zone: 'UTC' }, at('2026-11-23T02:00:00Z')).start).toBe(at('2026-11-23T00:00:00Z'));
  });

  it.each([
    ['unknown zone', 'Mars/Olympus_Mons', 0, /unknown time zone "Mars\/Olympus_Mons"/],
    ['NaN time', 'UTC', Number.NaN, /finite/],
  ])('throws a RangeError for %s', (_what, zone, time, message) => {
    expect(() => quotaPeriod({ period: 'day', time_zone: zone }, time)).toThrow(RangeError);
    expect(() => quotaPeriod({ period: 'day', time_zone: zone }, time)).toThrow(message);
  });
});

describe('zoneOffsetMs', () => {
  it.each([
    ['UTC', '2026-07-01T00:00:00Z', 0],
    ['Europe/Berlin', '2026-03-29T00:59:59.999Z', HOUR],
    ['Europe/Berlin', '2026-03-29T01:00:00Z', 2 * HOUR],
    ['America/New_York', '2026-11-01T05:59:59Z', -4 * HOUR],
    ['America/New_York', '2026-11-01T06:00:00Z', -5 * HOUR],
    ['Asia/Kolkata', '2026-01-01T00:00:00Z', 5.5 * HOUR],
    ['Pacific/Chatham', '2026-11-23T00:00:00Z', 13.75 * HOUR],
    ['Pacific/Chatham', '2026-07-01T00:00:00Z', 12.75 * HOUR],
  ])('%s at %s', (zone, iso, offset) => {
    expect(zoneOffsetMs(zone, at(iso))).toBe(offset);
  });
});

describe('isValidTimeZone', () => {
  it.each([
    ['UTC', true],
    ['Europe/Berlin', true],
    ['america/new_york', true],
    ['Asia/Kolkata', true],
    ['+05:30', true],
    ['Mars/Olympus_Mons', false],
    ['', false],
    ['Europe/Berlin ', false],
  ])('%j -> %s', (zone, valid) => {
    expect(isValidTimeZone(zone)).toBe(valid);
  });
});
