import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Health } from '@meterline/platform';

const check = z.object({ ok: z.boolean(), error: z.string().optional(), ms: z.number() });
const readiness = z.object({ status: z.enum(['ready', 'not ready']), failing: z.array(z.string()).optional(), checks: z.record(z.string(), check) });

/** Open routes: liveness (the event loop answers) and readiness (every dependency check passes). */
export const healthRoutes = (health: Health): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/livez', { schema: { tags: ['health'], summary: 'The process answers', response: { 200: z.object({ status: z.literal('ok'), uptime_s: z.number() }) } } }, () => health.liveness());
  app.get('/readyz', { schema: { tags: ['health'], summary: 'Every dependency of this process answers (503 names the failing checks)', response: { 200: readiness, 503: readiness } } }, async (_request, reply) => {
    const { ready, ...body } = await health.readiness();
    return reply.code(ready ? 200 : 503).header('cache-control', 'no-store').send(body);
  });
  done();
};
