import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { QuotaChecker } from '@meterline/quotas';
import { tenantOf } from '../auth';

/** `checkQuota` over HTTP: 200 when allowed, 429 when a hard quota is used up. */
export const quotaRoutes = (quotas: QuotaChecker, clock: () => number): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/quotas/:tenant/check', {
    config: { scope: 'quotas:read' },
    schema: {
      tags: ['quotas'],
      summary: 'May this tenant make the next call, and how much is left (429 when a hard quota is used up)',
      params: z.object({ tenant: z.string().min(1).max(256) }),
      querystring: z.strictObject({ project_id: z.string().optional(), api_key_hash: z.string().optional(), model: z.string().optional() }),
    },
  }, async (request, reply) => {
    const tenant = tenantOf(request, request.params.tenant, clock()) as string;
    const scope = Object.fromEntries(Object.entries(request.query).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const check = await quotas.checkQuota(tenant, scope);
    return reply.code(check.allowed ? 200 : 429).send(check);
  });
  done();
};
