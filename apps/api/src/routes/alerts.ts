import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decimalDigits } from './wire';
import { AlertsTable, alertKinds, type AlertKey, type ClickHouseHandle, type StoredAlert } from '@meterline/clickhouse';
import { formatScaled } from '@meterline/domain';
import { tenantOf } from '../auth';
import { HttpProblem } from '../problem';

const iso = z.string().describe('ISO 8601, UTC');
const usd = z.string().regex(/^\d+(\.\d+)?$/).nullable().describe('exact decimal USD for the money metrics (cost_pico_usd, charge_pico_usd); null for the others');
const common = {
  alert_id: z.string().describe('stable: a re-published alert has the same id'),
  occurred_at: iso.describe('ISO 8601, UTC: when it happened (the crossing event, the first unpriced event, the invoice run)'),
  emitted_at: iso.describe('ISO 8601, UTC: when it was published'),
};

const quotaAlert = z.object({
  kind: z.literal('quota'), ...common, type: z.literal('threshold_crossed'), tenant_id: z.string(),
  quota_id: z.string(), metric: z.string(), period_label: z.string(), period_start: iso, period_end: iso, threshold_percent: z.number().int(),
  limit: decimalDigits.describe("in the metric's unit (tokens, requests or pico-USD)"), used: decimalDigits.describe('use right after the crossing event'), limit_usd: usd, used_usd: usd, enforcement: z.string(),
}).describe('A quota crossed a threshold in a period.');
const pricingAlert = z.object({
  kind: z.literal('pricing'), ...common, type: z.string().describe('unpriced_model'), tenant_id: z.null().describe('fleet-wide: listed to keys bound to no tenant'),
  provider: z.string(), model: z.string(), reason: z.string().describe('unknown_model | no_price_in_effect | unknown_tier'), message: z.string(), first_tenant_id: z.string(), price_books_id: z.string(),
}).describe('A model was used that the price books cannot price (its events are counted as unpriced).');
const invoiceAlert = z.object({
  kind: z.literal('invoice'), ...common, type: z.string().describe('reconciliation_mismatch'), tenant_id: z.string(),
  period: z.string().describe('billing month, YYYY-MM'), mismatch_count: z.number().int(), report: z.string(),
}).describe('An invoice could not be made final.');
const alertItem = z.discriminatedUnion('kind', [quotaAlert, pricingAlert, invoiceAlert]);
type AlertItem = z.infer<typeof alertItem>;

const querySchema = z.strictObject({
  tenant: z.string().min(1).max(256).optional().describe("a tenant's alerts (a tenant-bound key: its own, named or not)"),
  kind: z.enum(alertKinds).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('inclusive, on occurred_at'),
  to: z.iso.datetime({ offset: true }).optional().describe('exclusive, on occurred_at'),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  cursor: z.string().max(1_024).optional().describe('meta.next_cursor of the previous page'),
});
const answer = z.object({ data: z.array(alertItem), meta: z.object({ next_cursor: z.string().nullable() }) });

/**
 * `GET /v1/alerts`: the alert history (quota, pricing and invoice alerts as the clickhouse-sink
 * stored them), newest first, a page at a time with a keyset cursor.
 */
export const alertRoutes = (clickhouse: () => ClickHouseHandle, clock: () => number): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/alerts', {
    config: { scope: 'quotas:read' },
    schema: { tags: ['alerts'], summary: 'Quota, pricing and invoice alerts, newest first', querystring: querySchema, response: { 200: answer } },
  }, async (request) => {
    const q = request.query;
    const range = timeRange(q.from, q.to);
    const page = await new AlertsTable(clickhouse()).list({ tenantId: tenantOf(request, q.tenant, clock()), kind: q.kind, ...range, limit: q.limit, after: decodeCursor(q.cursor) });
    return { data: page.alerts.map(toWire), meta: { next_cursor: page.next === undefined ? null : encodeCursor(page.next) } };
  });
  done();
};

function timeRange(from: string | undefined, to: string | undefined): { fromMs?: number; toMs?: number } {
  const fromMs = from === undefined ? undefined : Date.parse(from);
  const toMs = to === undefined ? undefined : Date.parse(to);
  if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) throw new HttpProblem(400, 'RANGE_INVALID', `from (${from}) must be before to (${to})`);
  return { ...(fromMs === undefined ? {} : { fromMs }), ...(toMs === undefined ? {} : { toMs }) };
}

const cursorSchema = z.tuple([z.number().int().min(0), z.enum(alertKinds), z.string()]);

function encodeCursor(key: AlertKey): string {
  return Buffer.from(JSON.stringify([key.occurred_at, key.kind, key.alert_id])).toString('base64url');
}

function decodeCursor(cursor: string | undefined): AlertKey | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const key = cursorSchema.safeParse(parsed);
  if (!key.success) throw new HttpProblem(400, 'CURSOR_INVALID', 'the cursor is not one this API gave (pass meta.next_cursor of the previous page)');
  const [occurred_at, kind, alert_id] = key.data;
  return { occurred_at, kind, alert_id };
}

const at = (ms: number): string => new Date(ms).toISOString();
const money = (metric: string, amount: string): string | null => (metric.endsWith('_pico_usd') ? formatScaled(BigInt(amount), 12) : null);

function toWire(alert: StoredAlert & { occurred_at: number }): AlertItem {
  const times = { alert_id: alert.record.alert_id, occurred_at: at(alert.occurred_at), emitted_at: at(alert.emitted_at) };
  switch (alert.kind) {
    case 'quota': {
      const r = alert.record;
      return {
        kind: 'quota', ...times, type: 'threshold_crossed', tenant_id: r.tenant_id, quota_id: r.quota_id, metric: r.metric, period_label: r.period_label, period_start: at(r.period_start), period_end: at(r.period_end),
        threshold_percent: r.threshold_percent, limit: r.limit, used: r.used, limit_usd: money(r.metric, r.limit), used_usd: money(r.metric, r.used), enforcement: r.enforcement,
      };
    }
    case 'pricing': {
      const r = alert.record;
      return { kind: 'pricing', ...times, type: r.kind, tenant_id: null, provider: r.provider, model: r.model, reason: r.reason, message: r.message, first_tenant_id: r.first_tenant_id, price_books_id: r.price_books_id };
    }
    case 'invoice': {
      const r = alert.record;
      return { kind: 'invoice', ...times, type: r.kind, tenant_id: r.tenant_id, period: r.period, mismatch_count: r.mismatch_count, report: r.report };
    }
  }
}
