import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { completenessSchema, millisDecimal, signedDigits } from './wire';
import { dimensionValues, queryUsage, readsRawEvents, usageDimensions, usageGranularities, type ClickHouseHandle, type UsageQuery, type UsageQueryRow } from '@meterline/clickhouse';
import { AccessError, formatScaled, tokenBuckets, zoneFitsHours } from '@meterline/domain';
import { tenantOf } from '../auth';
import type { RollupCompleteness } from '../completeness';
import { HttpProblem } from '../problem';

const HOUR = 3_600_000;
const MAX_RANGE_MS = 3 * 366 * 24 * HOUR;
const usd = z.string().regex(/^-?\d+(\.\d+)?$/).describe('exact decimal USD');
const values = z.array(z.string()).min(1).max(1_000);
const filter = z.strictObject({ in: values.optional(), not_in: values.optional() });
const groupBy = z.array(z.enum(usageDimensions)).max(usageDimensions.length);

const querySchema = z.strictObject({
  from: z.iso.datetime({ offset: true }).describe('inclusive, a whole UTC hour'),
  to: z.iso.datetime({ offset: true }).describe('exclusive, a whole UTC hour'),
  granularity: z.enum(usageGranularities).default('day'),
  time_zone: z.string().default('UTC').describe('IANA zone of day and month buckets (its offset must be whole hours)'),
  group_by: groupBy.default([]),
  filters: z.partialRecord(z.enum(usageDimensions), filter).default({}),
  limit: z.number().int().min(1).max(10_000).default(1_000),
  cursor: z.string().max(4_096).optional().describe('next_cursor of the previous page'),
});

const commaList = z.string().transform((text) => text.split(',').map((v) => v.trim()).filter((v) => v !== ''));
/**
 * The GET form: the same query in the URL (`group_by=tenant,model`, `model=a,b` keeps, `not_model=c`
 * drops), with the POST form's bounds, so what it refuses is a 400 here (`model=` names no model).
 */
const getQuerySchema = z.strictObject({
  from: querySchema.shape.from, to: querySchema.shape.to, granularity: querySchema.shape.granularity, time_zone: querySchema.shape.time_zone,
  group_by: commaList.pipe(groupBy).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1_000),
  cursor: querySchema.shape.cursor,
  ...Object.fromEntries(usageDimensions.flatMap((d) => [[d, commaList.pipe(values).optional()], [`not_${d}`, commaList.pipe(values).optional()]])),
});

/** One row of usage and money as the API answers it (the usage query, lifetime totals). */
export const usageRow = z.object({
  bucket_start: z.string().nullable(),
  tenant: z.string().optional(), project: z.string().optional(), provider: z.string().optional(), model: z.string().optional(), operation: z.string().optional(),
  api_key_hash: z.string().optional().describe("hex SHA-256 of the caller's API key ('' when the event had none)"),
  status_class: z.string().optional().describe('2xx, 4xx, 5xx... or none'), error_class: z.string().optional().describe('the error class, none for a successful call'),
  requests: signedDigits, input_tokens: signedDigits, cache_read_tokens: signedDigits, cache_write_tokens: signedDigits, cache_write_1h_tokens: signedDigits,
  output_tokens: signedDigits, reasoning_tokens: signedDigits, audio_input_tokens: signedDigits, audio_output_tokens: signedDigits, image_input_tokens: signedDigits, image_output_tokens: signedDigits,
  total_tokens: signedDigits.describe('every token bucket (they are disjoint): input + cache_read + cache_write + cache_write_1h + output + reasoning + audio and image input and output'),
  errors: signedDigits,
  latency_ms_avg: z.number().nullable().describe('sum / count of the stored latencies (whole microseconds), rounded to the microsecond'),
  latency_ms_max: millisDecimal, ttft_ms_avg: z.number().nullable(), ttft_ms_max: millisDecimal,
  cost_usd: usd, cost_pico: signedDigits, charge_usd: usd, charge_pico: signedDigits, margin_usd: usd, margin_pico: signedDigits, cache_savings_usd: usd, cache_savings_pico: signedDigits,
  unpriced_cost_events: signedDigits, unpriced_charge_events: signedDigits,
  requests_by_status_class: z.record(z.string(), signedDigits).describe('HTTP status class (2xx, 4xx, 5xx...) -> requests'),
  errors_by_class: z.record(z.string(), signedDigits).describe('error class -> errors'),
  units: z.record(z.string(), signedDigits).describe('per-request priced unit (web_search, ...) -> units'),
});
const answer = z.object({
  data: z.array(usageRow),
  meta: z.object({
    from: z.string(), to: z.string(), granularity: z.enum(usageGranularities), time_zone: z.string(),
    price_versions: z.object({ cost: z.array(z.string()), charge: z.array(z.string()) }).describe('every price version that priced the rows'),
    next_cursor: z.string().nullable(),
    completeness: completenessSchema,
  }),
});

export interface UsageQueryRouteDeps {
  clickhouse: () => ClickHouseHandle;
  /** Measured before the read: what it says was in is in the answer. */
  completeness: () => Promise<RollupCompleteness | null>;
  clock: () => number;
}

