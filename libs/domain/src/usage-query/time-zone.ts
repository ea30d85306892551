/**
 * Whether day and month buckets in `timeZone` can be built from whole UTC hours over
 * [fromMs, toMs): true when the zone's offset is a whole number of hours at every day boundary
 * of the range (the hourly rollups cannot be split inside an hour). Throws RangeError for a
 * name that is not an IANA zone.
 */
export function zoneFitsHours(timeZone: string, fromMs: number, toMs: number): boolean {
  const format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
  const DAY = 86_400_000;
  for (let at = fromMs; at <= toMs + DAY; at += DAY / 2) {
    const name = format.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
    const minutes = /GMT[+-]\d{1,2}:(\d{2})/.exec(name)?.[1];
    if (minutes !== undefined && minutes !== '00') return false;
  }
  return true;
}
