import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { listPrices, priceBookKinds, type PriceBooks } from '@meterline/domain';
import { tenantOf } from '../auth';
import { HttpProblem, problemSchema } from '../problem';

const usdPerMillion = z.string().regex(/^\d+(\.\d{1,6})?$/).describe('exact decimal USD per 1M tokens');
const rates = z.object({
  usd_per_1m_tokens: z.object({
    input: usdPerMillion, cache_read: usdPerMillion, cache_write: usdPerMillion.describe('5-minute (default TTL) cache writes'), cache_write_1h: usdPerMillion.describe('1-hour cache writes'),
    output: usdPerMillion, reasoning: usdPerMillion,
    audio_input: usdPerMillion.optional(), audio_output: usdPerMillion.optional(), image_input: usdPerMillion.optional(), image_output: usdPerMillion.optional(),
  }).describe('a media rate is absent when the plan does not price it: usage with such tokens is then unpriced'),
  usd_per_request: z.string().regex(/^\d+(\.\d{1,12})?$/).describe('exact decimal USD per request'),
  usd_per_unit: z.record(z.string(), z.string().regex(/^\d+(\.\d{1,12})?$/)).describe('exact decimal USD per unit (web_search, ...); a unit not listed is not priced'),
});
const thresholds = z.array(z.object({ above_prompt_tokens: z.number().int(), rates }).describe('every rate of a request switches when its prompt tokens exceed this'));
const version = z.object({
  price_version_id: z.string(), effective_from: z.string().describe('ISO 8601 UTC, inclusive'), effective_to: z.string().nullable().describe('the next version\'s effective_from (exclusive); null: in force'),
  rates, thresholds, tiers: z.array(z.object({ tier: z.string(), rates, thresholds })),
});
const entry = z.object({
  book: z.enum(priceBookKinds).describe('cost: what providers charge the platform; rate_card: what tenants are charged by default; tenant: a tenant\'s own prices'),
  tenant_id: z.string().nullable(), provider: z.string(), model: z.string(), aliases: z.array(z.string()), match: z.array(z.string()), versions: z.array(version),
});

/**
 * The price books in force: effective-dated prices with their version ids (the ids the rollups and
 * invoices record), every rate an exact decimal string. A tenant's own prices and terms are shown
 * to that tenant and to keys bound to none.
 */
export const priceRoutes = (prices: () => (() => PriceBooks) | undefined, clock: () => number): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/prices', {
    config: { scope: 'usage:read' },
    schema: {
      tags: ['prices'],
      summary: 'Effective-dated prices with their version ids (rates in USD per 1M tokens, the request fee per request)',
      querystring: z.strictObject({
        provider: z.string().min(1).max(256).optional(),
        model: z.string().min(1).max(512).optional().describe('a model name as events write it: the entry that prices it (name, alias or pattern)'),
        at: z.iso.datetime({ offset: true }).optional().describe('only the version in force at this instant'),
        book: z.enum(priceBookKinds).optional(),
        tenant: z.string().min(1).max(256).optional().describe("that tenant's own prices (a tenant-bound key: always its own)"),
      }),
      response: {
        200: z.object({
          books_id: z.string().describe('changes when a price file does'),
          at: z.string().nullable(),
          entries: z.array(entry),
          tenants: z.array(z.object({ tenant_id: z.string(), discount_percent: z.string().nullable(), markup_percent: z.string().nullable() }).describe('applied on top of the prices listed')),
        }),
        503: problemSchema,
      },
    },
  }, (request) => {
    const books = prices();
    if (books === undefined) throw new HttpProblem(503, 'PRICES_UNAVAILABLE', 'this API process has no price books');
    const q = request.query;
    const at = q.at === undefined ? undefined : Date.parse(q.at);
    const tenant = tenantOf(request, q.tenant, clock());
    const list = listPrices(books(), { provider: q.provider, model: q.model, at, book: q.book, tenant });
    return { ...list, at: at === undefined ? null : new Date(at).toISOString() };
  });
  done();
};
