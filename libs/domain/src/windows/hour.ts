/**
 * Hourly event-time windows. An event belongs to the UTC hour `[hourStart, hourStart + HOUR_MS)`
 * that holds its `occurred_at`; processing time never decides the hour.
 */

/** One hour in milliseconds. */
export const HOUR_MS = 3_600_000;

function requireFinite(value: number, name: string): void {
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number of epoch milliseconds, got ${String(value)}`);
}

/**
 * The start of the UTC hour holding `ms` (floor, also for instants before 1970).
 * Exact for every safe integer: it subtracts the remainder instead of dividing.
 */
export function hourStart(ms: number): number {
  requireFinite(ms, 'ms');
  const t = Math.floor(ms);
  const rem = t % HOUR_MS;
  return rem < 0 ? t - rem - HOUR_MS : t - rem;
}

export interface Lateness {
  /**
   * The event arrived after its hour ended, as far as the watermark knows:
   * `hourStart + HOUR_MS <= watermark`. Late events still count; they update an old hour.
   */
  late: boolean;
  /**
   * Its hour is closed: `hourStart + HOUR_MS + allowedLateness <= watermark`. The event must
   * still be counted (nothing is dropped), but as a correction of an hour already emitted as
   * final, not in the open window.
   */
  beyondAllowed: boolean;
}

/**
 * How late an event is relative to a watermark (the event time up to which the consumer has
 * seen everything). `beyondAllowed` implies `late`. Boundaries are inclusive of the watermark:
 * a watermark equal to the end of the hour means the hour is complete.
 */
export function lateness(occurredAt: number, watermarkMs: number, allowedLatenessMs: number): Lateness {
  requireFinite(watermarkMs, 'watermarkMs');
  if (!Number.isFinite(allowedLatenessMs) || allowedLatenessMs < 0) {
    throw new RangeError(`allowedLatenessMs must be a finite number >= 0, got ${String(allowedLatenessMs)}`);
  }
  const hourEnd = hourStart(occurredAt) + HOUR_MS;
  return {
    late: hourEnd <= watermarkMs,
    beyondAllowed: hourEnd + allowedLatenessMs <= watermarkMs,
  };
}
