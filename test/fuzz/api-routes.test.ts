import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KeyBook, KeyStore } from '@meterline/access';
import { buildApiServer, type ApiServer } from '@meterline/api';
import { reconcileUsage } from '@meterline/clickhouse';
import { invoiceId, quotaPeriodKinds } from '@meterline/domain';
import { InvoiceQueue } from '@meterline/invoice-queue';
import { accessTopics, ensureTopics, streamTopics } from '@meterline/kafka';
import { Health } from '@meterline/platform';
import { loadPriceBooks } from '@meterline/pricing';
import { QuotaChecker, QuotaStore } from '@meterline/quotas';
import { uniqueName } from '@meterline/testing';
import { Outcomes, fuzz, fuzzTimeoutMs } from '../support/fuzz';
import { OpenApiCheck } from '../support/openapi-check';
import { rawPath, testLog, type RawPath } from '../support/raw-path';
import { plausibleUsageEvent } from './usage-events';

// Every HTTP route against malformed requests: bad JSON, bad percent-encoding, Unicode, huge
// numbers, deep nesting, unknown fields and wrong types in bodies, query strings and path
// parameters, with and without valid keys, on an API built with real dependencies (Kafka for
// keys, quotas and ingest, Redis for quota checks, rate limits and the invoice queue, ClickHouse
// for usage, alerts and invoices). No answer is a 5xx; every 4xx is problem+json with a code and
// a detail (or, for ingest, each event's rejection); every answer matches the served /openapi.json.

const brokers = inject('kafkaBrokers');
const redisUrl = inject('redisUrl');
const TOKEN_SECRET = 'a-fuzz-token-secret-of-at-least-32-chars';
const NOW = Date.now();
const TENANT = uniqueName('acme-fuzz');

let path: RawPath;
let redis: Redis;
const clients: Redis[] = [];
let store: KeyStore;
let book: KeyBook;
let quotaStore: QuotaStore;
let queue: InvoiceQueue;
let api: ApiServer;
let contract: OpenApiCheck;
const auth: Record<string, string | undefined> = { none: undefined, 'not a key': 'Bearer mlk_not-a-key', 'basic scheme': 'Basic YWRtaW46YWRtaW4=', 'empty bearer': 'Bearer ' };

beforeAll(async () => {
  path = await rawPath(brokers, { partitions: 1 });
  const keysTopic = uniqueName('fuzz-api-keys');
  const quotaTopic = uniqueName('fuzz-quota-definitions');
  await ensureTopics(path.kafka, accessTopics({ apiKeys: keysTopic }), testLog);
  await ensureTopics(path.kafka, streamTopics({ usageEvents: path.topic, usageEventsPartitions: 1, usageRollups: `${quotaTopic}-r`, quotaAlerts: `${quotaTopic}-a`, quotaDefinitions: quotaTopic, pricingAlerts: `${quotaTopic}-p` }), testLog);
  redis = new Redis(redisUrl);
  store = new KeyStore(path.kafka, keysTopic, 'fuzz-pepper', testLog);
  auth.admin = `Bearer ${(await store.create({ name: 'admin', scopes: ['admin'] })).token}`;
  auth['tenant-bound'] = `Bearer ${(await store.create({ name: 'tenant', scopes: 'usage:read,quotas:read,quotas:write,events:write,invoices:read', tenantId: TENANT })).token}`;
  auth.reader = `Bearer ${(await store.create({ name: 'reader', scopes: 'usage:read' })).token}`;
  book = new KeyBook(path.kafka, redis, { topic: keysTopic, pepper: 'fuzz-pepper', tokenSecret: TOKEN_SECRET }, testLog);
  await book.start();
  quotaStore = new QuotaStore(path.kafka, quotaTopic, testLog);
  const [queueRedis, quotaRedis] = [new Redis(redisUrl, { maxRetriesPerRequest: null }), new Redis(redisUrl)];
  clients.push(queueRedis, quotaRedis);
  queue = new InvoiceQueue(queueRedis, { name: uniqueName('fuzz-invoices'), attempts: 1 });
  const books = loadPriceBooks('pricing');
  api = await buildApiServer({
    clickhouse: path.handle, quotas: new QuotaChecker(quotaRedis), quotaStore, reconcile: (t, f, to) => reconcileUsage(path.handle, t, f, to),
    meter: path.newMeter(), health: new Health(), keys: book, keyStore: store, tokenSecret: TOKEN_SECRET, log: testLog, clock: () => NOW,
    rateLimit: { redis, perMinute: 1_000_000 }, prices: () => books, invoiceRuns: { queue, allowedLatenessMs: 3_600_000, clock: () => NOW },
  });
  contract = new OpenApiCheck((await api.inject({ method: 'GET', url: '/openapi.json' })).json());
  const token = await api.inject({ method: 'POST', url: '/v1/tenant-tokens', headers: { authorization: auth.reader, 'content-type': 'application/json' }, payload: JSON.stringify({ tenant_id: TENANT }) });
  auth['tenant token'] = `Bearer ${(token.json<{ token: string }>()).token}`;
});

