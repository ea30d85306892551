import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decimalDigits } from './wire';
import { projectQuota, quotaEnforcements, quotaMetrics, quotaPeriodKinds, type QuotaStatus } from '@meterline/domain';
import type { QuotaChecker, QuotaStore } from '@meterline/quotas';
import { tenantOf } from '../auth';
import { HttpProblem } from '../problem';

const quotaStatus = z.object({
  quota_id: z.string(), tenant_id: z.string(), metric: z.enum(quotaMetrics), enforcement: z.enum(quotaEnforcements),
  limit: decimalDigits, used: decimalDigits, remaining: decimalDigits, percent_used: z.number(), exceeded: z.boolean(), allowed: z.boolean(),
  period: z.object({ start: z.number(), end: z.number(), label: z.string() }), resets_at: z.number().describe('epoch ms'),
});
const quotaCheck = z.object({ tenant_id: z.string(), allowed: z.boolean(), quotas: z.array(quotaStatus) });

/** Counters and limits are bigint in the domain: decimal strings on the wire. */
function wireStatus(s: QuotaStatus): z.infer<typeof quotaStatus> {
  return { ...s, limit: s.limit.toString(), used: s.used.toString(), remaining: s.remaining.toString(), period: { start: s.period.start, end: s.period.end, label: s.period.label } };
}

const quotaResource = quotaStatus.extend({
  burn_per_hour: decimalDigits.describe('average use per hour since the period started'),
  projected_exhaustion_at: z.string().nullable().describe('when the limit is reached at that rate; null: reached already, nothing used, or not before the reset'),
  resets_at_iso: z.string(),
});
const quotaBody = z.strictObject({
  metric: z.enum(quotaMetrics),
  period: z.enum(quotaPeriodKinds),
  limit: decimalDigits.describe('in the metric\'s unit (tokens, requests or pico-USD)'),
  thresholds: z.array(z.number().int().min(1).max(1_000)).max(20).optional(),
  enforcement: z.enum(quotaEnforcements).optional(),
  time_zone: z.string().optional(),
  scope: z.strictObject({ project_id: z.string().optional(), api_key_hash: z.string().optional(), model: z.string().optional() }).optional(),
});
const scopeSchema = z.object({ project_id: z.string().optional(), api_key_hash: z.string().optional(), model: z.string().optional() });
const definitionSchema = z.object({
  tenant_id: z.string(), quota_id: z.string(), scope: scopeSchema, metric: z.enum(quotaMetrics), period: z.enum(quotaPeriodKinds), time_zone: z.string(),
  limit: decimalDigits, thresholds: z.array(z.number()), enforcement: z.enum(quotaEnforcements), updated_at: z.number().describe('epoch ms'),
});
const params = z.object({ tenant: z.string().min(1).max(256), quota_id: z.string().min(1).max(256) });

/** Quotas as resources, and `checkQuota` over HTTP (200 when allowed, 429 when a hard quota is used up). */
export const quotaRoutes = (quotas: QuotaChecker, store: QuotaStore, clock: () => number): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/quotas', {
    config: { scope: 'quotas:read' },
    schema: {
      tags: ['quotas'],
      summary: "A tenant's quotas with their use this period, burn rate and projected exhaustion",
      querystring: z.strictObject({ tenant: z.string().min(1).max(256).optional() }),
      response: { 200: z.object({ tenant_id: z.string(), quotas: z.array(quotaResource) }) },
    },
  }, async (request) => {
    const tenant = tenantOf(request, request.query.tenant, clock());
    if (tenant === undefined) throw new HttpProblem(400, 'TENANT_REQUIRED', 'name the tenant: ?tenant=...');
    const now = clock();
    const { quotas: statuses } = await quotas.statuses(tenant);
    return {
      tenant_id: tenant,
      quotas: statuses.map((s) => {
        const projection = projectQuota(s, now);
        return { ...wireStatus(s), burn_per_hour: projection.burn_per_hour, projected_exhaustion_at: projection.projected_exhaustion_at === null ? null : new Date(projection.projected_exhaustion_at).toISOString(), resets_at_iso: new Date(s.resets_at).toISOString() };
      }),
    };
  });

  app.put('/v1/quotas/:tenant/:quota_id', {
    config: { scope: 'quotas:write' },
    schema: { tags: ['quotas'], summary: 'Create or replace a quota (applies from when the rollup consumers see it)', params, body: quotaBody, response: { 200: definitionSchema } },
  }, async (request) => {
    const tenant = tenantOf(request, request.params.tenant, clock()) as string;
    const definition = await store.set({ ...request.body, tenant_id: tenant, quota_id: request.params.quota_id, scope: request.body.scope ?? {} });
    return { ...definition, limit: definition.limit.toString() };
  });

  app.delete('/v1/quotas/:tenant/:quota_id', {
    config: { scope: 'quotas:write' },
    schema: { tags: ['quotas'], summary: 'Remove a quota', params },
  }, async (request, reply) => {
    await store.remove(tenantOf(request, request.params.tenant, clock()) as string, request.params.quota_id);
    return reply.code(204).send();
  });

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
