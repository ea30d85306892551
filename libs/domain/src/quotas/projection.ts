import type { QuotaStatus } from './evaluate';

export interface QuotaProjection {
  /** Average use per hour since the period started (integer, rounded down; decimal string). */
  burn_per_hour: string;
  /** When the limit is reached at that rate (epoch ms): null when already reached, nothing is used yet, or not before the reset. */
  projected_exhaustion_at: number | null;
}

const HOUR = 3_600_000n;

/**
 * The burn rate of a quota's period so far and when it would run out at that rate. Exact
 * integer arithmetic on the counters (bigint); the clock is injected.
 */
export function projectQuota(status: QuotaStatus, now: number): QuotaProjection {
  const elapsed = BigInt(Math.max(1, now - status.period.start));
  const burn = (status.used * HOUR) / elapsed;
  if (status.used === 0n || status.exceeded) return { burn_per_hour: burn.toString(), projected_exhaustion_at: null };
  const at = BigInt(now) + ((status.limit - status.used) * elapsed + status.used - 1n) / status.used;
  return { burn_per_hour: burn.toString(), projected_exhaustion_at: at < BigInt(status.period.end) ? Number(at) : null };
}