afterAll(async () => {
  await api?.close();
  await queue?.queue.close();
  await book?.stop();
  await store?.close();
  await quotaStore?.close();
  redis?.disconnect();
  for (const client of clients) client.disconnect();
  await path?.close();
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A request that is valid for its route (with the admin key), before it is broken. */
interface Valid {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path segments; those in `params` are path parameters (the rest are literal). */
  segments: string[];
  params: number[];
  query: [string, string][];
  body?: Json;
}

const month = '2026-01';
const invoice = invoiceId(TENANT, month, 1);
const from = '2026-01-01T00:00:00Z';
const to = '2026-01-02T00:00:00Z';
const event = (): Json => {
  const { api_key_hash: _hash, ...e } = fc.sample(plausibleUsageEvent(NOW), { numRuns: 1, seed: 7 })[0]!;
  return { ...e, tenant_id: TENANT };
};
const route = (method: Valid['method'], url: string, query: [string, string][] = [], body?: Json): Valid => {
  const segments = url.split('/').slice(1);
  return { method, segments: segments.map((s) => s.replace(/^:/, '')), params: segments.flatMap((s, i) => (s.startsWith(':') ? [i] : [])), query, ...(body === undefined ? {} : { body }) };
};

/** One valid request per operation of the API (each with its parameters filled in). */
const valid: Valid[] = [
  route('GET', '/livez'),
  route('GET', '/readyz'),
  route('GET', '/v1/usage', [['tenant', TENANT]]),
  route('GET', `/v1/usage/:${TENANT}`),
  route('GET', '/v1/reconcile', [['tenant', TENANT], ['from', from], ['to', to]]),
  route('POST', '/v1/usage/query', [], { from, to, granularity: 'hour', group_by: ['model', 'tenant'], filters: { tenant: { in: [TENANT] }, model: { not_in: ['x'] } }, limit: 10 }),
  route('GET', '/v1/usage/query', [['from', from], ['to', to], ['granularity', 'day'], ['time_zone', 'Europe/Paris'], ['group_by', 'tenant,model'], ['model', 'gpt-4o,o3'], ['not_provider', 'acme'], ['limit', '5']]),
  route('GET', '/v1/usage/dimensions/:model/values', [['from', from], ['to', to], ['limit', '10']]),
  route('GET', '/v1/usage/periods', [['tenant', TENANT], ['count', '2']]),
  route('GET', '/v1/quotas', [['tenant', TENANT]]),
  route('PUT', `/v1/quotas/:${TENANT}/:monthly-tokens`, [], { metric: 'total_tokens', period: quotaPeriodKinds[1], limit: '1000000', thresholds: [50, 100], enforcement: 'hard', time_zone: 'UTC', scope: { model: 'gpt-4o' } }),
  route('DELETE', `/v1/quotas/:${TENANT}/:monthly-tokens`),
  route('GET', `/v1/quotas/:${TENANT}/check`, [['model', 'gpt-4o']]),
  route('GET', '/v1/alerts', [['tenant', TENANT], ['kind', 'quota'], ['from', from], ['limit', '5']]),
  route('GET', '/v1/invoices', [['tenant', TENANT], ['period', month], ['status', 'final'], ['limit', '5']]),
  route('GET', `/v1/invoices/:${invoice}`),
  route('GET', `/v1/invoices/:${invoice}/document`, [['format', 'csv']]),
  route('POST', '/v1/invoices/runs', [], { period: '2025-01', tenants: [TENANT] }),
  route('POST', `/v1/invoices/:${invoice}/revisions`),
  route('GET', '/v1/invoices/revisions/:some-job'),
  route('GET', '/v1/invoices/runs/:some-run'),
  route('GET', '/v1/prices', [['provider', 'openai'], ['model', 'gpt-4o'], ['at', from], ['book', 'rate_card']]),
  route('POST', '/v1/events', [], [event(), event()]),
  route('GET', '/v1/events', [['tenant', TENANT], ['from', from], ['status', 'ok'], ['limit', '5']]),
  route('POST', '/v1/keys', [], { name: 'fuzzed', scopes: ['usage:read'], tenant_id: TENANT, expires_at: '2030-01-01T00:00:00Z' }),
  route('GET', '/v1/keys'),
  route('DELETE', '/v1/keys/:no-such-key'),
  route('POST', '/v1/tenant-tokens', [], { tenant_id: TENANT, scopes: ['usage:read'], ttl_seconds: 60 }),
];

// ---- what breaks a request ------------------------------------------------------------------

/** Percent-encodes UTF-8 bytes (a lone surrogate becomes U+FFFD, as a client would send it). */
const encode = (text: string): string => [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

/** Text as it goes into a URL: encoded, or raw (bad percent-encoding, raw Unicode and spaces included). */
const urlText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }).map(encode),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ',', ' , ', ',,', '%', '%%', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%FF%FE', '%ED%A0%80', '%2e%2e', '%2F', '..', '.', '+', '%20', ' ', 'é', '\u0000', '[]', 'a[b]', '__proto__', 'constructor', 'null', 'undefined', 'true'),
  fc.constantFrom('1e309', '-1e309', '99999999999999999999999999', '-0', '0x10', 'NaN', 'Infinity', '1_000', '0', '-1', '9007199254740993', '2026-13-45T25:61:61Z', '0000-01-01T00:00:00Z', '9999-12-31T23:00:00+23:59', '2026-01-01T00:00:00.123456789Z'),
  fc.integer({ min: 90, max: 20_000 }).map((n) => 'x'.repeat(n)),
);

