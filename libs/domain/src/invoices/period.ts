import { checkPeriod } from './invoice-id';

/**
 * Billing months are calendar months in UTC, decided by event time (`occurred_at`), like the
 * hourly rollups. A tenant time zone moves quota periods, not invoices: one month boundary for
 * every tenant is what lets one period close cut all of them at once.
 */

export interface PeriodBounds {
  /** First millisecond of the month, epoch ms (inclusive). */
  startMs: number;
  /** First millisecond of the next month (exclusive). */
  endMs: number;
}

function parts(period: string): { year: number; month: number } {
  checkPeriod(period, 'period');
  return { year: Number(period.slice(0, 4)), month: Number(period.slice(5, 7)) };
}

const format = (year: number, month: number): string => `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;

export function periodBounds(period: string): PeriodBounds {
  const { year, month } = parts(period);
  return { startMs: Date.UTC(year, month - 1, 1), endMs: Date.UTC(year, month, 1) };
}

/** The billing month an instant falls in. */
export function periodOf(epochMs: number): string {
  const d = new Date(epochMs);
  return format(d.getUTCFullYear(), d.getUTCMonth() + 1);
}

export function previousPeriod(period: string): string {
  const { year, month } = parts(period);
  return month === 1 ? format(year - 1, 12) : format(year, month - 1);
}

export function nextPeriod(period: string): string {
  const { year, month } = parts(period);
  return month === 12 ? format(year + 1, 1) : format(year, month + 1);
}

/**
 * When `period` may be closed and invoiced: its end plus the allowed lateness (events that late
 * are still counted in their month; a close before then would bill them as next month's
 * adjustments).
 */
export function periodClosableAt(period: string, allowedLatenessMs: number): number {
  return periodBounds(period).endMs + allowedLatenessMs;
}
