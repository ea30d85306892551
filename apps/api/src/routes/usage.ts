import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decimalDigits } from './wire';
import type { ReconcileReport, UsageEventsTable } from '@meterline/clickhouse';
import { tenantOf } from '../auth';
import { HttpProblem } from '../problem';

export interface UsageRouteDeps {
  usage: UsageEventsTable;
  reconcile: (tenantId: string, fromMs: number, toMs: number) => Promise<ReconcileReport>;
  clock: () => number;
}

const totals = z.object({
  tenant_id: z.string(), events: decimalDigits, input_tokens: decimalDigits, cache_read_tokens: decimalDigits, cache_write_tokens: decimalDigits, cache_write_1h_tokens: decimalDigits,
  output_tokens: decimalDigits, reasoning_tokens: decimalDigits, audio_input_tokens: decimalDigits, audio_output_tokens: decimalDigits, image_input_tokens: decimalDigits, image_output_tokens: decimalDigits,
  total_tokens: decimalDigits.describe('every bucket (they are disjoint)'), errors: decimalDigits, first_event_at: z.string(), last_event_at: z.string(),
});
const tenantId = z.string().min(1).max(256);
const reconcileReport = z.object({
  tenant_id: z.string(), from: z.string(), to: z.string(), groups: z.number(), raw_events: decimalDigits, rollup_requests: decimalDigits,
  differences: z.array(z.object({ hour: z.string(), project_id: z.string(), provider: z.string(), model: z.string(), operation: z.string(), measure: z.string(), raw: z.string(), rollup: z.string() })),
});
const isoTime = z.iso.datetime({ offset: true });

export const usageRoutes = ({ usage, reconcile, clock }: UsageRouteDeps): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/usage', {
    config: { scope: 'usage:read' },
    schema: { tags: ['usage'], summary: 'Lifetime totals per tenant (a tenant-bound key sees its own tenant only)', querystring: z.strictObject({ tenant: tenantId.optional() }), response: { 200: z.object({ tenants: z.array(totals) }) } },
  }, async (request) => ({ tenants: await usage.tenantTotals(tenantOf(request, request.query.tenant, clock())) }));

  app.get('/v1/usage/:tenant', {
    config: { scope: 'usage:read' },
    schema: { tags: ['usage'], summary: "One tenant's lifetime totals", params: z.object({ tenant: tenantId }), response: { 200: totals } },
  }, async (request) => {
    const tenant = tenantOf(request, request.params.tenant, clock()) as string;
    const [found] = await usage.tenantTotals(tenant);
    if (!found) throw new HttpProblem(404, 'TENANT_NOT_FOUND', `no usage recorded for tenant "${tenant}"`);
    return found;
  });

  app.get('/v1/reconcile', {
    config: { scope: 'usage:read' },
    schema: { tags: ['usage'], summary: 'Raw events against hourly rollups, hour by hour, over [from, to)', querystring: z.strictObject({ tenant: tenantId, from: isoTime, to: isoTime }), response: { 200: reconcileReport } },
  }, async (request) => {
    const from = Date.parse(request.query.from);
    const to = Date.parse(request.query.to);
    if (from >= to) throw new HttpProblem(400, 'RANGE_INVALID', `from (${request.query.from}) must be before to (${request.query.to})`);
    return reconcile(tenantOf(request, request.query.tenant, clock()) as string, from, to);
  });
  done();
};