/**
 * `POST /v1/usage/query`: usage and money over the exact hourly rollups, bucketed (hour, day or
 * month in a time zone, or totals), grouped and filtered by rollup dimensions, a page at a time;
 * by api_key_hash, status_class or error_class over the raw events of the named tenants.
 * Money leaves as exact decimal USD and integer pico-USD strings, never a float.
 */
export const usageQueryRoutes = ({ clickhouse, completeness, clock }: UsageQueryRouteDeps): FastifyPluginCallbackZod => (app, _options, done) => {
  const answerQuery = async (request: FastifyRequest, body: z.infer<typeof querySchema>, reply: FastifyReply): Promise<void> => {
    const query: UsageQuery = { ...timeRange(body.from, body.to, body.granularity, body.time_zone), granularity: body.granularity, timeZone: body.time_zone, groupBy: body.group_by, filters: { ...body.filters }, limit: body.limit, after: decodeCursor(body.cursor) };
    const bound = tenantOf(request, undefined, clock());
    if (bound !== undefined) query.filters.tenant = confine(bound, body.filters.tenant);
    // The raw-only dimensions aggregate raw events: bounded to named tenants, never every tenant's month.
    if (readsRawEvents(query) && query.filters.tenant?.in === undefined) throw new HttpProblem(400, 'TENANT_FILTER_REQUIRED', 'grouping or filtering by api_key_hash, status_class or error_class reads raw events: name the tenants (filters.tenant.in)');
    const measured = await completeness();
    const page = await queryUsage(clickhouse(), query);
    const data = page.rows.map(usageRowToWire);
    const nextCursor = page.next === undefined ? null : Buffer.from(JSON.stringify(page.next)).toString('base64url');
    if ((request.headers.accept ?? '').includes('text/csv')) {
      if (nextCursor !== null) void reply.header('x-next-cursor', nextCursor);
      await reply.type('text/csv; charset=utf-8').send(toCsv(data, body.group_by));
      return;
    }
    await reply.send({
      data,
      meta: {
        from: new Date(query.fromMs).toISOString(), to: new Date(query.toMs).toISOString(), granularity: body.granularity, time_zone: body.time_zone,
        price_versions: { cost: union(page.rows.map((r) => r.cost_price_versions)), charge: union(page.rows.map((r) => r.charge_price_versions)) },
        next_cursor: nextCursor,
        completeness: measured,
      },
    });
  };
  const described = { 200: answer.describe('JSON, or CSV with `Accept: text/csv` (the next page cursor in `X-Next-Cursor`)') };

  app.post('/v1/usage/query', {
    config: { scope: 'usage:read' },
    schema: { tags: ['usage'], summary: 'Usage and money over [from, to), bucketed, grouped and filtered', description: 'Reads the exact rollups; grouping or filtering by api_key_hash, status_class or error_class aggregates the raw events instead (each event once), and needs a tenant filter. There late_events and cache_savings are 0 (not stored per event) and unpriced counts are events stored without a price version.', body: querySchema, response: described },
  }, (request, reply) => answerQuery(request, request.body, reply));

  app.get('/v1/usage/query', {
    config: { scope: 'usage:read' },
    schema: { tags: ['usage'], summary: 'The same query in the URL', querystring: getQuerySchema, response: described },
  }, (request, reply) => {
    const q = request.query as Record<string, unknown> & z.infer<typeof getQuerySchema>;
    const filters = Object.fromEntries(usageDimensions.flatMap((d) => {
      const keep = q[d] as string[] | undefined;
      const drop = q[`not_${d}`] as string[] | undefined;
      return keep === undefined && drop === undefined ? [] : [[d, { ...(keep === undefined ? {} : { in: keep }), ...(drop === undefined ? {} : { not_in: drop }) }]];
    }));
    return answerQuery(request, querySchema.parse({ from: q.from, to: q.to, granularity: q.granularity, time_zone: q.time_zone, group_by: q.group_by ?? [], filters, limit: q.limit, cursor: q.cursor }), reply);
  });

  app.get('/v1/usage/dimensions/:dimension/values', {
    config: { scope: 'usage:read' },
    schema: {
      tags: ['usage'],
      summary: 'The values a dimension takes over [from, to) (a tenant-bound key: in its tenant)',
      params: z.object({ dimension: z.enum(usageDimensions) }),
      querystring: z.strictObject({ from: querySchema.shape.from, to: querySchema.shape.to, limit: z.coerce.number().int().min(1).max(10_000).default(1_000) }),
      response: { 200: z.object({ dimension: z.enum(usageDimensions), values: z.array(z.string()) }) },
    },
  }, async (request) => {
    const range = timeRange(request.query.from, request.query.to, 'hour', 'UTC');
    const bound = tenantOf(request, undefined, clock());
    const values = await dimensionValues(clickhouse(), request.params.dimension, range, bound === undefined ? undefined : [bound], request.query.limit);
    return { dimension: request.params.dimension, values };
  });
  done();
};

