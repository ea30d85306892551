import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { quotaEnforcements, quotaMetrics, type QuotaStatus } from '@meterline/domain';
import type { QuotaChecker } from '@meterline/quotas';
import { tenantOf } from '../auth';

const digits = z.string().regex(/^\d+$/);
const quotaStatus = z.object({
  quota_id: z.string(), tenant_id: z.string(), metric: z.enum(quotaMetrics), enforcement: z.enum(quotaEnforcements),
  limit: digits, used: digits, remaining: digits, percent_used: z.number(), exceeded: z.boolean(), allowed: z.boolean(),
  period: z.object({ start: z.number(), end: z.number(), label: z.string() }), resets_at: z.number().describe('epoch ms'),
});
const quotaCheck = z.object({ tenant_id: z.string(), allowed: z.boolean(), quotas: z.array(quotaStatus) });

/** Counters and limits are bigint in the domain: decimal strings on the wire. */
function wireStatus(s: QuotaStatus): z.infer<typeof quotaStatus> {
  return { ...s, limit: s.limit.toString(), used: s.used.toString(), remaining: s.remaining.toString(), period: { start: s.period.start, end: s.period.end, label: s.period.label } };
}

/** `checkQuota` over HTTP: 200 when allowed, 429 when a hard quota is used up. */
export const quotaRoutes = (quotas: QuotaChecker, clock: () => number): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/quotas/:tenant/check', {
    config: { scope: 'quotas:read' },
    schema: {
      tags: ['quotas'],
      summary: 'May this tenant make the next call, and how much is left (429 when a hard quota is used up)',
      params: z.object({ tenant: z.string().min(1).max(256) }),
      querystring: z.strictObject({ project_id: z.string().optional(), api_key_hash: z.string().optional(), model: z.string().optional() }),
      response: { 200: quotaCheck, 429: quotaCheck },
    },
  }, async (request, reply) => {
    const tenant = tenantOf(request, request.params.tenant, clock()) as string;
    const scope = Object.fromEntries(Object.entries(request.query).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const check = await quotas.checkQuota(tenant, scope);
    return reply.code(check.allowed ? 200 : 429).send({ ...check, quotas: check.quotas.map(wireStatus) });
  });
  done();
};
