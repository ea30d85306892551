import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { queryUsage, type ClickHouseHandle, type UsageQueryRow } from '@meterline/clickhouse';
import { formatScaled, periodBounds, periodOf, previousPeriod, projectToPeriodEnd, tokenBuckets } from '@meterline/domain';
import { tenantOf } from '../auth';
import type { RollupCompleteness } from '../completeness';
import { HttpProblem } from '../problem';
import { completenessSchema, signedDigits } from './wire';

const usd = z.string().regex(/^-?\d+(\.\d+)?$/).describe('exact decimal USD');

const amounts = z.object({
  requests: signedDigits, ...Object.fromEntries(tokenBuckets.map((b) => [b, signedDigits])) as Record<(typeof tokenBuckets)[number], typeof signedDigits>,
  total_tokens: signedDigits.describe('every token bucket (they are disjoint)'), cost_usd: usd, cost_pico: signedDigits, charge_usd: usd, charge_pico: signedDigits,
});
const periodSchema = z.object({
  period: z.string().describe('billing month, YYYY-MM (UTC)'),
  from: z.string(), to: z.string(),
  status: z.enum(['current', 'past']),
  usage: amounts,
  projected: amounts.nullable().describe('the current period carried on at its pace so far to the period end (rounded down); null for past periods'),
  unpriced_events: signedDigits.describe('events of the period without a charge price (charged 0 until re-rated)'),
});
const answer = z.object({
  tenant: z.string(),
  periods: z.array(periodSchema).describe('newest first'),
  meta: z.object({ as_of: z.string(), completeness: completenessSchema }),
});

export interface UsagePeriodRouteDeps {
  clickhouse: () => ClickHouseHandle;
  completeness: () => Promise<RollupCompleteness | null>;
  clock: () => number;
}

/**
 * `GET /v1/usage/periods`: a tenant's usage and money for the current billing period (with a
 * projection to its end) and the past ones, from the rollups (daily rows for sealed days).
 */
export const usagePeriodRoutes = ({ clickhouse, completeness, clock }: UsagePeriodRouteDeps): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/usage/periods', {
    config: { scope: 'usage:read' },
    schema: {
      tags: ['usage'],
      summary: "A tenant's billing periods: the current one with a projection to its end, and past ones",
      querystring: z.strictObject({ tenant: z.string().min(1).max(256).optional(), count: z.coerce.number().int().min(1).max(36).default(3).describe('periods, the current one included') }),
      response: { 200: answer },
    },
  }, async (request) => {
    const now = clock();
    const tenant = tenantOf(request, request.query.tenant, now);
    if (tenant === undefined) throw new HttpProblem(400, 'TENANT_REQUIRED', 'name the tenant (?tenant=...): periods are per tenant');
    const periods = lastPeriods(periodOf(now), request.query.count);
    const measured = await completeness();
    const page = await queryUsage(clickhouse(), {
      fromMs: periodBounds(periods.at(-1)!).startMs, toMs: periodBounds(periods[0]!).endMs, granularity: 'month', timeZone: 'UTC',
      groupBy: [], filters: { tenant: { in: [tenant] } }, limit: periods.length,
    });
    const byPeriod = new Map(page.rows.map((row) => [periodOf(row.bucket_ms!), row]));
    return {
      tenant,
      periods: periods.map((period, i) => periodAnswer(period, byPeriod.get(period), i === 0 ? now : undefined)),
      meta: { as_of: new Date(now).toISOString(), completeness: measured },
    };
  });
  done();
};

/** `count` billing periods ending with `current`, newest first. */
function lastPeriods(current: string, count: number): string[] {
  const out = [current];
  while (out.length < count) out.push(previousPeriod(out.at(-1)!));
  return out;
}

function periodAnswer(period: string, row: UsageQueryRow | undefined, now: number | undefined): z.infer<typeof periodSchema> {
  const bounds = periodBounds(period);
  const sums = (pick: (name: string) => bigint): z.infer<typeof amounts> => {
    const tokens = tokenBuckets.map((b) => pick(b));
    const money = (name: string) => ({ usd: formatScaled(pick(name), 12), pico: pick(name).toString() });
    return {
      requests: pick('requests').toString(),
      ...Object.fromEntries(tokenBuckets.map((b, i) => [b, tokens[i]!.toString()])) as Record<(typeof tokenBuckets)[number], string>,
      total_tokens: tokens.reduce((a, b) => a + b, 0n).toString(),
      cost_usd: money('cost_pico').usd, cost_pico: money('cost_pico').pico, charge_usd: money('charge_pico').usd, charge_pico: money('charge_pico').pico,
    };
  };
  const used = (name: string): bigint => BigInt(row?.sums[name as keyof UsageQueryRow['sums']] ?? '0');
  return {
    period, from: new Date(bounds.startMs).toISOString(), to: new Date(bounds.endMs).toISOString(),
    status: now === undefined ? 'past' : 'current',
    usage: sums(used),
    projected: now === undefined ? null : sums((name) => projectToPeriodEnd(used(name), bounds, now)),
    unpriced_events: used('unpriced_charge_events').toString(),
  };
}
