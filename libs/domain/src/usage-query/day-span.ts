const DAY_MS = 86_400_000;

/**
 * The whole UTC days inside [fromMs, toMs), as a half-open range of day starts; undefined when
 * the range holds no whole day. Daily rollups can answer for those days, hourly ones for the rest.
 */
export function wholeUtcDays(fromMs: number, toMs: number): { fromMs: number; toMs: number } | undefined {
  const first = Math.ceil(fromMs / DAY_MS) * DAY_MS;
  const end = Math.floor(toMs / DAY_MS) * DAY_MS;
  return first < end ? { fromMs: first, toMs: end } : undefined;
}

/**
 * Whether `timeZone` is UTC's clock at every day boundary of [fromMs, toMs) (UTC, Etc/GMT,
 * Africa/Abidjan...): its day and month buckets are then made of whole UTC days. Throws
 * RangeError for a name that is not an IANA zone.
 */
export function zoneIsUtc(timeZone: string, fromMs: number, toMs: number): boolean {
  const format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
  for (let at = fromMs; at <= toMs + DAY_MS; at += DAY_MS / 2) {
    const name = format.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
    if (!/^GMT(?:[+-]00:00)?$/.test(name)) return false;
  }
  return true;
}
