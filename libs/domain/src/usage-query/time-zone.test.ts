import { describe, expect, it } from 'vitest';
import { zoneFitsHours } from './time-zone';

const JAN = Date.UTC(2026, 0, 1);
const DEC = Date.UTC(2026, 11, 31);

describe('zoneFitsHours', () => {
  it.each([
    { zone: 'UTC', fits: true },
    { zone: 'Europe/Paris', fits: true }, // DST moves by whole hours
    { zone: 'America/New_York', fits: true },
    { zone: 'Asia/Kolkata', fits: false }, // +05:30
    { zone: 'Asia/Kathmandu', fits: false }, // +05:45
    { zone: 'Australia/Lord_Howe', fits: false }, // +10:30, half-hour DST
  ])('$zone over 2026: $fits', ({ zone, fits }) => {
    expect(zoneFitsHours(zone, JAN, DEC)).toBe(fits);
  });

  it('refuses a name that is not a zone', () => {
    expect(() => zoneFitsHours('Mars/Olympus', JAN, DEC)).toThrow(RangeError);
  });
});
