import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { completenessSchema, decimalDigits } from './wire';
import { lifetimeUsage, type ClickHouseHandle, type ReconcileReport, type UsageQueryRow } from '@meterline/clickhouse';
import { tenantOf } from '../auth';
import type { RollupCompleteness } from '../completeness';
import { HttpProblem } from '../problem';
import { usageRow, usageRowToWire } from './usage-query';

export interface UsageRouteDeps {
  clickhouse: () => ClickHouseHandle;
  completeness: () => Promise<RollupCompleteness | null>;
  reconcile: (tenantId: string, fromMs: number, toMs: number) => Promise<ReconcileReport>;
  clock: () => number;
}

const tenantUsage = usageRow.omit({ bucket_start: true, project: true, provider: true, model: true, operation: true, api_key_hash: true, status_class: true, error_class: true })
  .extend({ tenant: z.string() });
/** A tenant's lifetime usage on the wire. */
export type TenantUsage = z.infer<typeof tenantUsage>;

/** A lifetime row (grouped by tenant) as the API answers it. */
export function tenantUsageToWire(row: UsageQueryRow): TenantUsage {
  const { bucket_start: _b, ...wire } = usageRowToWire(row);
  return { ...wire, tenant: row.dimensions.tenant ?? '' };
}

const meta = z.object({ as_of: z.string(), completeness: completenessSchema });
const tenantId = z.string().min(1).max(256);
const reconcileReport = z.object({
  tenant_id: z.string(), from: z.string(), to: z.string(), groups: z.number(), raw_events: decimalDigits, rollup_requests: decimalDigits,
  differences: z.array(z.object({ hour: z.string(), project_id: z.string(), provider: z.string(), model: z.string(), operation: z.string(), measure: z.string(), raw: z.string(), rollup: z.string() })),
});
const isoTime = z.iso.datetime({ offset: true });

/**
 * Lifetime usage and money per tenant, from the rollups (every stored hour; sealed months and
 * days from the daily table), and the raw-against-rollups reconciliation.
 */
export const usageRoutes = ({ clickhouse, completeness, reconcile, clock }: UsageRouteDeps): FastifyPluginCallbackZod => (app, _options, done) => {
  const lifetime = async (tenant: string | undefined) => {
    const measured = await completeness();
    const rows = await lifetimeUsage(clickhouse(), tenant);
    return { data: rows.map(tenantUsageToWire), meta: { as_of: new Date(clock()).toISOString(), completeness: measured } };
  };

  app.get('/v1/usage', {
    config: { scope: 'usage:read' },
    schema: {
      tags: ['usage'], summary: 'Lifetime usage and money per tenant (a tenant-bound key sees its own tenant only)',
      description: 'Totals over every hour the rollups hold, sorted by tenant. For ranges, buckets and groups, use /v1/usage/query.',
      querystring: z.strictObject({ tenant: tenantId.optional() }), response: { 200: z.object({ data: z.array(tenantUsage), meta }) },
    },
  }, async (request) => lifetime(tenantOf(request, request.query.tenant, clock())));

  app.get('/v1/usage/:tenant', {
    config: { scope: 'usage:read' },
    schema: { tags: ['usage'], summary: "One tenant's lifetime usage and money", params: z.object({ tenant: tenantId }), response: { 200: z.object({ data: tenantUsage, meta }) } },
  }, async (request) => {
    const tenant = tenantOf(request, request.params.tenant, clock()) as string;
    const { data: [found], meta: measured } = await lifetime(tenant);
    if (found === undefined) throw new HttpProblem(404, 'TENANT_NOT_FOUND', `no usage recorded for tenant "${tenant}"`);
    return { data: found, meta: measured };
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
