/**
 * An amount so far in a period, carried on at the same pace to the period's end: exact integer
 * arithmetic (rounded down), the clock injected. A period not yet begun or already over keeps its amount.
 */
export function projectToPeriodEnd(amount: bigint, period: { startMs: number; endMs: number }, now: number): bigint {
  if (now <= period.startMs || now >= period.endMs) return amount;
  return (amount * BigInt(period.endMs - period.startMs)) / BigInt(now - period.startMs);
}
