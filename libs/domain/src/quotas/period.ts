/**
 * Quota periods: a calendar day or month in the tenant's time zone.
 *
 * A period is `[start, end)` in epoch ms (UTC instants); `end` is exclusive and is the `start` of
 * the next period, so periods tile time with no gap and no overlap. Days are not always 24 hours:
 * in America/New_York the spring-forward day has 23 and the fall-back day 25. A day starts at the
 * first instant whose local date is that day: local midnight, or, where a DST change skips
 * midnight (America/Santiago, America/Havana, Asia/Beirut), the end of the gap (01:00); where
 * midnight happens twice, the first one. Months start at the start of the 1st.
 *
 * Time zone data comes from the runtime's ICU (`Intl.DateTimeFormat`); nothing reads the clock.
 */

export const quotaPeriodKinds = ['day', 'month'] as const;
export type QuotaPeriodKind = (typeof quotaPeriodKinds)[number];

export interface QuotaPeriod {
  /** First instant of the period, epoch ms. */
  start: number;
  /** First instant of the next period, epoch ms (exclusive). */
  end: number;
  /** `2026-11-23` (day) or `2026-11` (month), the calendar date in the period's time zone. */
  label: string;
}

export interface PeriodSpec {
  period: QuotaPeriodKind;
  /** IANA time zone name; `UTC` when absent. */
  time_zone?: string;
}

const SECOND_MS = 1_000;
const HOUR_MS = 3_600_000;
/** Farther than any UTC offset (-12:00 .. +14:00) from a local time read as UTC. */
const PROBE_MS = 15 * HOUR_MS;
const CACHE_LIMIT = 512;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (error) {
      throw new RangeError(`unknown time zone ${JSON.stringify(timeZone)}`, { cause: error });
    }
    if (formatters.size >= CACHE_LIMIT) formatters.clear();
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when the runtime knows the time zone (`UTC`, `Europe/Berlin`, `+05:30`, ...). */
export function isValidTimeZone(timeZone: string): boolean {
  if (typeof timeZone !== 'string' || timeZone.length === 0) return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface LocalDate {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
}

interface LocalDateTime extends LocalDate {
  hour: number;
  minute: number;
  second: number;
}

function localDateTime(timeZone: string, instant: number): LocalDateTime {
  const out: LocalDateTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(instant)) {
    if (part.type === 'year' || part.type === 'month' || part.type === 'day' || part.type === 'hour' || part.type === 'minute' || part.type === 'second') {
      out[part.type] = Number(part.value);
    }
  }
  return out;
}

function floorTo(ms: number, unit: number): number {
  const rem = ms % unit;
  return rem < 0 ? ms - rem - unit : ms - rem;
}

/** The time zone's UTC offset at an instant, in ms (local = instant + offset). Whole seconds. */
export function zoneOffsetMs(timeZone: string, instant: number): number {
  const t = floorTo(instant, SECOND_MS);
  const p = localDateTime(timeZone, t);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - t;
}

/**
 * The first instant of a local calendar day. Month and day may overflow (`month` 13 is January of
 * the next year, `day` 32 rolls into the next month), as with `Date.UTC`.
 *
 * `guess` is local midnight read as if it were UTC; the instant we want is `guess - offset`, for
 * the offset in force at that instant. Every such instant lies within 15 h of `guess`, and time
 * zones change offset at most once in 30 h, so the offsets 15 h before and after `guess` are the
 * only candidates. One offset: done. Two (a DST change near midnight): keep the candidates whose
 * offset checks out and take the earliest (midnight happening twice); none checks out when
 * midnight falls in the gap of a spring-forward, and the day starts at the change itself, found
 * by bisection.
 */
function startOfLocalDay(timeZone: string, year: number, month: number, day: number): number {
  const guess = Date.UTC(year, month - 1, day);
  const before = zoneOffsetMs(timeZone, guess - PROBE_MS);
  const after = zoneOffsetMs(timeZone, guess + PROBE_MS);
  if (before === after) return guess - before;
  const candidates = [guess - before, guess - after];
  const valid = candidates.filter((t) => t + zoneOffsetMs(timeZone, t) === guess);
  if (valid.length > 0) return Math.min(...valid);
  // Midnight skipped: find the change, the first instant on the `after` offset.
  let lo = Math.min(...candidates);
  let hi = Math.max(...candidates);
  if (zoneOffsetMs(timeZone, lo) !== before || zoneOffsetMs(timeZone, hi) !== after) return hi;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (zoneOffsetMs(timeZone, mid) === after) hi = mid;
    else lo = mid;
  }
  return hi;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function bounds(timeZone: string, kind: QuotaPeriodKind, d: LocalDate): QuotaPeriod {
  const year = pad(d.year, 4);
  const month = pad(d.month, 2);
  if (kind === 'day') {
    return {
      start: startOfLocalDay(timeZone, d.year, d.month, d.day),
      end: startOfLocalDay(timeZone, d.year, d.month, d.day + 1),
      label: `${year}-${month}-${pad(d.day, 2)}`,
    };
  }
  return {
    start: startOfLocalDay(timeZone, d.year, d.month, 1),
    end: startOfLocalDay(timeZone, d.year, d.month + 1, 1),
    label: `${year}-${month}`,
  };
}

function shift(kind: QuotaPeriodKind, d: LocalDate, by: 1 | -1): LocalDate {
  const next = new Date(kind === 'day' ? Date.UTC(d.year, d.month - 1, d.day + by) : Date.UTC(d.year, d.month - 1 + by, 1));
  return { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() };
}

/** The last period computed per (kind, zone): consecutive events nearly always share it. */
const lastPeriod = new Map<string, QuotaPeriod>();

/**
 * The calendar day or month, in the time zone, that holds `eventTimeMs`: `start <= eventTimeMs < end`.
 * Throws a RangeError for an unknown time zone or a time outside the Date range.
 */
export function quotaPeriod(spec: PeriodSpec, eventTimeMs: number): QuotaPeriod {
  if (!Number.isFinite(eventTimeMs)) throw new RangeError(`eventTimeMs must be a finite number of epoch milliseconds, got ${String(eventTimeMs)}`);
  const timeZone = spec.time_zone ?? 'UTC';
  const kind = spec.period;
  const cacheKey = `${kind}|${timeZone}`;
  const cached = lastPeriod.get(cacheKey);
  if (cached !== undefined && cached.start <= eventTimeMs && eventTimeMs < cached.end) return { ...cached };

  let date: LocalDate = localDateTime(timeZone, floorTo(eventTimeMs, SECOND_MS));
  let period = bounds(timeZone, kind, date);
  // Local dates can run backwards for an hour after a fall-back across midnight; keep the
  // periods tiling by instants.
  for (let i = 0; i < 2 && !(period.start <= eventTimeMs && eventTimeMs < period.end); i++) {
    date = shift(kind, date, eventTimeMs < period.start ? -1 : 1);
    period = bounds(timeZone, kind, date);
  }
  if (lastPeriod.size >= CACHE_LIMIT) lastPeriod.clear();
  lastPeriod.set(cacheKey, period);
  return { ...period };
}
