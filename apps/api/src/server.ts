import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawReplyDefaultExpression, type RawRequestDefaultExpression, type RawServerDefault } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import type { Redis } from 'ioredis';
import { createSerializerCompiler, jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { KeyBook, KeyStore } from '@meterline/access';
import { InvoicesTable, type ClickHouseHandle, type ReconcileReport } from '@meterline/clickhouse';
import type { PriceBooks } from '@meterline/domain';
import type { Health, Logger } from '@meterline/platform';
import type { Meter } from '@meterline/producer';
import type { QuotaChecker, QuotaStore } from '@meterline/quotas';
import { installAuth } from './auth';
import { reportedCompleteness, type RollupCompleteness } from './completeness';
import { HttpProblem, problemHandler, problemSchema } from './problem';
import { alertRoutes } from './routes/alerts';
import { eventRoutes } from './routes/events';
import { eventReadRoutes } from './routes/events-read';
import { healthRoutes } from './routes/health';
import { invoiceRoutes, type InvoiceRunDeps } from './routes/invoices';
import { keyRoutes } from './routes/keys';
import { priceRoutes } from './routes/prices';
import { quotaRoutes } from './routes/quotas';
import { usageRoutes } from './routes/usage';
import { usagePeriodRoutes } from './routes/usage-periods';
import { usageQueryRoutes } from './routes/usage-query';

export interface ApiDeps {
  /** The rollups the usage query reads, and the alert history. */
  clickhouse: ClickHouseHandle;
  quotas: QuotaChecker;
  /** Writes quota definitions (the compacted topic the rollup consumers tail). */
  quotaStore: QuotaStore;
  reconcile: (tenantId: string, fromMs: number, toMs: number) => Promise<ReconcileReport>;
  /** Ingest writes through the producer shim. */
  meter: Meter;
  health: Health;
  keys: KeyBook;
  keyStore: KeyStore;
  /** Signs tenant read tokens; undefined: none are issued. */
  tokenSecret: string | undefined;
  /** Requests per minute per key (per IP without one), counted in Redis; undefined: no limit. */
  rateLimit?: { redis: Redis; perMinute: number } | undefined;
  /** The price books in force (GET /v1/prices); undefined: that route answers 503. */
  prices?: (() => PriceBooks) | undefined;
  /** The fleet's invoice queue (POST /v1/invoices/runs); undefined: runs answer 503. Stored invoices are read from `clickhouse`. */
  invoiceRuns?: InvoiceRunDeps | undefined;
  /** The rollup pipeline's lag, reported with usage answers; undefined: not reported. */
  completeness?: (() => Promise<RollupCompleteness>) | undefined;
  log: Logger;
  clock?: () => number;
}

export type ApiServer = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

// Token counts and money are bigint in the domain: decimal strings on the wire, never floats.
const bigintAsString = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/**
 * The HTTP API, built apart from listening so tests drive it with `inject()`. Each route carries
 * its zod schemas (validation, types, the OpenAPI document at /openapi.json) and its scope
 * (`config.scope`), which both the auth hook and the document's `security` read.
 */
export async function buildApiServer(deps: ApiDeps): Promise<ApiServer> {
  const clock = deps.clock ?? Date.now;
  const logger: FastifyBaseLogger = deps.log.child({ component: 'http-api' });
  const problems = problemHandler(deps.log);
  const app = Fastify({
    // Errors Fastify raises before routing (a malformed URL) leave as problem+json too.
    frameworkErrors: (error, request, reply) => {
      void problems(error, request, reply);
    },
    loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 5 * 1024 * 1024, requestIdHeader: 'x-request-id' }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(createSerializerCompiler({ replacer: bigintAsString }));
  app.setReplySerializer((payload) => JSON.stringify(payload, bigintAsString));
  app.setErrorHandler(problems);
  app.setNotFoundHandler((request, reply) => reply.code(404).type('application/problem+json').send({ type: 'https://meterline.dev/problems/not-found', title: 'NOT_FOUND', status: 404, code: 'NOT_FOUND', detail: `no route for ${request.method} ${request.url.split('?')[0] ?? ''}`, instance: request.id }));
  // The document's security follows the route's scope (what it says is what the hook enforces),
  // and every route declares the problem answers it can give.
  app.addHook('onRoute', (route) => {
    if (route.schema === undefined || route.schema.hide === true) return;
    const secured = route.config?.scope !== undefined;
    // Fastify's own refusals too: a URL too long (414), and for a route with a body one too large (413) or of another media type (415).
    const withBody = (route.schema as { body?: unknown }).body !== undefined;
    const problems = Object.fromEntries([400, 404, 414, 500, ...(withBody ? [413, 415] : []), ...(secured ? [401, 403, 429] : [])].map((status) => [status, problemSchema]));
    route.schema = {
      ...route.schema,
      response: { ...problems, ...(route.schema.response as object | undefined) },
      ...(secured ? { security: [{ bearerAuth: [] }], description: `Needs the scope \`${String(route.config?.scope)}\`.` } : {}),
    };
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'meterline API', version: '1', description: 'Exact LLM usage metering: ingest, usage, quotas, keys.' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key (mlk_...) or a tenant read token (mlt_...)' } } },
    },
    transform: jsonSchemaTransform,
  });
  installAuth(app, deps.keys, clock);
  if (deps.rateLimit !== undefined) await installRateLimit(app, deps.rateLimit.redis, deps.rateLimit.perMinute);
  await app.register(healthRoutes(deps.health));
  const completeness = reportedCompleteness(deps.completeness, deps.log);
  await app.register(usageRoutes({ clickhouse: () => deps.clickhouse, completeness, reconcile: deps.reconcile, clock }));
  await app.register(usageQueryRoutes({ clickhouse: () => deps.clickhouse, completeness, clock }));
  await app.register(usagePeriodRoutes({ clickhouse: () => deps.clickhouse, completeness, clock }));
  await app.register(quotaRoutes(deps.quotas, deps.quotaStore, clock));
  await app.register(alertRoutes(() => deps.clickhouse, clock));
  await app.register(invoiceRoutes({ invoices: () => new InvoicesTable(deps.clickhouse), runs: () => deps.invoiceRuns, clock }));
  await app.register(priceRoutes(() => deps.prices, clock));
  await app.register(eventRoutes(deps.meter, clock));
  await app.register(eventReadRoutes(() => deps.clickhouse, clock));
  await app.register(keyRoutes({ keys: deps.keys, store: deps.keyStore, tokenSecret: deps.tokenSecret, clock }));
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  await app.ready();
  return app;
}

/**
 * Per-key rate limits (@fastify/rate-limit, counted in Redis so every API process shares them):
 * after authentication, keyed by the key id (a tenant token by its tenant and issuer), 429 with
 * `Retry-After`. Open routes are not limited.
 */
async function installRateLimit(app: ApiServer, redis: Redis, perMinute: number): Promise<void> {
  await app.register(fastifyRateLimit, {
    global: true,
    hook: 'preHandler',
    redis,
    nameSpace: 'meterline:rate-limit:',
    max: perMinute,
    timeWindow: 60_000,
    allowList: (request) => request.routeOptions.config.scope === undefined,
    keyGenerator: (request) => {
      const p = request.principal;
      return p === undefined ? `ip:${request.ip}` : p.kind === 'api-key' ? `key:${p.keyId}` : `token:${p.keyId}:${p.tenantId ?? ''}`;
    },
    errorResponseBuilder: (_request, context) => new HttpProblem(429, 'RATE_LIMITED', `more than ${context.max} requests a minute with this key; retry in ${context.after}`),
  });
}