/** Body values: wrong types, huge and tiny numbers, odd strings, nested structures. */
const bodyValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 0.5, 1e308, -1e308, 2 ** 53 + 2, '', ' ', '\ud800', '\u0000', 'é'.repeat(300), [], {}, '1e309', '-0', '2026-02-30T00:00:00Z'),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

type Edit =
  | { op: 'path'; index: number; value: string }
  | { op: 'query set'; index: number; value: string }
  | { op: 'query add'; name: string; value: string }
  | { op: 'query drop'; index: number }
  | { op: 'query raw'; raw: string }
  | { op: 'body set'; at: number; value: Json }
  | { op: 'body drop'; at: number }
  | { op: 'body add'; at: number; key: string; value: Json }
  | { op: 'body text'; text: 'truncate' | 'deep' | 'huge number' | 'garbage' | 'proto' | 'empty'; at: number; depth: number }
  | { op: 'content type'; value: string | undefined }
  | { op: 'accept'; value: string }
  | { op: 'method'; value: Valid['method'] | 'PATCH' | 'HEAD' | 'OPTIONS' };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('path' as const), index: fc.nat(), value: urlText }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('query set' as const), index: fc.nat(), value: urlText }) },
  fc.record({ op: fc.constant('query add' as const), name: fc.oneof(urlText, fc.constantFrom('tenant', 'limit', 'from', 'to', 'cursor', 'group_by', 'format', 'count', 'at')), value: urlText }),
  fc.record({ op: fc.constant('query drop' as const), index: fc.nat() }),
  fc.record({ op: fc.constant('query raw' as const), raw: fc.oneof(urlText, fc.constantFrom('&&&', '=', '==', '&=&', 'a=1&a=2', 'tenant=a&tenant=b', 'limit[]=1', '?', 'a=%', 'cursor=eyJ9', 'cursor=WzEsMiwzXQ', 'cursor=WyIyMDI2LTAxIiwiYSIsMV0')) }),
  { weight: 3, arbitrary: fc.record({ op: fc.constant('body set' as const), at: fc.nat(), value: bodyValue }) },
  fc.record({ op: fc.constant('body drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('body add' as const), at: fc.nat(), key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'api_key_hash', 'tenant_id')), value: bodyValue }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('body text' as const), text: fc.constantFrom('truncate', 'deep', 'huge number', 'garbage', 'proto', 'empty'), at: fc.nat(), depth: fc.integer({ min: 1, max: 200_000 }) }) },
  fc.record({ op: fc.constant('content type' as const), value: fc.constantFrom(undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/problem+json', 'multipart/form-data; boundary=x', 'application/json;;', 'é') }),
  fc.record({ op: fc.constant('accept' as const), value: fc.constantFrom('text/csv', 'text/html', 'application/xml', '*/*;q=0', 'text/*', 'application/json;q=0.1, text/csv', ',,,', 'é') }),
  fc.record({ op: fc.constant('method' as const), value: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') }),
);

/** Every path in a JSON document, the root included. */
function jsonPaths(doc: Json, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(doc)) return [at, ...doc.flatMap((v, i) => jsonPaths(v, [...at, i]))];
  if (doc !== null && typeof doc === 'object') return [at, ...Object.entries(doc).flatMap(([k, v]) => jsonPaths(v, [...at, k]))];
  return [at];
}

function editJson(doc: Json, e: Extract<Edit, { op: 'body set' | 'body drop' | 'body add' }>): Json {
  const paths = jsonPaths(doc);
  const target = paths[e.at % paths.length]!;
  if (target.length === 0) return e.op === 'body set' ? e.value : doc;
  const parent = target.slice(0, -1).reduce<Json>((node, key) => (node as Record<string | number, Json>)[key]!, doc) as Record<string | number, Json>;
  const key = target.at(-1)!;
  if (e.op === 'body set') parent[key] = e.value;
  else if (e.op === 'body drop') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else {
    const node = parent[key];
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) Object.defineProperty(node, e.key, { value: e.value, enumerable: true, configurable: true, writable: true });
  }
  return doc;
}

function editText(text: string, e: Extract<Edit, { op: 'body text' }>): string {
  const at = e.at % (text.length + 1);
  switch (e.text) {
    case 'truncate':
      return text.slice(0, at);
    case 'deep':
      return `${'['.repeat(e.depth)}${text}${']'.repeat(e.depth)}`;
    case 'huge number':
      return text.replace(/-?\d+(\.\d+)?|"[^"]*"/, e.depth % 2 === 0 ? '1e999999' : '123456789012345678901234567890123456789');
    case 'garbage':
      return `${text.slice(0, at)}\u0000\ud800}{,:"${text.slice(at)}`;
    case 'proto':
      return text.replace(/^\s*\{/, '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},');
    case 'empty':
      return '';
  }
}

interface Request {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

function build(v: Valid, credential: string | undefined, edits: readonly Edit[]): Request {
  const segments = [...v.segments];
  let query: string[] = v.query.map(([k, val]) => `${encode(k)}=${encode(val)}`);
  let body: Json | undefined = v.body === undefined ? undefined : structuredClone(v.body);
  let text: string | undefined;
  let method: string = v.method;
  const headers: Record<string, string> = {};
  if (credential !== undefined) headers.authorization = credential;
  let contentType: string | undefined = 'application/json';
  for (const e of edits) {
    switch (e.op) {
      case 'path':
        if (v.params.length > 0) segments[v.params[e.index % v.params.length]!] = e.value;
        break;
      case 'query set':
        if (query.length > 0) query[e.index % query.length] = `${query[e.index % query.length]!.split('=')[0]}=${e.value}`;
        break;
      case 'query add':
        query.push(`${e.name}=${e.value}`);
        break;
      case 'query drop':
        if (query.length > 0) query = query.filter((_q, i) => i !== e.index % query.length);
        break;
      case 'query raw':
        query.push(e.raw);
        break;
      case 'body set':
      case 'body drop':
      case 'body add':
        body = editJson(body ?? {}, e);
        break;
      case 'body text':
        text = editText(text ?? JSON.stringify(body ?? {}), e);
        break;
      case 'content type':
        contentType = e.value;
        break;
      case 'accept':
        headers.accept = e.value;
        break;
      case 'method':
        method = e.value;
        break;
    }
  }
  const payload = text ?? (body === undefined ? undefined : JSON.stringify(body));
  if (payload !== undefined && contentType !== undefined) headers['content-type'] = contentType;
  return { method, url: `/${segments.join('/')}${query.length === 0 ? '' : `?${query.join('&')}`}`, headers, ...(payload === undefined ? {} : { payload }) };
}

/** What an answer says, checked: never 5xx; a 4xx has its reason; the document describes it. */
async function send(request: Request): Promise<string> {
  const response = await api.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, ...(request.payload === undefined ? {} : { payload: request.payload }) });
  const status = response.statusCode;
  const type = String(response.headers['content-type'] ?? '');
  const where = `${request.method} ${request.url.slice(0, 300)} (${request.payload?.length ?? 0} bytes of ${request.headers['content-type'] ?? 'no type'}) -> ${status} ${response.body.slice(0, 500)}`;
  expect(status, where).toBeLessThan(500);
  const json = type.includes('json') && response.body !== '' ? (JSON.parse(response.body) as Record<string, unknown>) : undefined;
  if (status >= 400 && request.method === 'HEAD') {
    // The answer a GET would give, without its body.
    expect(type.startsWith('application/problem+json') || (request.url.startsWith('/v1/events') && status === 400), where).toBe(true);
  } else if (status >= 400) {
    if (type.startsWith('application/problem+json')) {
      expect(typeof json?.code === 'string' && (json.code).length > 0, where).toBe(true);
      expect(typeof json?.detail === 'string' && (json.detail).length > 0, where).toBe(true);
    } else {
      // Ingest refuses every event with its reason, in the answer's own shape.
      expect(request.url.startsWith('/v1/events') && status === 400, where).toBe(true);
      const rejected = (json as { rejected?: { code?: unknown; error?: unknown }[] } | undefined)?.rejected ?? [];
      expect(rejected.length, where).toBeGreaterThan(0);
      for (const r of rejected) expect(typeof r.code === 'string' && typeof r.error === 'string', where).toBe(true);
    }
  }
  // What no route answers (a router miss, or a body refused before routing) is checked above; the document lists routes.
  if (json !== undefined && contract.documents(request.method, request.url)) {
    try {
      contract.check(request.method, request.url, status, json);
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
    }
  }
  if (status < 400) return `${status}`;
  return request.method === 'HEAD' ? `${status} (HEAD)` : `${status} ${typeof json?.code === 'string' ? json.code : 'rejected events'}`;
}

describe('fuzz: every HTTP route', () => {
  it('valid requests with their paths, queries, bodies and headers broken, with and without keys: no 5xx, 4xx with a reason, answers as documented', { timeout: fuzzTimeoutMs }, async () => {
    const outcomes = new Outcomes();
    const credentials = Object.keys(auth);
    const request = fc.record({
      route: fc.nat({ max: valid.length - 1 }),
      credential: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('admin', 'tenant-bound') }, { weight: 1, arbitrary: fc.constantFrom(...credentials) }),
      edits: fc.array(edit, { maxLength: 4 }),
    });
    const property = fc.asyncProperty(request, async ({ route: index, credential, edits }) => {
      outcomes.add(await send(build(valid[index]!, auth[credential], edits)));
    });
    await fuzz('api/broken-requests', property, 1_000, outcomes);
    // Both sides were reached: requests the routes answered, and refusals of every kind.
    expect(outcomes.toString()).toMatch(/(^|, )20[0-9] /);
    expect(outcomes.toString()).toMatch(/400 REQUEST_INVALID/);
    expect(contract.checked).toBeGreaterThan(0);
  });

  it('random methods, paths and bodies (anything a client can send): no 5xx, 4xx with a reason', { timeout: fuzzTimeoutMs }, async () => {
    const outcomes = new Outcomes();
    const literal = fc.constantFrom(...new Set(valid.flatMap((v) => v.segments)));
    const randomRequest = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      segments: fc.array(fc.oneof(literal, urlText), { minLength: 1, maxLength: 6 }),
      query: fc.option(urlText, { nil: undefined }),
      credential: fc.constantFrom(...Object.keys(auth)),
      payload: fc.option(fc.oneof(fc.jsonValue().map((j) => JSON.stringify(j)), fc.string({ unit: 'binary', maxLength: 200 })), { nil: undefined }),
    });
    const property = fc.asyncProperty(randomRequest, async (r) => {
      const headers: Record<string, string> = r.payload === undefined ? {} : { 'content-type': 'application/json' };
      if (auth[r.credential] !== undefined) headers.authorization = auth[r.credential]!;
      outcomes.add(await send({ method: r.method, url: `/${r.segments.join('/')}${r.query === undefined ? '' : `?${r.query}`}`, headers, ...(r.payload === undefined ? {} : { payload: r.payload }) }));
    });
    await fuzz('api/random-requests', property, 1_000, outcomes);
    expect(outcomes.count('404 NOT_FOUND')).toBeGreaterThan(0);
  });
});
