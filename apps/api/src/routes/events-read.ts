import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { rawEventsPage, type ClickHouseHandle, type RawEventRow, type RawEventsCursor } from '@meterline/clickhouse';
import { formatScaled } from '@meterline/domain';
import { tenantOf } from '../auth';
import { HttpProblem } from '../problem';
import { decimalDigits, signedDigits } from './wire';

const usd = z.string().regex(/^-?\d+(\.\d+)?$/).describe('exact decimal USD');
const text = z.string().min(1).max(256);

const querySchema = z.strictObject({
  tenant: text.optional().describe('required unless the key is bound to a tenant (then it is that tenant)'),
  from: z.iso.datetime({ offset: true }).optional().describe('occurred_at at or after (inclusive)'),
  to: z.iso.datetime({ offset: true }).optional().describe('occurred_at before (exclusive)'),
  project: text.optional(),
  provider: text.optional(),
  model: text.optional(),
  operation: text.optional(),
  api_key_hash: z.string().regex(/^[0-9a-f]{64}$/).optional().describe('SHA-256 hex of the key, as stored'),
  user_id: text.optional(),
  trace_id: text.optional(),
  event_id: text.optional(),
  status: z.enum(['ok', 'error']).optional().describe('error: an error_type or an HTTP status of 400 or more'),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  cursor: z.string().max(512).optional().describe('meta.next_cursor of the previous page'),
});

const nullableText = z.string().nullable();
const item = z.object({
  event_id: z.string(),
  occurred_at: z.string().describe('ISO 8601, UTC, milliseconds'),
  tenant_id: z.string(), project_id: nullableText, api_key_hash: nullableText, client_id: nullableText, user_id: nullableText, trace_id: nullableText, endpoint_id: nullableText,
  provider: z.string(), model: z.string(), operation: z.string(),
  input_tokens: decimalDigits, cache_read_tokens: decimalDigits, cache_write_tokens: decimalDigits, cache_write_1h_tokens: decimalDigits, output_tokens: decimalDigits, reasoning_tokens: decimalDigits,
  audio_input_tokens: decimalDigits, audio_output_tokens: decimalDigits, image_input_tokens: decimalDigits, image_output_tokens: decimalDigits,
  units: z.record(z.string(), decimalDigits).describe('per-request priced unit (web_search, ...) -> count'),
  service_tier: nullableText,
  latency_ms: z.number().nullable().describe('milliseconds, to the microsecond'), ttft_ms: z.number().nullable(), status_code: z.number().nullable(), error_type: nullableText,
  metadata: z.record(z.string(), z.string()),
  source_partition: z.number(), source_offset: decimalDigits,
  cost_usd: usd, cost_pico: signedDigits, charge_usd: usd, charge_pico: signedDigits,
  cost_price_version: nullableText.describe('the price version that priced the cost; null: unpriced (cost 0) or stored before per-event pricing'),
  charge_price_version: nullableText,
});
const answer = z.object({
  data: z.array(item),
  meta: z.object({ order: z.literal('newest_first'), next_cursor: z.string().nullable().describe('null on the last page') }),
});

/**
 * `GET /v1/events`: a tenant's raw events for audit ("what did this call cost?"), newest first,
 * each event once with its cost and charge as the raw sink priced it (exact decimal USD and
 * integer pico-USD strings) and the price versions used. Keyset pages over the raw table's
 * sorting key (see rawEventsPage): a page costs the same however deep it is.
 */
export const eventReadRoutes = (clickhouse: () => ClickHouseHandle, clock: () => number): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/events', {
    config: { scope: 'usage:read' },
    schema: { tags: ['events'], summary: 'Raw usage events of a tenant, newest first, with their cost and charge', querystring: querySchema, response: { 200: answer } },
  }, async (request) => {
    const q = request.query;
    const tenant = tenantOf(request, q.tenant, clock());
    if (tenant === undefined) throw new HttpProblem(400, 'TENANT_REQUIRED', 'name the tenant whose events to list (tenant=...)');
    const fromMs = q.from === undefined ? undefined : Date.parse(q.from);
    const toMs = q.to === undefined ? undefined : Date.parse(q.to);
    if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) throw new HttpProblem(400, 'RANGE_INVALID', `from (${q.from}) must be before to (${q.to})`);
    const page = await rawEventsPage(clickhouse(), {
      tenantId: tenant, fromMs, toMs, status: q.status, limit: q.limit, after: decodeCursor(q.cursor),
      filters: { project_id: q.project, provider: q.provider, model: q.model, operation: q.operation, api_key_hash: q.api_key_hash, user_id: q.user_id, trace_id: q.trace_id, event_id: q.event_id },
    });
    return { data: page.rows.map(toWire), meta: { order: 'newest_first' as const, next_cursor: page.next === undefined ? null : encodeCursor(page.next) } };
  });
  done();
};

function toWire(r: RawEventRow): z.infer<typeof item> {
  const { occurred_ms, cost_pico, charge_pico, cost_price_version, charge_price_version, ...event } = r;
  return {
    ...event,
    occurred_at: new Date(Number(occurred_ms)).toISOString(),
    cost_usd: formatScaled(BigInt(cost_pico), 12), cost_pico,
    charge_usd: formatScaled(BigInt(charge_pico), 12), charge_pico,
    cost_price_version: cost_price_version === '' ? null : cost_price_version,
    charge_price_version: charge_price_version === '' ? null : charge_price_version,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Epoch ms ClickHouse's DateTime64 holds (1970 to 2299). */
const instant = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < 10_413_792_000_000;

/** Opaque to callers: base64url of [hour ms, UUIDv7 ms, event_uuid] of the last event of the page. */
function encodeCursor(c: RawEventsCursor): string {
  return Buffer.from(JSON.stringify([c.hourMs, c.idMs, c.eventUuid])).toString('base64url');
}

function decodeCursor(cursor: string | undefined): RawEventsCursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === 3 && instant(key[0]) && instant(key[1]) && typeof key[2] === 'string' && UUID.test(key[2])) {
      return { hourMs: key[0], idMs: key[1], eventUuid: key[2] };
    }
  } catch {
    // falls through to the refusal
  }
  throw new HttpProblem(400, 'CURSOR_INVALID', 'the cursor is not one this API gave (pass meta.next_cursor of the previous page)');
}
