import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { KeyBook, KeyStore } from '@meterline/access';
import { buildApiServer, type ApiServer } from '@meterline/api';
import { InvoicesTable, reconcileUsage } from '@meterline/clickhouse';
import { computeInvoice, invoiceId, periodBounds, periodOf, previousPeriod, type Invoice, type UsageEvent } from '@meterline/domain';
import { InvoiceQueue } from '@meterline/invoice-queue';
import { invoiceSchedulerFromConfig, invoiceJobId, type InvoiceFleet, type TenantInvoiceOutcome } from '@meterline/invoice-scheduler';
import { accessTopics, ensureTopics, invoiceTopics } from '@meterline/kafka';
import { invoiceReadyCodec } from '@meterline/contract';
import { Health } from '@meterline/platform';
import { QuotaChecker } from '@meterline/quotas';
import { uniqueName, waitFor } from '@meterline/testing';
import { ReferenceInvoices, correctRateCard, invoiceTestConfig, monthEnd, monthOfTraffic, pipeline, readTopic, type Pipeline, type ReferenceInvoice } from './support/invoices';
import { OpenApiCheck } from './support/openapi-check';
import { testLog } from './support/raw-path';
import { ReferencePrices } from './support/reference-prices';
import { ALLOWED_LATENESS_MS } from './support/stream';

// Invoices and price books over HTTP: invoices produced by a real run (events through Kafka, the
// sinks and the rollup consumer into ClickHouse; an on-demand run through the API onto the BullMQ
// queue, worked by the invoice scheduler's worker on real Redis) are listed, fetched and rendered,
// equal to an independent reference; tenant isolation from every route; the served price books
// equal the price files.
vi.setConfig({ testTimeout: 600_000, hookTimeout: 600_000 });

const brokers = inject('kafkaBrokers');
// A tenant id full of HTML: every document must show it, never run it.
const EVIL = `<b>evil</b>&"co'`;
const TENANTS = ['acme-corp', 'globex', 'initech', EVIL];
const PERIOD = periodOf(monthEnd() - 1);
const EARLIER = previousPeriod(PERIOD);
const TOKEN_SECRET = 'a-test-token-secret-of-at-least-32-chars';

let p: Pipeline;
let fleet: InvoiceFleet;
let apiQueue: InvoiceQueue;
let queueRedis: Redis;
let api: ApiServer;
let book: KeyBook;
let store: KeyStore;
let contract: OpenApiCheck;
let documentsDir = '';
let invoicesTopic = '';
let distinct: UsageEvent[] = [];
let expected = new Map<string, ReferenceInvoice>();
// The invoice clock: 1 min after the month may close (its end plus the allowed lateness).
const now = periodBounds(PERIOD).endMs + ALLOWED_LATENESS_MS + 60_000;
const keys = { admin: '', finance: '', acme: '', globex: '', acmeToken: '' };

