import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KeyBook, KeyStore } from '@meterline/access';
import { buildApiServer, type ApiServer } from '@meterline/api';
import type { TenantUsage } from '@meterline/api';
import { UsageEventsTable, reconcileUsage } from '@meterline/clickhouse';
import { accessTopics, ensureTopics, streamTopics } from '@meterline/kafka';
import { Health } from '@meterline/platform';
import { QuotaBook, QuotaChecker, QuotaStore } from '@meterline/quotas';
import { withScripts } from '@meterline/redis';
import { pricedSampleModels, uniqueName, usageGenerator, waitFor } from '@meterline/testing';
import { OpenApiCheck } from './support/openapi-check';
import { pipeline, type Pipeline } from './support/invoices';
import { testLog } from './support/raw-path';

// Every route of the API with keys of every kind, on real Kafka (keys, ingest), Redis (last use,
// quota checks) and ClickHouse (usage): who may read and write what, and nothing leaks across tenants.
const brokers = inject('kafkaBrokers');
const redisUrl = inject('redisUrl');
const PEPPER = 'test-pepper';
const TOKEN_SECRET = 'a-test-token-secret-of-at-least-32-chars';

let clock = Date.now();
let pipe: Pipeline;
let redis: Redis;
let book: KeyBook;
let store: KeyStore;
let quotaStore: QuotaStore;
let quotaBook: QuotaBook;
let api: ApiServer;
let contract: OpenApiCheck;
const acme = uniqueName('acme');
const globex = uniqueName('globex');
const tokens: Record<'admin' | 'acmeReader' | 'globexWriter' | 'reader' | 'revoked' | 'expiring', string> = { admin: '', acmeReader: '', globexWriter: '', reader: '', revoked: '', expiring: '' };
let revokedId = '';

