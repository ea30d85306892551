import { describe, expect, it } from 'vitest';
import type { QuotaStatus } from './evaluate';
import { projectQuota } from './projection';

const START = Date.UTC(2026, 11, 1);
const END = Date.UTC(2027, 0, 1);
const status = (used: bigint, limit: bigint): QuotaStatus => ({
  quota_id: 'q', tenant_id: 't', metric: 'total_tokens', enforcement: 'hard', limit, used, remaining: limit > used ? limit - used : 0n,
  percent_used: 0, exceeded: used >= limit, allowed: used < limit, period: { start: START, end: END, label: '2026-12' }, resets_at: END,
});

describe('projectQuota', () => {
  it.each([
    { name: 'half used in 10 days: out in 10 more', used: 500n, limit: 1_000n, now: START + 10 * 86_400_000, burn: '2', at: START + 20 * 86_400_000 },
    { name: 'slow: not before the reset', used: 10n, limit: 1_000n, now: START + 10 * 86_400_000, burn: '0', at: null },
    { name: 'nothing used', used: 0n, limit: 1_000n, now: START + 3_600_000, burn: '0', at: null },
    { name: 'already exceeded', used: 2_000n, limit: 1_000n, now: START + 3_600_000, burn: '2000', at: null },
    { name: 'past 2^53 exactly', used: 2n ** 60n, limit: 2n ** 61n, now: START + 3_600_000, burn: (2n ** 60n).toString(), at: START + 2 * 3_600_000 },
  ])('$name', ({ used, limit, now, burn, at }) => {
    expect(projectQuota(status(used, limit), now)).toEqual({ burn_per_hour: burn, projected_exhaustion_at: at });
  });
});