function timeRange(from: string, to: string, granularity: string, timeZone: string): { fromMs: number; toMs: number } {
  const fromMs = Date.parse(from);
  const toMs = Date.parse(to);
  if (fromMs >= toMs) throw new HttpProblem(400, 'RANGE_INVALID', `from (${from}) must be before to (${to})`);
  if (fromMs % HOUR !== 0 || toMs % HOUR !== 0) throw new HttpProblem(400, 'RANGE_NOT_HOURLY', 'the rollups are hourly: from and to must be whole UTC hours');
  if (toMs - fromMs > MAX_RANGE_MS) throw new HttpProblem(400, 'RANGE_TOO_LONG', 'a query spans at most 3 years');
  let fits: boolean;
  try {
    fits = zoneFitsHours(timeZone, fromMs, toMs);
  } catch {
    throw new HttpProblem(400, 'TIME_ZONE_UNKNOWN', `"${timeZone}" is not an IANA time zone (e.g. UTC, Europe/Paris)`);
  }
  if (!fits && (granularity === 'day' || granularity === 'month')) throw new HttpProblem(400, 'TIME_ZONE_NOT_HOURLY', `${timeZone} is offset from UTC by a fraction of an hour: its days cannot be built from the hourly rollups (use hour buckets)`);
  return { fromMs, toMs };
}

/** A tenant-bound caller's filter: its own tenant only (naming another is refused). */
function confine(bound: string, asked: { in?: string[] | undefined; not_in?: string[] | undefined } | undefined): { in: string[]; not_in?: string[] | undefined } {
  const other = asked?.in?.find((t) => t !== bound);
  if (other !== undefined) throw new AccessError('TENANT_FORBIDDEN', `this key is bound to another tenant than "${other}"`);
  return { in: [bound], not_in: asked?.not_in };
}

function decodeCursor(cursor: string | undefined): string[] | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.every((k) => typeof k === 'string')) return key;
  } catch {
    // falls through to the refusal
  }
  throw new HttpProblem(400, 'CURSOR_INVALID', 'the cursor is not one this API gave (pass meta.next_cursor of the previous page)');
}

/** A usage row on the wire: exact decimal strings for counts and money, averages rounded to the microsecond. */
export function usageRowToWire(r: UsageQueryRow): z.infer<typeof usageRow> {
  const s = r.sums;
  const money = (pico: bigint) => ({ usd: formatScaled(pico, 12), pico: pico.toString() });
  const cost = money(BigInt(s.cost_pico));
  const charge = money(BigInt(s.charge_pico));
  const margin = money(BigInt(s.charge_pico) - BigInt(s.cost_pico));
  const savings = money(BigInt(s.cache_savings_pico));
  // Sums are exact milliseconds with three decimals: the average is computed on whole microseconds.
  const avg = (sum: string, count: string) => {
    if (count === '0') return null;
    const [whole = '0', fraction = ''] = sum.split('.');
    const micros = BigInt(whole) * 1_000n + BigInt(fraction.padEnd(3, '0').slice(0, 3) || '0');
    const n = BigInt(count);
    return Number((2n * micros + n) / (2n * n)) / 1000;
  };
  const tokens = tokenBuckets;
  return {
    bucket_start: r.bucket_ms === null ? null : new Date(r.bucket_ms).toISOString(),
    ...r.dimensions,
    requests: s.requests, ...Object.fromEntries(tokens.map((t) => [t, s[t]])) as Record<(typeof tokens)[number], string>,
    total_tokens: tokens.reduce((sum, t) => sum + BigInt(s[t]), 0n).toString(), errors: s.errors,
    latency_ms_avg: avg(s.latency_ms_sum, s.latency_count), latency_ms_max: s.latency_ms_max, ttft_ms_avg: avg(s.ttft_ms_sum, s.ttft_count), ttft_ms_max: s.ttft_ms_max,
    cost_usd: cost.usd, cost_pico: cost.pico, charge_usd: charge.usd, charge_pico: charge.pico, margin_usd: margin.usd, margin_pico: margin.pico, cache_savings_usd: savings.usd, cache_savings_pico: savings.pico,
    unpriced_cost_events: s.unpriced_cost_events, unpriced_charge_events: s.unpriced_charge_events,
    requests_by_status_class: r.requests_by_status_class, errors_by_class: r.errors_by_class, units: r.units,
  };
}

function union(lists: readonly string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}

const MAP_COLUMNS: readonly string[] = ['requests_by_status_class', 'errors_by_class', 'units'];

/** CSV of the rows, one header line, values as they are in JSON (RFC 4180 quoting). */
function toCsv(rows: readonly z.infer<typeof usageRow>[], groupBy: readonly string[]): string {
  // The per-class maps stay in JSON: a spreadsheet row holds scalars.
  const columns = ['bucket_start', ...groupBy, ...Object.keys(usageRow.shape).filter((c) => c !== 'bucket_start' && !(usageDimensions as readonly string[]).includes(c) && !MAP_COLUMNS.includes(c))];
  const cell = (value: string | number | null | undefined): string => {
    const text = value === null || value === undefined ? '' : String(value);
    return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell((r as unknown as Record<string, string | number | null | undefined>)[c])).join(','))].join('\r\n') + '\r\n';
}