const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token?: string, body?: unknown) => {
  const response = await api.inject({ method, url, headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const answer = { status: response.statusCode, type: String(response.headers['content-type'] ?? ''), body: response.body === '' ? undefined : (JSON.parse(response.body) as Record<string, unknown>), headers: response.headers };
  // Every answer of these tests is checked against the served OpenAPI document.
  contract?.check(method, url, answer.status, answer.body);
  return answer;
};
const eventsFor = (tenant: string, n: number, seed: number) => {
  const next = usageGenerator({ seed, tenants: [tenant], idPrefix: `${tenant}-${seed}`, models: pricedSampleModels });
  return Array.from({ length: n }, () => {
    const { api_key_hash: _h, ...event } = next();
    return event;
  });
};

beforeAll(async () => {
  pipe = await pipeline(brokers, 2);
  const keysTopic = uniqueName('api-keys');
  await ensureTopics(pipe.rig.kafka, accessTopics({ apiKeys: keysTopic }), testLog);
  redis = new Redis(redisUrl);
  // Quota definitions: a topic of this file's own, mirrored into Redis by a book as the rollup consumer's is.
  const quotaTopic = uniqueName('quota-definitions');
  await ensureTopics(pipe.rig.kafka, streamTopics({ usageEvents: pipe.rig.topics.usageEvents, usageEventsPartitions: 1, usageRollups: `${quotaTopic}-r`, quotaAlerts: `${quotaTopic}-a`, quotaDefinitions: quotaTopic, pricingAlerts: `${quotaTopic}-p` }), testLog);
  quotaStore = new QuotaStore(pipe.rig.kafka, quotaTopic, testLog);
  quotaBook = new QuotaBook(pipe.rig.kafka, quotaTopic, withScripts(new Redis(redisUrl)), testLog);
  await quotaBook.start();
  store = new KeyStore(pipe.rig.kafka, keysTopic, PEPPER, testLog, () => clock);
  tokens.admin = (await store.create({ name: 'admin', scopes: ['admin'] })).token;
  tokens.acmeReader = (await store.create({ name: 'acme dashboard', scopes: 'usage:read,quotas:read', tenantId: acme })).token;
  tokens.globexWriter = (await store.create({ name: 'globex gateway', scopes: 'events:write', tenantId: globex })).token;
  tokens.reader = (await store.create({ name: 'finance', scopes: 'usage:read' })).token;
  const revoked = await store.create({ name: 'leaked', scopes: 'usage:read' });
  tokens.revoked = revoked.token;
  revokedId = revoked.record.id;
  tokens.expiring = (await store.create({ name: 'temp', scopes: 'usage:read', expiresAt: clock + 60_000 })).token;
  book = new KeyBook(pipe.rig.kafka, redis, { topic: keysTopic, pepper: PEPPER, tokenSecret: TOKEN_SECRET }, testLog);
  await book.start();
  api = await buildApiServer({
    clickhouse: pipe.rig.handle, quotas: new QuotaChecker(withScripts(new Redis(redisUrl)), { definitionsTtlMs: 0 }), quotaStore, reconcile: (t, f, to) => reconcileUsage(pipe.rig.handle, t, f, to),
    meter: pipe.rig.meter, health: new Health(), keys: book, keyStore: store, tokenSecret: TOKEN_SECRET, log: testLog, clock: () => clock,
  });
  contract = new OpenApiCheck((await api.inject({ method: 'GET', url: '/openapi.json' })).json());
  // Usage of both tenants through the API's ingest, then the raw sink and the rollups into ClickHouse.
  for (const [tenant, seed] of [[acme, 1], [globex, 2]] as const) {
    const sent = await call('POST', '/v1/events', tokens.admin, eventsFor(tenant, 50, seed));
    expect(sent.status).toBe(202);
  }
  await waitFor(() => new UsageEventsTable(pipe.rig.handle).tenantTotals(), (t) => t.filter((r) => r.tenant_id === acme || r.tenant_id === globex).length === 2, { what: 'both tenants in ClickHouse', timeoutMs: 60_000 });
  await pipe.caughtUp();
});

afterAll(async () => {
  // The contract check ran on the answers above (a run that checked nothing would prove nothing).
  expect(contract.checked).toBeGreaterThan(20);
  await api?.close();
  await quotaBook?.stop();
  await quotaStore?.close();
  await book?.stop();
  await store?.close();
  redis?.disconnect();
  await pipe?.rig.close();
});

describe('API keys and scopes', () => {
  it('open: /livez, /readyz and /openapi.json; every other route needs a key (401 with WWW-Authenticate, problem+json)', async () => {
    for (const url of ['/livez', '/readyz', '/openapi.json']) expect((await call('GET', url)).status).toBe(200);
    for (const [method, url] of [['GET', '/v1/usage'], ['GET', `/v1/usage/${acme}`], ['GET', `/v1/quotas/${acme}/check`], ['GET', `/v1/reconcile?tenant=${acme}&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z`], ['POST', '/v1/events'], ['GET', '/v1/keys'], ['POST', '/v1/keys'], ['DELETE', '/v1/keys/x'], ['POST', '/v1/tenant-tokens']] as const) {
      const answer = await call(method, url);
      expect({ url, status: answer.status, code: answer.body?.code, type: answer.type }).toEqual({ url, status: 401, code: 'KEY_MISSING', type: 'application/problem+json; charset=utf-8' });
      expect(answer.headers['www-authenticate']).toBe('Bearer');
    }
    expect((await call('GET', '/v1/usage', 'mlk_not-a-key')).body?.code).toBe('KEY_INVALID');
    expect((await call('GET', '/v1/usage', `${tokens.reader.slice(0, -2)}xx`)).body?.code).toBe('KEY_INVALID');
  });

  it('a tenant-bound key sees only its tenant, from every route (0 leaks), and cannot name another', async () => {
    const own = await call('GET', '/v1/usage', tokens.acmeReader);
    expect((own.body!.data as TenantUsage[]).map((t) => ({ tenant: t.tenant, requests: t.requests }))).toEqual([{ tenant: acme, requests: '50' }]);
    const attempts = [
      ['GET', `/v1/usage?tenant=${globex}`], ['GET', `/v1/usage/${globex}`], ['GET', `/v1/quotas/${globex}/check`],
      ['GET', `/v1/reconcile?tenant=${globex}&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z`], ['GET', `/v1/events?tenant=${globex}`],
    ] as const;
    for (const [method, url] of attempts) {
      const answer = await call(method, url, tokens.acmeReader);
      expect({ url, status: answer.status, code: answer.body?.code }).toEqual({ url, status: 403, code: 'TENANT_FORBIDDEN' });
      expect(JSON.stringify(answer.body)).not.toContain('"events"');
    }
    expect(((await call('GET', `/v1/usage/${acme}`, tokens.acmeReader)).body?.data as TenantUsage).tenant).toBe(acme);
    expect((await call('GET', `/v1/quotas/${acme}/check`, tokens.acmeReader)).status).toBe(200);
    const events = (await call('GET', '/v1/events?limit=1000', tokens.acmeReader)).body!.data as { tenant_id: string }[];
    expect({ count: events.length, tenants: [...new Set(events.map((e) => e.tenant_id))] }).toEqual({ count: 50, tenants: [acme] });
    const reconcile = await call('GET', `/v1/reconcile?tenant=${acme}&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z`, tokens.acmeReader);
    expect(reconcile.body?.raw_events).toBe('50');
    // An unbound reader sees every tenant.
    const all = (await call('GET', '/v1/usage', tokens.reader)).body!.data as TenantUsage[];
    expect(all.map((t) => t.tenant)).toEqual(expect.arrayContaining([acme, globex]));
  });

  it('usage query: the injected tenant filter, another tenant refused, malformed queries named', async () => {
    const window = { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };
    const own = await call('POST', '/v1/usage/query', tokens.acmeReader, { ...window, group_by: ['tenant'] });
    expect(own.status).toBe(200);
    expect((own.body!.data as { tenant: string }[]).every((r) => r.tenant === acme)).toBe(true);
    expect((await call('POST', '/v1/usage/query', tokens.acmeReader, { ...window, filters: { tenant: { in: [globex] } } })).body?.code).toBe('TENANT_FORBIDDEN');
    const cases = [
      [{ ...window, time_zone: 'Asia/Kolkata' }, 'TIME_ZONE_NOT_HOURLY'], [{ ...window, time_zone: 'Mars/Base' }, 'TIME_ZONE_UNKNOWN'],
      [{ ...window, from: '2026-11-01T00:30:00Z' }, 'RANGE_NOT_HOURLY'], [{ ...window, group_by: ['colour'] }, 'REQUEST_INVALID'],
      [{ ...window, limit: 1e12 }, 'REQUEST_INVALID'], [{ ...window, surprise: true }, 'REQUEST_INVALID'], [{ ...window, cursor: 'nope' }, 'CURSOR_INVALID'],
    ] as const;
    for (const [body, code] of cases) {
      const answer = await call('POST', '/v1/usage/query', tokens.reader, body);
      expect({ body, status: answer.status, code: answer.body?.code }).toEqual({ body, status: 400, code });
    }
  });

  it('quotas as resources: set, listed with use and projection, removed; bound keys confined, read keys cannot write', async () => {
    const quota = { metric: 'total_tokens', period: 'month', limit: '100000000', enforcement: 'soft', thresholds: [50, 100] };
    const put = await call('PUT', `/v1/quotas/${acme}/monthly`, tokens.admin, quota);
    expect({ status: put.status, limit: put.body?.limit, tenant: put.body?.tenant_id }).toEqual({ status: 200, limit: '100000000', tenant: acme });
    const listed = await waitFor(() => call('GET', '/v1/quotas', tokens.acmeReader), (a) => (a.body?.quotas as unknown[] | undefined)?.length === 1, { what: 'the quota mirrored', timeoutMs: 30_000 });
    const [resource] = listed.body!.quotas as { quota_id: string; limit: string; used: string; remaining: string; burn_per_hour: string; resets_at_iso: string }[];
    expect(resource).toMatchObject({ quota_id: 'monthly', limit: '100000000', used: '0', remaining: '100000000', burn_per_hour: '0' });
    expect((await call('GET', `/v1/quotas?tenant=${globex}`, tokens.acmeReader)).body?.code).toBe('TENANT_FORBIDDEN');
    expect((await call('GET', '/v1/quotas', tokens.reader)).status).toBe(403); // usage:read only
    expect((await call('GET', '/v1/quotas', tokens.admin)).body?.code).toBe('TENANT_REQUIRED');
    expect((await call('PUT', `/v1/quotas/${acme}/x`, tokens.acmeReader, quota)).body?.code).toBe('SCOPE_MISSING');
    const invalid = await call('PUT', `/v1/quotas/${acme}/x`, tokens.admin, { ...quota, limit: '0' });
    expect({ status: invalid.status, code: invalid.body?.code }).toEqual({ status: 400, code: 'QUOTA_DEFINITION_INVALID' });
    expect((await call('DELETE', `/v1/quotas/${acme}/monthly`, tokens.admin)).status).toBe(204);
    await waitFor(() => call('GET', `/v1/quotas?tenant=${acme}`, tokens.admin), (a) => (a.body?.quotas as unknown[] | undefined)?.length === 0, { what: 'the quota gone', timeoutMs: 30_000 });
  });

  it('scopes: a key without the route scope gets 403 naming the scope', async () => {
    const cases = [
      [tokens.acmeReader, 'POST', '/v1/events', 'events:write'], [tokens.reader, 'GET', '/v1/keys', 'admin'],
      [tokens.globexWriter, 'GET', '/v1/usage', 'usage:read'], [tokens.reader, 'GET', `/v1/quotas/${acme}/check`, 'quotas:read'],
    ] as const;
    for (const [token, method, url, scope] of cases) {
      const answer = await call(method, url, token, method === 'POST' ? [] : undefined);
      expect({ url, status: answer.status, code: answer.body?.code }).toEqual({ url, status: 403, code: 'SCOPE_MISSING' });
      expect(answer.body?.detail).toContain(scope);
    }
  });

  it('ingest: a bound key writes its own tenant only; nobody sets api_key_hash', async () => {
    const [mine] = eventsFor(globex, 1, 3);
    const [theirs] = eventsFor(acme, 1, 4);
    const mixed = await call('POST', '/v1/events', tokens.globexWriter, [mine, theirs, { ...mine, event_id: 'forged-hash', api_key_hash: 'ab'.repeat(32) }]);
    expect(mixed.status).toBe(207);
    expect(mixed.body?.accepted).toHaveLength(1);
    expect((mixed.body?.rejected as { index: number; code: string }[]).map(({ index, code }) => ({ index, code }))).toEqual([{ index: 1, code: 'TENANT_FORBIDDEN' }, { index: 2, code: 'API_KEY_HASH_NOT_ALLOWED' }]);
    expect((await call('POST', '/v1/events', tokens.globexWriter, [theirs])).status).toBe(400);
  });

  it('malformed requests answer 4xx problem+json naming what is wrong', async () => {
    const badJson = await call('POST', '/v1/events', tokens.admin, '{"tenant_id":');
    expect({ status: badJson.status, type: badJson.type }).toEqual({ status: 400, type: 'application/problem+json; charset=utf-8' });
    const unknownParam = await call('GET', '/v1/usage?tenants=acme', tokens.admin);
    expect({ status: unknownParam.status, code: unknownParam.body?.code }).toEqual({ status: 400, code: 'REQUEST_INVALID' });
    expect(unknownParam.body?.detail).toContain('tenants');
    const badRange = await call('GET', `/v1/reconcile?tenant=${acme}&from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`, tokens.admin);
    expect({ status: badRange.status, code: badRange.body?.code }).toEqual({ status: 400, code: 'RANGE_INVALID' });
    const badPath = await call('GET', '/v1/usage/%E0%A4%A', tokens.admin);
    expect(badPath.status).toBe(400);
    expect((await call('GET', '/v1/nothing', tokens.admin)).status).toBe(404);
  });

  it('admin routes: create (token shown once, works at once), list (no secrets, last use), revoke (refused from then on)', async () => {
    const created = await call('POST', '/v1/keys', tokens.admin, { name: 'made over http', scopes: ['usage:read'], tenant_id: acme });
    expect(created.status).toBe(201);
    const token = created.body!.token as string;
    await waitFor(() => call('GET', '/v1/usage', token), (a) => a.status === 200, { what: 'the new key in the book', timeoutMs: 30_000 });
    expect((await call('POST', '/v1/keys', tokens.admin, { name: 'bound admin', scopes: ['admin'], tenant_id: acme })).body?.code).toBe('ADMIN_NOT_TENANT_BOUND');
    expect((await call('POST', '/v1/keys', tokens.admin, { name: 'x', scopes: ['usage:write'] })).status).toBe(400);

    const listed = await call('GET', '/v1/keys', tokens.admin);
    const keys = listed.body!.keys as { id: string; name: string; last_used_at: string | null }[];
    expect(JSON.stringify(listed.body)).not.toMatch(/secret|mlk_/);
    expect(keys.find((k) => k.id === created.body!.id)?.last_used_at).not.toBeNull();

    expect((await call('GET', '/v1/usage', tokens.revoked)).status).toBe(200);
    expect((await call('DELETE', `/v1/keys/${revokedId}`, tokens.admin)).status).toBe(204);
    const refused = await waitFor(() => call('GET', '/v1/usage', tokens.revoked), (a) => a.status === 401, { what: 'the revocation in the book', timeoutMs: 30_000 });
    expect(refused.body?.code).toBe('KEY_REVOKED');
    expect((await call('DELETE', '/v1/keys/no-such-key', tokens.admin)).status).toBe(404);
  });

  it('expired keys are refused', async () => {
    expect((await call('GET', '/v1/usage', tokens.expiring)).status).toBe(200);
    clock += 61_000;
    const answer = await call('GET', '/v1/usage', tokens.expiring);
    expect({ status: answer.status, code: answer.body?.code }).toEqual({ status: 401, code: 'KEY_EXPIRED' });
  });

  it('tenant read tokens: one tenant, read only, short-lived, ended by revoking the key that issued them', async () => {
    const issued = await call('POST', '/v1/tenant-tokens', tokens.reader, { tenant_id: acme, ttl_seconds: 600 });
    expect(issued.status).toBe(201);
    const token = issued.body!.token as string;
    expect((await call('GET', '/v1/usage', token)).body?.data).toEqual([expect.objectContaining({ tenant: acme })]);
    expect((await call('GET', `/v1/usage/${globex}`, token)).body?.code).toBe('TENANT_FORBIDDEN');
    expect((await call('POST', '/v1/events', token, [])).body?.code).toBe('SCOPE_MISSING');
    expect((await call('POST', '/v1/tenant-tokens', token, { tenant_id: acme })).status).toBe(403);
    expect((await call('POST', '/v1/tenant-tokens', tokens.acmeReader, { tenant_id: globex })).body?.code).toBe('TENANT_FORBIDDEN');
    expect((await call('POST', '/v1/tenant-tokens', tokens.reader, { tenant_id: acme, scopes: ['events:write'] })).status).toBe(400);
    clock += 601_000;
    expect((await call('GET', '/v1/usage', token)).body?.code).toBe('TOKEN_EXPIRED');
  });

  it('rate limits per key, shared through Redis: 429 with Retry-After past the limit, other keys unaffected, open routes never limited', async () => {
    const limited = await buildApiServer({
      clickhouse: pipe.rig.handle, quotas: new QuotaChecker(withScripts(new Redis(redisUrl)), { definitionsTtlMs: 0 }), quotaStore, reconcile: (t, f, to) => reconcileUsage(pipe.rig.handle, t, f, to),
      meter: pipe.rig.meter, health: new Health(), keys: book, keyStore: store, tokenSecret: TOKEN_SECRET, log: testLog, clock: () => clock,
      rateLimit: { redis, perMinute: 3 },
    });
    const hit = (token?: string, url = `/v1/usage/${acme}`) => limited.inject({ method: 'GET', url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    try {
      // A fresh key of its own, so the counter starts at zero whatever ran before.
      const { token } = await store.create({ name: 'limited', scopes: 'usage:read' });
      await waitFor(() => hit(token), (r) => r.statusCode !== 401, { what: 'the limited key in the book', timeoutMs: 30_000 });
      const statuses = [(await hit(token)).statusCode, (await hit(token)).statusCode];
      const over = await hit(token);
      expect([...statuses, over.statusCode]).toEqual([200, 200, 429]);
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
      expect(JSON.parse(over.body)).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
      expect((await hit(tokens.acmeReader)).statusCode).toBe(200);
      for (let i = 0; i < 5; i++) expect((await hit(undefined, '/livez')).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('the OpenAPI document lists every route, with bearer security exactly where the hook enforces a key', async () => {
    const doc = (await call('GET', '/openapi.json')).body as { openapi: string; paths: Record<string, Record<string, { security?: unknown[] }>>; components: { securitySchemes: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearerAuth).toBeDefined();
    for (const [route, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const open = route === '/livez' || route === '/readyz';
        expect({ route, method, secured: operation.security !== undefined }).toEqual({ route, method, secured: !open });
      }
    }
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/quotas', '/v1/quotas/{tenant}/{quota_id}', '/v1/usage/query', '/v1/usage', '/v1/usage/{tenant}', '/v1/events', '/v1/keys', '/v1/keys/{id}', '/v1/tenant-tokens', '/v1/quotas/{tenant}/check', '/v1/reconcile']));
  });
});