type Answer = { status: number; type: string; body: string; json: Record<string, unknown> | undefined; headers: Record<string, unknown> };
async function call(method: 'GET' | 'POST', url: string, token: string, options: { body?: unknown; accept?: string } = {}): Promise<Answer> {
  const response = await api.inject({
    method, url,
    headers: { authorization: `Bearer ${token}`, ...(options.accept === undefined ? {} : { accept: options.accept }), ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(options.body === undefined ? {} : { payload: JSON.stringify(options.body) }),
  });
  const type = String(response.headers['content-type'] ?? '');
  const json = type.includes('json') && response.body !== '' ? (JSON.parse(response.body) as Record<string, unknown>) : undefined;
  // Every JSON answer is checked against the served OpenAPI document (CSV and HTML: their media types, below).
  if (json !== undefined) contract.check(method, url, response.statusCode, json);
  return { status: response.statusCode, type, body: response.body, json, headers: response.headers };
}
const path = (id: string): string => `/v1/invoices/${encodeURIComponent(id)}`;
const idOf = (tenant: string, period = PERIOD): string => invoiceId(tenant, period, 1);

beforeAll(async () => {
  p = await pipeline(brokers, 2);
  const { rig } = p;
  const reference = new ReferencePrices(rig.pricingDir);
  const references = new ReferenceInvoices(reference, rig.pricingDir);
  const traffic = monthOfTraffic(reference, TENANTS, 4_000, 77);
  distinct = traffic.distinct;
  expected = new Map(TENANTS.map((t) => [t, references.invoice(t, distinct.filter((e) => e.tenant_id === t))]));
  await p.record(traffic.arrivals);
  await p.caughtUp();

  // The fleet's invoice scheduler (its worker), and the API with a queue of its own on the same Redis and queue name.
  const { config } = invoiceTestConfig({
    brokers, redisUrl: rig.redisServer.url, usageEvents: rig.topics.usageEvents, usageRollups: rig.topics.usageRollups, rawSinkGroup: p.rawSinkGroup, rollupGroup: rig.groupId,
    rollupSinkGroup: p.rollupSinkGroup, pricingDir: rig.pricingDir, database: rig.handle.database,
  });
  documentsDir = config.invoices.dir;
  invoicesTopic = config.topics.invoices;
  await ensureTopics(rig.kafka, invoiceTopics(config.topics), testLog);
  fleet = await invoiceSchedulerFromConfig({ kafka: rig.kafka, redisUrl: rig.redisServer.url, clickhouse: rig.handle, prices: rig.prices, config, log: testLog, clock: () => now });
  fleet.scheduler.startWorker();
  queueRedis = new Redis(rig.redisServer.url);
  apiQueue = new InvoiceQueue(queueRedis, { name: config.invoices.queue, attempts: config.invoices.attempts });

  const keysTopic = uniqueName('invoice-api-keys');
  await ensureTopics(rig.kafka, accessTopics({ apiKeys: keysTopic }), testLog);
  store = new KeyStore(rig.kafka, keysTopic, 'pepper', testLog);
  keys.admin = (await store.create({ name: 'admin', scopes: 'admin' })).token;
  keys.finance = (await store.create({ name: 'finance', scopes: 'invoices:read,usage:read' })).token;
  keys.acme = (await store.create({ name: 'acme portal', scopes: 'invoices:read,usage:read', tenantId: 'acme-corp' })).token;
  keys.globex = (await store.create({ name: 'globex portal', scopes: 'invoices:read,usage:read', tenantId: 'globex' })).token;
  book = new KeyBook(rig.kafka, rig.redis, { topic: keysTopic, pepper: 'pepper', tokenSecret: TOKEN_SECRET }, testLog);
  await book.start();
  api = await buildApiServer({
    clickhouse: rig.handle, quotas: new QuotaChecker(rig.redis), quotaStore: rig.quotaStore, reconcile: (t, f, to) => reconcileUsage(rig.handle, t, f, to),
    meter: rig.meter, health: new Health(), keys: book, keyStore: store, tokenSecret: TOKEN_SECRET, log: testLog,
    prices: () => rig.prices.books,
    invoiceRuns: { queue: apiQueue, allowedLatenessMs: config.rollups.allowedLatenessMs, clock: () => now },
  });
  contract = new OpenApiCheck(api.swagger() as never);
  const issued = await call('POST', '/v1/tenant-tokens', keys.admin, { body: { tenant_id: 'acme-corp', scopes: ['invoices:read', 'usage:read'], ttl_seconds: 3_600 } });
  expect(issued.status).toBe(201);
  keys.acmeToken = issued.json!.token as string;
});

afterAll(async () => {
  // The contract check ran on the answers (a run that checked nothing would prove nothing).
  expect(contract?.checked).toBeGreaterThan(40);
  await api?.close();
  await apiQueue?.close();
  queueRedis?.disconnect();
  await book?.stop();
  await store?.close();
  await fleet?.close();
  await p?.rig.close();
});

interface RunState { run_id: string; status: string; job_state: string; tenants: string[] | null; invoice_ids: string[]; invoices: Record<string, number>; status_url: string; failures: unknown[] }

describe('on-demand invoice runs (POST /v1/invoices/runs)', () => {
  it('enqueues the close on the fleet queue, the worker invoices every tenant, the state names the invoices; asked again, nothing is computed twice', async () => {
    const first = await call('POST', '/v1/invoices/runs', keys.admin, { body: { period: PERIOD } });
    expect(first.status).toBe(202);
    const run = first.json as unknown as RunState;
    expect(run).toMatchObject({ run_id: `close-${PERIOD}`, tenants: null, status_url: `/v1/invoices/runs/close-${PERIOD}` });
    expect(first.headers.location).toBe(run.status_url);
    const done = await waitFor(async () => (await call('GET', run.status_url, keys.admin)).json as unknown as RunState, (s) => s.status === 'completed' || s.status === 'failed', { what: 'the run to finish', timeoutMs: 300_000, intervalMs: 500 });
    expect(done).toMatchObject({ status: 'completed', job_state: 'completed', failures: [], invoices: { completed: TENANTS.length, failed: 0, pending: 0, missing: 0 } });
    expect(done.invoice_ids).toEqual(TENANTS.map((t) => idOf(t)).sort());

    // The same run asked again: the same job, already done; no invoice computed or announced twice.
    const again = await call('POST', '/v1/invoices/runs', keys.admin, { body: { period: PERIOD } });
    expect(again.status).toBe(202);
    expect(again.json).toMatchObject({ run_id: run.run_id, status: 'completed', invoice_ids: done.invoice_ids });
    // A run of some tenants (in another order, one twice) reuses their invoice jobs: done already, not computed again.
    const some = await call('POST', '/v1/invoices/runs', keys.admin, { body: { period: PERIOD, tenants: ['initech', 'acme-corp', 'initech'] } });
    expect(some.json).toMatchObject({ run_id: `close-${PERIOD}-acme-corp,initech`, tenants: ['acme-corp', 'initech'] });
    const someDone = await waitFor(async () => (await call('GET', (some.json as unknown as RunState).status_url, keys.admin)).json as unknown as RunState, (s) => s.status === 'completed', { what: 'the tenant run', timeoutMs: 120_000, intervalMs: 250 });
    expect(someDone.invoice_ids).toEqual([idOf('acme-corp'), idOf('initech')]);

    const table = new InvoicesTable(p.rig.handle);
    expect(await table.rowCounts(PERIOD)).toEqual({ rows: TENANTS.length, distinct: TENANTS.length });
    for (const tenant of TENANTS) {
      const job = await fleet.scheduler.queue.getJob(invoiceJobId(tenant, PERIOD));
      expect({ tenant, outcome: (job?.returnvalue as TenantInvoiceOutcome).outcome, attempts: job?.attemptsMade }).toEqual({ tenant, outcome: 'created', attempts: 1 });
    }
    expect((await readTopic(p.rig.kafka, invoicesTopic)).length).toBe(TENANTS.length);
    // Each stored invoice equals the independent reference.
    const stored = await table.latest(TENANTS, PERIOD);
    for (const tenant of TENANTS) {
      const inv = stored.get(tenant)!;
      const ref = expected.get(tenant)!;
      expect({ tenant, currency: inv.currency, usage: inv.usage_minor + inv.request_fees_minor, subtotal: inv.subtotal_minor, total: inv.total_minor }).toEqual({ tenant, currency: ref.currency, usage: ref.usage_minor, subtotal: ref.subtotal_minor, total: ref.total_minor });
    }
  });

  it('refuses a period that cannot be closed yet (409), malformed bodies (400), non-admins (403), unknown runs (404)', async () => {
    const current = periodOf(now);
    for (const month of [current, '2099-01']) {
      const answer = await call('POST', '/v1/invoices/runs', keys.admin, { body: { period: month } });
      expect({ month, status: answer.status, code: answer.json?.code, type: answer.type }).toEqual({ month, status: 409, code: 'PERIOD_NOT_CLOSABLE_YET', type: 'application/problem+json; charset=utf-8' });
      expect(answer.json?.detail).toContain(month);
    }
    for (const body of [{ period: '2026-13' }, { period: '2026-1' }, { period: 'last-month' }, {}, { period: PERIOD, tenants: [] }, { period: PERIOD, extra: 1 }, { period: PERIOD, tenants: [''] }]) {
      const answer = await call('POST', '/v1/invoices/runs', keys.admin, { body });
      expect({ body, status: answer.status, code: answer.json?.code }).toEqual({ body, status: 400, code: 'REQUEST_INVALID' });
    }
    for (const token of [keys.finance, keys.acme, keys.acmeToken]) {
      expect((await call('POST', '/v1/invoices/runs', token, { body: { period: PERIOD } })).json?.code).toBe('SCOPE_MISSING');
      expect((await call('GET', `/v1/invoices/runs/close-${PERIOD}`, token)).json?.code).toBe('SCOPE_MISSING');
    }
    // Months close in order from the first one closed (PERIOD, by the run above): an earlier one never closes.
    const earlier = await call('POST', '/v1/invoices/runs', keys.admin, { body: { period: EARLIER } });
    expect({ status: earlier.status, code: earlier.json?.code }).toEqual({ status: 409, code: 'PERIOD_OUT_OF_ORDER' });
    expect(earlier.json?.detail).toContain(`${EARLIER} is before ${PERIOD}, the first month ever closed`);
    const unknown = await call('GET', '/v1/invoices/runs/close-1999-01', keys.admin);
    expect({ status: unknown.status, code: unknown.json?.code }).toEqual({ status: 404, code: 'RUN_NOT_FOUND' });
    expect((await call('GET', `/v1/invoices/runs/${encodeURIComponent(invoiceJobId('acme-corp', PERIOD))}`, keys.admin)).status).toBe(404); // a tenant job is not a run
  });
});

describe('stored invoices over HTTP', () => {
  // Two draft invoices of the month before, stored beside the run's: the list is newest period first.
  const earlier = (tenant: string): Invoice => computeInvoice({ tenant_id: tenant, period: EARLIER, usage: [{ provider: 'openai', model: 'gpt-4o', price_version_id: 'openai/gpt-4o@2024-08-06', bucket: 'output', quantity: 1_000n, amount_pico: 12_000_000_000n }], clock: () => now });
  beforeAll(async () => {
    await new InvoicesTable(p.rig.handle).insert([earlier('acme-corp'), earlier('globex')]);
  });

  it('lists every invoice newest period first, with exact amounts equal to the reference; pages with a keyset cursor; filters', async () => {
    const all = await call('GET', '/v1/invoices?limit=1000', keys.finance);
    expect(all.status).toBe(200);
    const rows = all.json!.data as Record<string, unknown>[];
    const currentTenants = [...TENANTS].sort();
    expect(rows.map((r) => `${String(r.period)} ${String(r.tenant_id)}`)).toEqual([...currentTenants.map((t) => `${PERIOD} ${t}`), `${EARLIER} acme-corp`, `${EARLIER} globex`]);
    expect(all.json!.next_cursor).toBeNull();
    for (const tenant of TENANTS) {
      const row = rows.find((r) => r.tenant_id === tenant && r.period === PERIOD)!;
      const ref = expected.get(tenant)!;
      const digits = ref.currency === 'JPY' ? 0 : 2;
      expect(row).toMatchObject({
        invoice_id: idOf(tenant), revision: 1, status: 'final', currency: ref.currency, currency_minor_unit: digits,
        subtotal_minor: ref.subtotal_minor.toString(), subtotal: decimalOf(ref.subtotal_minor, digits),
        credits_applied_minor: ref.credits_applied_minor.toString(), credits_applied: decimalOf(ref.credits_applied_minor, digits),
        total_minor: ref.total_minor.toString(), total: decimalOf(ref.total_minor, digits),
      });
      expect(row.line_count).toBeGreaterThan(0);
      expect(Date.parse(row.issued_at as string)).toBe(now);
    }
    // Pages of 2 through the cursor: every row once, in the same order.
    const paged: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await call('GET', `/v1/invoices?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, keys.finance);
      paged.push(...(page.json!.data as unknown[]));
      cursor = page.json!.next_cursor as string | null;
    } while (cursor !== null);
    expect(paged).toEqual(rows);
    const ids = async (query: string): Promise<string[]> => ((await call('GET', `/v1/invoices?${query}`, keys.finance)).json!.data as { invoice_id: string }[]).map((r) => r.invoice_id);
    expect(await ids(`period=${EARLIER}`)).toEqual([idOf('acme-corp', EARLIER), idOf('globex', EARLIER)]);
    expect(await ids('tenant=globex')).toEqual([idOf('globex'), idOf('globex', EARLIER)]);
    expect(await ids('status=draft')).toEqual([idOf('acme-corp', EARLIER), idOf('globex', EARLIER)]);
    expect(await ids(`status=final&tenant=${encodeURIComponent(EVIL)}`)).toEqual([idOf(EVIL)]);
  });

  it('GET /v1/invoices/{id}: the whole stored invoice, lines included; its lines sum to the reference total', async () => {
    const stored = await new InvoicesTable(p.rig.handle).latest(TENANTS, PERIOD);
    for (const tenant of TENANTS) {
      const answer = await call('GET', path(idOf(tenant)), keys.finance);
      expect(answer.status).toBe(200);
      const body = answer.json as { invoice_id: string; tenant_id: string; total_minor: string; lines: { amount_minor: string }[] };
      expect(body).toEqual(JSON.parse(JSON.stringify(stored.get(tenant), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))));
      expect({ id: body.invoice_id, tenant: body.tenant_id, total: body.total_minor }).toEqual({ id: idOf(tenant), tenant, total: expected.get(tenant)!.total_minor.toString() });
      expect(body.lines.reduce((sum, l) => sum + BigInt(l.amount_minor), 0n)).toBe(expected.get(tenant)!.total_minor);
    }
  });

  it('documents: JSON, CSV and HTML, by ?format= or Accept, the very bytes the scheduler wrote, totals equal to the reference, every value escaped', async () => {
    const document = (await api.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, { get: { responses: Record<string, { content: Record<string, unknown> }> } }> }>();
    expect(Object.keys(document.paths['/v1/invoices/{invoice_id}/document']!.get.responses['200']!.content).sort()).toEqual(['application/json', 'text/csv', 'text/html']);
    for (const tenant of TENANTS) {
      const id = idOf(tenant);
      const ref = expected.get(tenant)!;
      const file = (ext: string): string => readFileSync(join(documentsDir, PERIOD, `${id}.${ext}`), 'utf8');
      const json = await call('GET', `${path(id)}/document?format=json`, keys.finance);
      expect({ status: json.status, type: json.type, same: json.body === file('json') }).toEqual({ status: 200, type: 'application/json; charset=utf-8', same: true });
      expect((json.json!.totals as Record<string, string>).total_minor).toBe(ref.total_minor.toString());
      const csv = await call('GET', `${path(id)}/document`, keys.finance, { accept: 'text/csv' });
      expect({ status: csv.status, type: csv.type, same: csv.body === file('csv') }).toEqual({ status: 200, type: 'text/csv; charset=utf-8', same: true });
      expect(csvTotal(csv.body)).toBe(ref.total_minor);
      const html = await call('GET', `${path(id)}/document`, keys.finance, { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' });
      expect({ status: html.status, type: html.type, same: html.body === file('html') }).toEqual({ status: 200, type: 'text/html; charset=utf-8', same: true });
      expect(html.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'");
      expect(/<tr class="total"><th>Total \(([A-Z]{3})\)<\/th><td class="num">([^<]+)<\/td><\/tr>/.exec(html.body)?.slice(1)).toEqual([ref.currency, grouped(ref.total_minor, ref.currency === 'JPY' ? 0 : 2)]);
    }
    // The tenant id full of HTML is shown escaped, never as markup.
    const evil = (await call('GET', `${path(idOf(EVIL))}/document?format=html`, keys.finance)).body;
    expect(evil).toContain('&lt;b&gt;evil&lt;/b&gt;&amp;&quot;co&#39;');
    expect(evil).not.toContain('<b>evil');
    // Negotiation: the preferred acceptable format; JSON for anything; 406 when none is acceptable.
    const id = idOf('initech');
    const cases = [['*/*', 'application/json'], ['text/csv;q=0.5, text/html', 'text/html'], ['application/json;q=0.1, text/csv', 'text/csv'], ['text/*', 'text/csv']] as const;
    for (const [accept, type] of cases) expect({ accept, type: (await call('GET', `${path(id)}/document`, keys.finance, { accept })).type.split(';')[0] }).toEqual({ accept, type });
    const refused = await call('GET', `${path(id)}/document`, keys.finance, { accept: 'application/pdf' });
    expect({ status: refused.status, code: refused.json?.code }).toEqual({ status: 406, code: 'NOT_ACCEPTABLE' });
    expect((await call('GET', `${path(id)}/document?format=csv`, keys.finance, { accept: 'text/html' })).type).toBe('text/csv; charset=utf-8');
  });

  it('malformed ids, periods, cursors and formats answer 4xx problems naming what is wrong', async () => {
    const cases: [string, number, string][] = [
      ['/v1/invoices/nope', 400, 'INVOICE_ID_INVALID'], ['/v1/invoices/inv_acme-corp_2026-13_r1', 400, 'INVOICE_ID_INVALID'], ['/v1/invoices/inv_acme-corp_2026-01_r0', 400, 'INVOICE_ID_INVALID'],
      ['/v1/invoices/inv_acme-corp_1999-01_r1', 404, 'INVOICE_NOT_FOUND'], ['/v1/invoices/inv_acme-corp_1999-01_r1/document', 404, 'INVOICE_NOT_FOUND'], ['/v1/invoices/nope/document?format=csv', 400, 'INVOICE_ID_INVALID'],
      [`${path(idOf('globex'))}/document?format=pdf`, 400, 'REQUEST_INVALID'], ['/v1/invoices?period=2026-1', 400, 'REQUEST_INVALID'], ['/v1/invoices?limit=0', 400, 'REQUEST_INVALID'],
      ['/v1/invoices?limit=1e30', 400, 'REQUEST_INVALID'], ['/v1/invoices?status=paid', 400, 'REQUEST_INVALID'], ['/v1/invoices?colour=red', 400, 'REQUEST_INVALID'], ['/v1/invoices?cursor=not-a-cursor', 400, 'CURSOR_INVALID'],
      [`/v1/invoices?cursor=${Buffer.from('["2026-13","a",1]').toString('base64url')}`, 400, 'CURSOR_INVALID'],
    ];
    for (const [url, status, code] of cases) {
      const answer = await call('GET', url, keys.finance);
      expect({ url, status: answer.status, code: answer.json?.code, type: answer.type }).toEqual({ url, status, code, type: 'application/problem+json; charset=utf-8' });
    }
    expect((await call('GET', '/v1/invoices/%E0%A4%A', keys.finance)).status).toBe(400);
  });
});

describe('tenant isolation on the invoice routes', () => {
  it("a tenant-bound key and a tenant token see their own invoices only, from every route: another tenant's are refused (0 leaks)", async () => {
    for (const [token, own, other] of [[keys.acme, 'acme-corp', 'globex'], [keys.acmeToken, 'acme-corp', 'globex'], [keys.globex, 'globex', 'acme-corp']] as const) {
      const listed = await call('GET', '/v1/invoices', token);
      expect((listed.json!.data as { tenant_id: string }[]).map((r) => r.tenant_id)).toEqual([own, own]); // this month's and the month before's
      expect(listed.body).not.toContain(other);
      const refused = [`/v1/invoices?tenant=${other}`, path(idOf(other)), `${path(idOf(other))}/document`, `${path(idOf(other))}/document?format=html`, `${path(idOf(EVIL))}/document?format=csv`, path(idOf(other, EARLIER))];
      for (const url of refused) {
        const answer = await call('GET', url, token);
        expect({ url, status: answer.status, code: answer.json?.code }).toEqual({ url, status: 403, code: 'TENANT_FORBIDDEN' });
        expect(answer.body).not.toContain('total');
      }
      expect((await call('GET', path(idOf(own)), token)).status).toBe(200);
      expect((await call('GET', `${path(idOf(own))}/document?format=csv`, token)).status).toBe(200);
    }
  });
});

describe('price books (GET /v1/prices)', () => {
  /** USD per 1M tokens (or per request) as written in a file or on the wire -> an exact integer of 10^-12 units. */
  const exact = (text: string): bigint => {
    const m = /^(\d+)(?:\.(\d{1,12}))?$/.exec(text);
    if (m === null) throw new Error(`not a plain decimal: ${text}`);
    return BigInt(m[1]! + (m[2] ?? '').padEnd(12, '0'));
  };
  interface FileRates { input: string; cache_read?: string; cache_write?: string; cache_write_1h?: string; output: string; reasoning?: string; request?: string; audio_input?: string; audio_output?: string; image_input?: string; image_output?: string; units?: Record<string, string> }
  interface FileVersion { effective_from: string; label?: string; prices: FileRates; thresholds?: { above_prompt_tokens: number; prices: FileRates }[]; tiers?: Record<string, { prices: FileRates; thresholds?: { above_prompt_tokens: number; prices: FileRates }[] }> }
  interface FileModel { provider: string; model: string; versions: FileVersion[] }
  interface WireRates { usd_per_1m_tokens: Record<string, string>; usd_per_request: string; usd_per_unit: Record<string, string> }
  interface WireVersion { price_version_id: string; effective_from: string; effective_to: string | null; rates: WireRates; thresholds: { above_prompt_tokens: number; rates: WireRates }[]; tiers: { tier: string; rates: WireRates; thresholds: unknown[] }[] }
  interface WireEntry { book: string; tenant_id: string | null; provider: string; model: string; versions: WireVersion[] }
  // A file's rates with their documented defaults, as exact values.
  const fileRates = (r: FileRates) => ({
    input: exact(r.input), cache_read: exact(r.cache_read ?? r.input), cache_write: exact(r.cache_write ?? r.input), cache_write_1h: exact(r.cache_write_1h ?? r.cache_write ?? r.input),
    output: exact(r.output), reasoning: exact(r.reasoning ?? r.output), request: exact(r.request ?? '0'),
    ...Object.fromEntries((['audio_input', 'audio_output', 'image_input', 'image_output'] as const).filter((m) => r[m] !== undefined).map((m) => [m, exact(r[m]!)])),
    units: Object.fromEntries(Object.entries(r.units ?? {}).map(([k, v]) => [k, exact(v)])),
  });
  const wireRates = (r: WireRates) => ({ ...Object.fromEntries(Object.entries(r.usd_per_1m_tokens).map(([k, v]) => [k, exact(v)])), request: exact(r.usd_per_request), units: Object.fromEntries(Object.entries(r.usd_per_unit).map(([k, v]) => [k, exact(v)])) });
  const label = (v: FileVersion): string => v.label ?? (v.effective_from.length === 10 ? v.effective_from : new Date(Date.parse(v.effective_from)).toISOString());

  function expectBook(entries: WireEntry[], models: FileModel[], book: string, prefix = '', tenant: string | null = null): void {
    const mine = entries.filter((e) => e.book === book && e.tenant_id === tenant);
    expect(mine.map((e) => `${e.provider}/${e.model}`)).toEqual(models.map((m) => `${m.provider}/${m.model}`));
    models.forEach((model, i) => {
      const wire = mine[i]!;
      const sorted = [...model.versions].sort((a, b) => Date.parse(a.effective_from) - Date.parse(b.effective_from));
      expect(wire.versions.map((v) => [v.price_version_id, Date.parse(v.effective_from), v.effective_to === null ? null : Date.parse(v.effective_to)])).toEqual(
        sorted.map((v, k) => [`${prefix}${model.provider}/${model.model}@${label(v)}`, Date.parse(v.effective_from), sorted[k + 1] === undefined ? null : Date.parse(sorted[k + 1]!.effective_from)]),
      );
      sorted.forEach((v, k) => {
        const w = wire.versions[k]!;
        expect({ id: w.price_version_id, rates: wireRates(w.rates) }).toEqual({ id: w.price_version_id, rates: fileRates(v.prices) });
        expect(w.thresholds.map((t) => [t.above_prompt_tokens, wireRates(t.rates)])).toEqual((v.thresholds ?? []).map((t) => [t.above_prompt_tokens, fileRates(t.prices)]));
        expect(w.tiers.map((t) => [t.tier, wireRates(t.rates)])).toEqual(Object.entries(v.tiers ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([name, t]) => [name, fileRates(t.prices)]));
      });
    });
  }

  it('every rate of every version equals the price files exactly, with its version id and effective dates', async () => {
    const dir = p.rig.pricingDir;
    const read = <T>(file: string): T => JSON.parse(readFileSync(join(dir, file), 'utf8')) as T;
    const answer = await call('GET', '/v1/prices', keys.finance);
    expect(answer.status).toBe(200);
    const entries = answer.json!.entries as WireEntry[];
    expectBook(entries, read<{ models: FileModel[] }>('catalog/provider-costs.json').models, 'cost');
    expectBook(entries, read<{ models: FileModel[] }>('catalog/rate-card.json').models, 'rate_card');
    const overrides = read<{ tenants: { tenant_id: string; discount_percent?: string; markup_percent?: string; model_prices?: FileModel[] }[] }>('tenants/overrides.json').tenants;
    for (const t of overrides) expectBook(entries, t.model_prices ?? [], 'tenant', `tenant:${t.tenant_id}/`, t.tenant_id);
    expect(answer.json!.tenants).toEqual(overrides.map((t) => ({ tenant_id: t.tenant_id, discount_percent: t.discount_percent ?? null, markup_percent: t.markup_percent ?? null })).sort((a, b) => a.tenant_id.localeCompare(b.tenant_id)));
    expect(answer.json!.books_id).toBe(p.rig.prices.books.id);
  });

  it('?at= picks the version in force; provider, model (alias) and book filter', async () => {
    const at = async (instant: string) => ((await call('GET', `/v1/prices?book=rate_card&provider=openai&model=o3&at=${instant}`, keys.finance)).json!.entries as WireEntry[]).flatMap((e) => e.versions.map((v) => v.price_version_id));
    expect(await at('2025-06-09T23:59:59.999Z')).toEqual(['openai/o3@2025-04-16']);
    expect(await at('2025-06-10T00:00:00Z')).toEqual(['openai/o3@2025-06-10']);
    expect(await at('2025-06-10T02:00:00%2B02:00')).toEqual(['openai/o3@2025-06-10']);
    expect(await at('2020-01-01T00:00:00Z')).toEqual([]);
    const alias = (await call('GET', '/v1/prices?model=gpt-4o-2024-11-20', keys.finance)).json!.entries as WireEntry[];
    expect(alias.map((e) => `${e.book}:${e.tenant_id ?? ''}:${e.model}`)).toEqual(['cost::gpt-4o', 'rate_card::gpt-4o', 'tenant:acme-corp:gpt-4o']);
    for (const [url, status] of [['/v1/prices?at=yesterday', 400], ['/v1/prices?book=wholesale', 400], ['/v1/prices?currency=EUR', 400]] as const) {
      expect({ url, status: (await call('GET', url, keys.finance)).status }).toEqual({ url, status });
    }
  });

  it("tenant prices and terms: a tenant's own to its key and token, every tenant's to an unbound key; another tenant named is refused", async () => {
    for (const token of [keys.acme, keys.acmeToken]) {
      const own = await call('GET', '/v1/prices', token);
      expect((own.json!.entries as WireEntry[]).filter((e) => e.book === 'tenant').map((e) => e.tenant_id)).toEqual(['acme-corp']);
      expect((own.json!.tenants as { tenant_id: string }[]).map((t) => t.tenant_id)).toEqual(['acme-corp']);
      expect(own.body).not.toMatch(/globex|initech/);
      expect((await call('GET', '/v1/prices?tenant=globex', token)).json?.code).toBe('TENANT_FORBIDDEN');
    }
    const globex = await call('GET', '/v1/prices', keys.globex);
    expect((globex.json!.entries as WireEntry[]).some((e) => e.book === 'tenant')).toBe(false);
    expect(globex.body).not.toContain('tenant:acme-corp');
    expect((globex.json!.tenants as { tenant_id: string }[]).map((t) => t.tenant_id)).toEqual(['globex']);
    expect(((await call('GET', '/v1/prices', keys.finance)).json!.tenants as { tenant_id: string }[]).map((t) => t.tenant_id)).toEqual(['acme-corp', 'globex', 'initech']);
  });
});

describe('invoice revisions (POST /v1/invoices/{id}/revisions)', () => {
  interface RevisionState { revision_job_id: string; status: string; outcome: string | null; invoice_id: string | null; revision: number | null; supersedes_invoice_id: string | null; status_url: string }
  const TENANT = 'initech';
  /** Asks for a revision of `id` and waits until the fleet's worker has done it. */
  async function revise(id: string): Promise<RevisionState> {
    const asked = await call('POST', `${path(id)}/revisions`, keys.admin);
    expect(asked.status).toBe(202);
    const state = asked.json as unknown as RevisionState;
    expect(asked.headers.location).toBe(state.status_url);
    expect(state.status_url).toBe(`/v1/invoices/revisions/${encodeURIComponent(state.revision_job_id)}`);
    return waitFor(async () => (await call('GET', state.status_url, keys.admin)).json as unknown as RevisionState, (s) => s.status === 'completed' || s.status === 'failed', { what: `revision ${state.revision_job_id}`, timeoutMs: 120_000, intervalMs: 250 });
  }
  const sumOfLines = (invoice: { lines: { amount_minor: string }[] }): bigint => invoice.lines.reduce((sum, l) => sum + BigInt(l.amount_minor), 0n);

  it('a price correction: r2 restates the period from the raw events at the corrected prices with a credit note for r1; r1 unchanged; both listed, each with its documents; asked again, no r3; prices put back, r3 brings the period back', async () => {
    const dir = p.rig.pricingDir;
    const rateCard = join(dir, 'catalog/rate-card.json');
    const original = readFileSync(rateCard, 'utf8');
    const events = distinct.filter((e) => e.tenant_id === TENANT);
    const r1id = idOf(TENANT);
    const r1 = (await call('GET', path(r1id), keys.finance)).json as { total_minor: string; lines: { amount_minor: string }[] };
    const r1File = readFileSync(join(documentsDir, PERIOD, `${r1id}.json`), 'utf8');
    try {
      // The rate card corrected for the model initech used most, from the start of the period.
      const counts = new Map<string, number>();
      for (const e of events) counts.set(`${e.provider}/${e.model}`, (counts.get(`${e.provider}/${e.model}`) ?? 0) + 1);
      const top = events.find((e) => `${e.provider}/${e.model}` === [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0])!;
      correctRateCard(dir, top, periodBounds(PERIOD).startMs, { input: '9.99', output: '44.44' });
      expect(p.rig.prices.reload()).toBe(true);
      const corrected = new ReferenceInvoices(new ReferencePrices(dir), dir).invoice(TENANT, events);
      expect(corrected.total_minor).not.toBe(BigInt(r1.total_minor));

      const done = await revise(r1id);
      const r2id = invoiceId(TENANT, PERIOD, 2);
      expect(done).toMatchObject({ status: 'completed', outcome: 'created', invoice_id: r2id, revision: 2, supersedes_invoice_id: r1id });
      const r2 = (await call('GET', path(r2id), keys.finance)).json as { total_minor: string; subtotal_minor: string; credit_notes_minor: string; supersedes_invoice_id: string; lines: { kind: string; amount_minor: string; original_invoice_id: string | null }[] };
      expect({ subtotal: BigInt(r2.subtotal_minor), notes: BigInt(r2.credit_notes_minor), total: BigInt(r2.total_minor), supersedes: r2.supersedes_invoice_id }).toEqual({
        subtotal: corrected.subtotal_minor, notes: -BigInt(r1.total_minor), total: corrected.total_minor - BigInt(r1.total_minor), supersedes: r1id,
      });
      expect(r2.lines.at(-1)).toMatchObject({ kind: 'credit_note', amount_minor: `-${r1.total_minor}`, original_invoice_id: r1id });
      expect(sumOfLines(r2)).toBe(BigInt(r2.total_minor));
      // r1 is the financial record: unchanged, its document too; both revisions listed, newest first.
      expect((await call('GET', path(r1id), keys.finance)).json).toEqual(r1);
      expect((await call('GET', `${path(r1id)}/document?format=json`, keys.finance)).body).toBe(r1File);
      const listed = (await call('GET', `/v1/invoices?tenant=${TENANT}`, keys.finance)).json!.data as { invoice_id: string; total_minor: string }[];
      expect(listed.map((r) => [r.invoice_id, r.total_minor])).toEqual([[r2id, r2.total_minor], [r1id, r1.total_minor]]);
      // r2's documents: written by the scheduler, served by the API, the same bytes; the CSV sums to what is due.
      for (const format of ['json', 'csv', 'html'] as const) {
        const served = await call('GET', `${path(r2id)}/document?format=${format}`, keys.finance);
        expect({ format, status: served.status, same: served.body === readFileSync(join(documentsDir, PERIOD, `${r2id}.${format}`), 'utf8') }).toEqual({ format, status: 200, same: true });
        if (format === 'csv') expect(csvTotal(served.body)).toBe(BigInt(r2.total_minor));
        if (format === 'html') expect(served.body).toContain(`<th>Credit note (replaces ${r1id})</th>`);
      }
      // Asked again with the same inputs (by either revision's id): no r3, r2 stands.
      for (const id of [r1id, r2id]) expect(await revise(id)).toMatchObject({ status: 'completed', outcome: 'unchanged', invoice_id: r2id, revision: 2 });
      expect(await new InvoicesTable(p.rig.handle).rowCounts(PERIOD)).toEqual({ rows: TENANTS.length + 1, distinct: TENANTS.length + 1 });

      // The correction withdrawn: r3 credits what r1 and r2 billed; the three add up to the period at the first prices.
      writeFileSync(rateCard, original);
      expect(p.rig.prices.reload()).toBe(true);
      const r3id = invoiceId(TENANT, PERIOD, 3);
      expect(await revise(r2id)).toMatchObject({ status: 'completed', outcome: 'created', invoice_id: r3id, supersedes_invoice_id: r2id });
      const r3 = (await call('GET', path(r3id), keys.finance)).json as { total_minor: string; credit_notes_minor: string };
      expect(BigInt(r3.credit_notes_minor)).toBe(-corrected.total_minor);
      expect(BigInt(r1.total_minor) + BigInt(r2.total_minor) + BigInt(r3.total_minor)).toBe(expected.get(TENANT)!.total_minor);
      const announced = (await readTopic(p.rig.kafka, invoicesTopic)).map((m) => invoiceReadyCodec().decode(m.value!)).filter((r) => r.tenant_id === TENANT);
      expect(announced.map((r) => [r.invoice_id, r.total_minor])).toEqual([[r1id, r1.total_minor], [r2id, r2.total_minor], [r3id, r3.total_minor]]);
    } finally {
      writeFileSync(rateCard, original);
      p.rig.prices.reload();
    }
  });

  it('admins only; a malformed id is 400, an invoice not stored 404, an unknown request 404', async () => {
    for (const token of [keys.finance, keys.acme, keys.acmeToken]) {
      expect((await call('POST', `${path(idOf('acme-corp'))}/revisions`, token)).json?.code).toBe('SCOPE_MISSING');
      expect((await call('GET', '/v1/invoices/revisions/anything', token)).json?.code).toBe('SCOPE_MISSING');
    }
    const cases: [string, string, number, string][] = [
      ['POST', '/v1/invoices/nope/revisions', 400, 'INVOICE_ID_INVALID'],
      ['POST', `${path(invoiceId('acme-corp', '1999-01', 1))}/revisions`, 404, 'INVOICE_NOT_FOUND'],
      ['GET', '/v1/invoices/revisions/revise-1999-01-nobody-0', 404, 'REVISION_NOT_FOUND'],
      ['GET', `/v1/invoices/revisions/close-${PERIOD}`, 404, 'REVISION_NOT_FOUND'], // a run is not a revision
    ];
    for (const [method, url, status, code] of cases) {
      const answer = await call(method as 'GET' | 'POST', url, keys.admin);
      expect({ url, status: answer.status, code: answer.json?.code }).toEqual({ url, status, code });
    }
  });
});

/** Integer minor units as the currency's decimal: an independent formatter. */
function decimalOf(minor: bigint, digits: number): string {
  const negative = minor < 0n;
  const text = (negative ? -minor : minor).toString().padStart(digits + 1, '0');
  const body = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return negative ? `-${body}` : body;
}

function grouped(minor: bigint, digits: number): string {
  const [int, frac] = decimalOf(minor, digits).split('.');
  return `${int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${frac === undefined ? '' : `.${frac}`}`;
}

/** The sum of the amount_minor column of an invoice CSV (RFC 4180: quoted fields may hold commas). */
function csvTotal(csv: string): bigint {
  const rows = csv.trimEnd().split('\r\n').map((line) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)].map((m) => m[1]!));
  const header = rows[0]!;
  const column = header.indexOf('amount_minor');
  expect(column).toBeGreaterThan(0);
  return rows.slice(1).reduce((sum, row) => sum + BigInt(row[column]!), 0n);
}
