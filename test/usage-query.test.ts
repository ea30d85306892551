import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { classifyError, formatScaled, statusClass, tokenBuckets, ERROR_TYPE_ALIASES, STATUS_CLASSES, type UsageEvent } from '@meterline/domain';
import { KeyBook, KeyStore } from '@meterline/access';
import { buildApiServer, rollupCompleteness, type ApiServer } from '@meterline/api';
import { cleanDays, errorClassSql, lifetimeUsage, queryUsage, quoteIdentifier, reconcileUsage, sealDays, type UsageQuery, type UsageQueryRow } from '@meterline/clickhouse';
import { accessTopics, ensureTopics } from '@meterline/kafka';
import { Health } from '@meterline/platform';
import { hashApiKey } from '@meterline/producer';
import { QuotaChecker } from '@meterline/quotas';
import { uniqueName, waitFor } from '@meterline/testing';
import { pipeline, type Pipeline } from './support/invoices';
import { OpenApiCheck } from './support/openapi-check';
import { testLog } from './support/raw-path';
import { ReferencePrices } from './support/reference-prices';
import { HOUR, generateStream, type StreamRig } from './support/stream';

// The usage query over the hourly rollups equals an independent reference computed from the
// events the test sent: tokens, requests, cost and charge to the pico, per bucket and group.
const brokers = inject('kafkaBrokers');
const tenants = [uniqueName('q-acme'), uniqueName('q-globex'), uniqueName('q-initech')];
const END = Date.UTC(2026, 10, 20, 6); // 48 h of event time before it, across days in Paris and in UTC
let rig: StreamRig;
let p: Pipeline;
let distinct: UsageEvent[] = [];
let arrivals: UsageEvent[] = [];
const prices = new ReferencePrices(new URL('../pricing', import.meta.url).pathname);

beforeAll(async () => {
  // The whole pipeline: the raw sink too (the raw-only dimensions are read from usage_events).
  p = await pipeline(brokers, 3);
  rig = p.rig;
  const stream = generateStream({ events: 3_000, tenants, seed: 4242, endMs: END, lateShare: 0.05, duplicateShare: 0.03 });
  distinct = stream.distinct;
  arrivals = stream.arrivals;
  // Key hashes and status variety for the raw-only dimensions (re-deliveries are the same objects).
  distinct.forEach((e, i) => {
    if (i % 3 !== 0) e.api_key_hash = hashApiKey(`sk-${e.tenant_id}-${i % 4}`);
    if (i % 11 === 0 && e.error_type === null) e.status_code = null;
    else if (i % 13 === 0) [e.status_code, e.error_type] = [429, 'Rate-Limit Exceeded'];
    else if (i % 17 === 0) [e.status_code, e.error_type] = [400, 'ThrottlingException'];
    else if (i % 19 === 0) [e.status_code, e.error_type] = [null, '503'];
    else if (i % 23 === 0) [e.status_code, e.error_type] = [502, 'no such kind'];
  });
  await p.record(arrivals);
  await p.caughtUp();
  const expectedRequests = distinct.length;
  await waitFor(async () => (await queryUsage(rig.handle, base({ granularity: 'none', groupBy: [] }))).rows[0]?.sums.requests, (requests) => requests === String(expectedRequests), { what: 'every rollup in ClickHouse', timeoutMs: 120_000 });
});

afterAll(async () => {
  await api?.close();
  await book?.stop();
  await store?.close();
  await rig?.close();
});

let api: ApiServer;
let book: KeyBook;
let store: KeyStore;
let contract: OpenApiCheck;
const keys = { reader: '', acme: '' };

/** The API on the same rollups, with a reader and a key bound to the first tenant. */
async function startApi(): Promise<void> {
  const topic = uniqueName('q-keys');
  await ensureTopics(rig.kafka, accessTopics({ apiKeys: topic }), testLog);
  store = new KeyStore(rig.kafka, topic, 'pepper', testLog);
  keys.reader = (await store.create({ name: 'reader', scopes: 'usage:read' })).token;
  keys.acme = (await store.create({ name: 'acme', scopes: 'usage:read', tenantId: tenants[0] })).token;
  book = new KeyBook(rig.kafka, rig.redis, { topic, pepper: 'pepper', tokenSecret: undefined }, testLog);
  await book.start();
  api = await buildApiServer({
    clickhouse: rig.handle, quotas: new QuotaChecker(rig.redis), quotaStore: rig.quotaStore, reconcile: (t, f, to) => reconcileUsage(rig.handle, t, f, to),
    meter: rig.meter, health: new Health(), keys: book, keyStore: store, tokenSecret: undefined, log: testLog,
    clock: () => END, // the current billing period is November, 19.25 days in
    completeness: rollupCompleteness(rig.kafka, { usageEvents: rig.topics.usageEvents, usageRollups: rig.topics.usageRollups, rollupGroup: rig.groupId, rollupSinkGroup: p.rollupSinkGroup }),
  });
  contract = new OpenApiCheck(api.swagger() as never);
}

async function get(url: string, token: string, accept = 'application/json'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const response = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}`, accept } });
  if (accept === 'application/json') contract.check('GET', url, response.statusCode, response.json());
  return { status: response.statusCode, body: response.body, headers: response.headers };
}

function base(q: Partial<UsageQuery>): UsageQuery {
  return { fromMs: END - 48 * HOUR, toMs: END, granularity: 'none', timeZone: 'UTC', groupBy: [], filters: { tenant: { in: tenants } }, limit: 10_000, ...q };
}

/** The reference: sums per key of the distinct events, money from the reference prices. */
function reference(events: readonly UsageEvent[], keyOf: (e: UsageEvent) => string): Map<string, Record<string, bigint>> {
  const out = new Map<string, Record<string, bigint>>();
  for (const e of events) {
    const key = keyOf(e);
    const r = out.get(key) ?? { requests: 0n, input_tokens: 0n, cache_read_tokens: 0n, cache_write_tokens: 0n, output_tokens: 0n, reasoning_tokens: 0n, cost_pico: 0n, charge_pico: 0n };
    const money = prices.price(e);
    r.requests! += 1n;
    for (const b of ['input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'] as const) r[b]! += BigInt(e[b]);
    r.cost_pico! += money.cost ?? 0n;
    r.charge_pico! += money.charge ?? 0n;
    out.set(key, r);
  }
  return out;
}

function actual(rows: readonly UsageQueryRow[], keyOf: (r: UsageQueryRow) => string): Map<string, Record<string, bigint>> {
  return new Map(rows.map((r) => [keyOf(r), Object.fromEntries(['requests', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'cost_pico', 'charge_pico'].map((m) => [m, BigInt(r.sums[m as keyof UsageQueryRow['sums']])]))]));
}

const parisDay = (ms: number): string => new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Paris', year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);

describe('usage query over the hourly rollups', () => {
  it('totals per tenant equal the reference (late and duplicate arrivals counted once)', async () => {
    const page = await queryUsage(rig.handle, base({ groupBy: ['tenant'] }));
    expect(actual(page.rows, (r) => r.dimensions.tenant!)).toEqual(reference(distinct, (e) => e.tenant_id));
  });

  it('by Paris day, tenant and model equals the reference; every bucket starts at a Paris midnight', async () => {
    const page = await queryUsage(rig.handle, base({ granularity: 'day', timeZone: 'Europe/Paris', groupBy: ['tenant', 'model'] }));
    expect(actual(page.rows, (r) => `${parisDay(r.bucket_ms!)}|${r.dimensions.tenant}|${r.dimensions.model}`)).toEqual(reference(distinct, (e) => `${parisDay(e.occurred_at)}|${e.tenant_id}|${e.model}`));
    for (const row of page.rows) expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(row.bucket_ms!)).toBe('00:00');
  });

  it('by hour with an in / not-in filter equals the reference over the filtered events', async () => {
    const page = await queryUsage(rig.handle, base({ granularity: 'hour', groupBy: ['provider'], filters: { tenant: { in: tenants.slice(0, 2) }, provider: { not_in: ['google'] } } }));
    const kept = distinct.filter((e) => tenants.slice(0, 2).includes(e.tenant_id) && e.provider !== 'google');
    expect(actual(page.rows, (r) => `${r.bucket_ms}|${r.dimensions.provider}`)).toEqual(reference(kept, (e) => `${Math.floor(e.occurred_at / HOUR) * HOUR}|${e.provider}`));
  });

  it('pages with a keyset cursor: every row once, in order, the same as one big page', async () => {
    const whole = await queryUsage(rig.handle, base({ granularity: 'hour', groupBy: ['tenant', 'model'] }));
    const pages: UsageQueryRow[] = [];
    let after: string[] | undefined;
    do {
      const page = await queryUsage(rig.handle, base({ granularity: 'hour', groupBy: ['tenant', 'model'], limit: 37, after }));
      pages.push(...page.rows);
      after = page.next;
    } while (after !== undefined);
    expect(pages).toEqual(whole.rows);
    expect(whole.rows.length).toBeGreaterThan(100);
  });
});

describe('the usage query over HTTP', () => {
  beforeAll(startApi);
  const window = `from=${new Date(END - 48 * HOUR).toISOString()}&to=${new Date(END).toISOString()}`;

  it('POST and GET give the same answer; money as exact USD decimals of the reference pico amounts', async () => {
    const body = { from: new Date(END - 48 * HOUR).toISOString(), to: new Date(END).toISOString(), granularity: 'none', group_by: ['tenant'], filters: { tenant: { in: tenants } } };
    const posted = await api.inject({ method: 'POST', url: '/v1/usage/query', headers: { authorization: `Bearer ${keys.reader}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    contract.check('POST', '/v1/usage/query', posted.statusCode, posted.json());
    const viaGet = await get(`/v1/usage/query?${window}&granularity=none&group_by=tenant&tenant=${tenants.join(',')}`, keys.reader);
    expect(JSON.parse(viaGet.body)).toEqual(posted.json());
    // Everything was in before the answer was read: the pipeline says so.
    expect(posted.json<{ meta: { completeness: unknown } }>().meta.completeness).toMatchObject({ pending_events: 0, pending_rollups: 0, complete: true });
    for (const row of posted.json<{ data: { tenant: string; requests: string; requests_by_status_class: Record<string, string>; errors_by_class: Record<string, string>; errors: string }[] }>().data) {
      const events = distinct.filter((e) => e.tenant_id === row.tenant);
      const byStatus: Record<string, string> = {};
      for (const e of events) {
        const statusClass = e.status_code === null || e.status_code < 100 || e.status_code > 599 ? 'none' : `${Math.floor(e.status_code / 100)}xx`;
        byStatus[statusClass] = String(BigInt(byStatus[statusClass] ?? '0') + 1n);
      }
      expect(row.requests_by_status_class).toEqual(byStatus);
      expect(Object.values(row.errors_by_class).reduce((a, b) => a + BigInt(b), 0n)).toBe(BigInt(row.errors));
      expect(row.errors).toBe(String(events.filter((e) => e.error_type !== null).length));
    }
    const expected = reference(distinct, (e) => e.tenant_id);
    for (const row of posted.json<{ data: { tenant: string; cost_usd: string; charge_usd: string; margin_pico: string }[] }>().data) {
      const ref = expected.get(row.tenant)!;
      expect({ tenant: row.tenant, cost: row.cost_usd, charge: row.charge_usd, margin: row.margin_pico }).toEqual({ tenant: row.tenant, cost: formatScaled(ref.cost_pico!, 12), charge: formatScaled(ref.charge_pico!, 12), margin: (ref.charge_pico! - ref.cost_pico!).toString() });
    }
  });

  // These passed the GET schema and failed the POST form's parse in the handler: a 500 (found by test/fuzz).
  it.each<[string, string, string]>([
    ['an empty list', 'model=', 'querystring.model'],
    ['a list of commas', 'not_provider=,,', 'querystring.not_provider'],
    ['over 1,000 values', `tenant=${Array.from({ length: 1_001 }, (_v, i) => `t${i}`).join(',')}`, 'querystring.tenant'],
    ['a dimension grouped twice past the number of dimensions', `group_by=${Array(20).fill('model').join(',')}`, 'querystring.group_by'],
  ])('GET with %s is a 400 naming the parameter, not a 500', async (_name, param, path) => {
    const answer = await get(`/v1/usage/query?${window}&${param}`, keys.reader);
    const problem = JSON.parse(answer.body) as { code: string; errors: { path: string }[] };
    expect([answer.status, problem.code, problem.errors.map((e) => e.path)]).toEqual([400, 'REQUEST_INVALID', [path]]);
  });

  it('CSV with Accept: text/csv: a header and the same rows as JSON', async () => {
    const url = `/v1/usage/query?${window}&granularity=day&group_by=tenant,model&tenant=${tenants.join(',')}`;
    const json = JSON.parse((await get(url, keys.reader)).body) as { data: Record<string, string | number | null>[] };
    const csv = await get(url, keys.reader, 'text/csv');
    expect(String(csv.headers['content-type'])).toContain('text/csv');
    const [header, ...lines] = csv.body.trimEnd().split('\r\n');
    const columns = header!.split(',');
    expect(columns.slice(0, 3)).toEqual(['bucket_start', 'tenant', 'model']);
    expect(lines.map((line) => Object.fromEntries(line.split(',').map((v, i): [string, string] => [columns[i]!, v])))).toEqual(json.data.map((r) => Object.fromEntries(columns.map((c): [string, string] => [c, r[c] === null || r[c] === undefined ? '' : String(r[c])]))));
  });

  it('billing periods: the current one with its projection to the period end, past ones; a tenant-bound key its own only', async () => {
    const ref = reference(distinct, (e) => e.tenant_id).get(tenants[0]!)!;
    const answer = JSON.parse((await get(`/v1/usage/periods?tenant=${tenants[0]}&count=2`, keys.reader)).body) as { tenant: string; periods: { period: string; status: string; usage: Record<string, string>; projected: Record<string, string> | null }[] };
    expect(answer.periods.map((p) => [p.period, p.status])).toEqual([['2026-11', 'current'], ['2026-10', 'past']]);
    const [current, past] = answer.periods;
    expect([current!.usage.requests, current!.usage.charge_pico, current!.usage.cost_usd]).toEqual([ref.requests!.toString(), ref.charge_pico!.toString(), formatScaled(ref.cost_pico!, 12)]);
    const month = BigInt(Date.UTC(2026, 11, 1) - Date.UTC(2026, 10, 1));
    const elapsed = BigInt(END - Date.UTC(2026, 10, 1));
    expect([current!.projected!.requests, current!.projected!.charge_pico]).toEqual([((ref.requests! * month) / elapsed).toString(), ((ref.charge_pico! * month) / elapsed).toString()]);
    expect([past!.usage.requests, past!.usage.charge_pico, past!.projected]).toEqual(['0', '0', null]);
    const own = JSON.parse((await get('/v1/usage/periods', keys.acme)).body) as { tenant: string };
    expect(own.tenant).toBe(tenants[0]);
    expect((await get(`/v1/usage/periods?tenant=${tenants[1]}`, keys.acme)).status).toBe(403);
    const unnamed = await get('/v1/usage/periods', keys.reader);
    expect([unnamed.status, (JSON.parse(unnamed.body) as { code: string }).code]).toEqual([400, 'TENANT_REQUIRED']);
  });

  it('lifetime usage (GET /v1/usage, /v1/usage/{tenant}): the reference per tenant, money exact, total_tokens every bucket; a bound key its own only', async () => {
    type Lifetime = { tenant: string; requests: string; total_tokens: string; cost_usd: string; charge_pico: string } & Record<string, string>;
    const all = JSON.parse((await get('/v1/usage', keys.reader)).body) as { data: Lifetime[]; meta: { completeness: unknown } };
    expect(all.meta.completeness).toMatchObject({ complete: true });
    const expected = reference(distinct, (e) => e.tenant_id);
    expect(all.data.map((r) => r.tenant)).toEqual([...tenants].sort());
    for (const row of all.data) {
      const ref = expected.get(row.tenant)!;
      const events = distinct.filter((e) => e.tenant_id === row.tenant);
      expect({ tenant: row.tenant, requests: row.requests, output: row.output_tokens, cost: row.cost_usd, charge: row.charge_pico, total: row.total_tokens }).toEqual({
        tenant: row.tenant, requests: ref.requests!.toString(), output: ref.output_tokens!.toString(), cost: formatScaled(ref.cost_pico!, 12), charge: ref.charge_pico!.toString(),
        total: events.reduce((sum, e) => sum + tokenBuckets.reduce((t, b) => t + BigInt(e[b]), 0n), 0n).toString(),
      });
    }
    const one = JSON.parse((await get(`/v1/usage/${tenants[1]}`, keys.reader)).body) as { data: Lifetime };
    expect(one.data).toEqual(all.data.find((r) => r.tenant === tenants[1]));
    expect((await get('/v1/usage/no-such-tenant', keys.reader)).status).toBe(404);
    const own = JSON.parse((await get('/v1/usage', keys.acme)).body) as { data: Lifetime[] };
    expect(own.data.map((r) => r.tenant)).toEqual([tenants[0]]);
    expect((await get(`/v1/usage/${tenants[1]}`, keys.acme)).status).toBe(403);
    // A billing period's total_tokens counts every bucket too.
    const periods = JSON.parse((await get(`/v1/usage/periods?tenant=${tenants[0]}&count=1`, keys.reader)).body) as { periods: { usage: Record<string, string> }[] };
    expect(periods.periods[0]!.usage.total_tokens).toBe(all.data.find((r) => r.tenant === tenants[0])!.total_tokens);
  });

  it('dimension values: every model of the traffic; a tenant-bound key sees its tenant only', async () => {
    const all = JSON.parse((await get(`/v1/usage/dimensions/model/values?${window}`, keys.reader)).body) as { values: string[] };
    expect(all.values).toEqual(expect.arrayContaining([...new Set(distinct.map((e) => e.model))]));
    const bound = JSON.parse((await get(`/v1/usage/dimensions/tenant/values?${window}`, keys.acme)).body) as { values: string[] };
    expect(bound.values).toEqual([tenants[0]]);
    const boundQuery = JSON.parse((await get(`/v1/usage/query?${window}&granularity=none&group_by=tenant`, keys.acme)).body) as { data: { tenant: string }[] };
    expect(boundQuery.data.map((r) => r.tenant)).toEqual([tenants[0]]);
  });
});

describe('usage query over the raw events (api_key_hash, status_class, error_class)', () => {
  const errorClassOf = (e: UsageEvent) => classifyError(e.error_type, e.status_code) ?? 'none';
  const table = () => `${quoteIdentifier(rig.handle.database)}.usage_events`;
  const count = async (final: boolean) => (await (await rig.handle.client.query({ query: `SELECT toString(count()) AS n FROM ${table()} ${final ? 'FINAL' : ''} WHERE tenant_id IN {t:Array(String)}`, query_params: { t: tenants }, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n;

  // The stream's re-deliveries may be merged away by now: every third event gets an unmerged
  // later copy (a higher source offset, so the first copy is the one kept) whose money differs.
  beforeAll(async () => {
    await rig.handle.client.command({ query: `SYSTEM STOP MERGES ${table()}` });
    const columns = ['occurred_at', 'tenant_id', 'project_id', 'client_id', 'user_id', 'trace_id', 'endpoint_id', 'provider', 'model', 'operation', 'input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens',
      'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'units', 'service_tier', 'latency_ms', 'ttft_ms', 'status_code', 'error_type', 'metadata', 'source_partition', 'cost_price_version'];
    await rig.handle.client.command({
      query: `INSERT INTO ${table()} (event_id_input, api_key_hash_input, source_offset_input, cost_pico_input, charge_pico_input, charge_price_version_input, ${columns.join(', ')})
              SELECT event_id, api_key_hash, source_offset + 1000000, cost_pico + 1, charge_pico + 1, charge_price_version, ${columns.join(', ')}
              FROM ${table()} FINAL WHERE tenant_id IN {t:Array(String)} AND cityHash64(event_id) % 3 = 0`,
      query_params: { t: tenants },
    });
  });
  afterAll(async () => {
    await rig.handle.client.command({ query: `SYSTEM START MERGES ${table()}` });
  });

  it('the traffic has unmerged copies, key hashes and every kind of status', async () => {
    expect(arrivals.length).toBeGreaterThan(distinct.length);
    expect(await count(true)).toBe(String(distinct.length));
    expect(Number(await count(false))).toBeGreaterThan(distinct.length * 1.2);
    expect(new Set(distinct.map((e) => statusClass(e.status_code)))).toEqual(new Set(['2xx', '4xx', '5xx', 'none']));
    expect(new Set(distinct.map(errorClassOf)).size).toBeGreaterThan(3);
  });

  it('the SQL error class equals classifyError for every alias, status and odd spelling', async () => {
    const types = [null, '', ' ', ' - ', '429', '504', '418', '999', 'nope', ' Rate-Limit Exceeded ', 'Throttling.Exception', 'CUDA/Out Of Memory', ...ERROR_TYPE_ALIASES.keys()].flatMap((t) => [t, t === null ? null : t.toUpperCase()]);
    const statuses = [null, 0, 200, 302, 399, 400, 405, 429, 503, 599, 600, ...STATUS_CLASSES.keys()];
    const cases = types.flatMap((error_type) => statuses.map((status_code) => ({ error_type, status_code })));
    const params: Record<string, unknown> = { types: cases.map((c) => c.error_type), statuses: cases.map((c) => c.status_code) };
    const result = await rig.handle.client.query({
      query: `SELECT ${errorClassSql('error_type', 'status_code', params)} AS class FROM (SELECT arrayJoin(arrayZip({types:Array(Nullable(String))}, {statuses:Array(Nullable(UInt16))})) AS c, c.1 AS error_type, c.2 AS status_code)`,
      query_params: params, format: 'JSONEachRow',
    });
    expect((await result.json<{ class: string }>()).map((r) => r.class)).toEqual(cases.map((c) => classifyError(c.error_type, c.status_code) ?? 'none'));
  });

  it('by Paris day, status class and error class equals the reference (duplicates once, money to the pico)', async () => {
    const page = await queryUsage(rig.handle, base({ granularity: 'day', timeZone: 'Europe/Paris', groupBy: ['status_class', 'error_class'] }));
    expect(actual(page.rows, (r) => `${parisDay(r.bucket_ms!)}|${r.dimensions.status_class}|${r.dimensions.error_class}`)).toEqual(reference(distinct, (e) => `${parisDay(e.occurred_at)}|${statusClass(e.status_code)}|${errorClassOf(e)}`));
    for (const row of page.rows) expect(row.sums.errors).toBe(row.dimensions.error_class === 'none' ? '0' : row.sums.requests);
  });

  it('by tenant and api key hash equals the reference; the per-row maps and latency as the rollups count them', async () => {
    const page = await queryUsage(rig.handle, base({ groupBy: ['tenant', 'api_key_hash'] }));
    expect(actual(page.rows, (r) => `${r.dimensions.tenant}|${r.dimensions.api_key_hash}`)).toEqual(reference(distinct, (e) => `${e.tenant_id}|${e.api_key_hash ?? ''}`));
    const rollups = await queryUsage(rig.handle, base({ groupBy: ['tenant'] }));
    for (const tenant of tenants) {
      const raw = page.rows.filter((r) => r.dimensions.tenant === tenant);
      const [rolled] = rollups.rows.filter((r) => r.dimensions.tenant === tenant);
      const sumMaps = (maps: Record<string, string>[]) => maps.reduce<Record<string, string>>((out, m) => { for (const [k, v] of Object.entries(m)) out[k] = String(BigInt(out[k] ?? '0') + BigInt(v)); return out; }, {});
      expect(sumMaps(raw.map((r) => r.requests_by_status_class))).toEqual(rolled!.requests_by_status_class);
      expect(sumMaps(raw.map((r) => r.errors_by_class))).toEqual(rolled!.errors_by_class);
      expect(raw.reduce((n, r) => n + BigInt(r.sums.latency_count), 0n).toString()).toBe(rolled!.sums.latency_count);
    }
  });

  it('a filter by api key hash (in and not in), by hour, equals the reference over those events', async () => {
    const key = distinct.find((e) => e.api_key_hash !== null && e.tenant_id === tenants[1])!.api_key_hash!;
    const only = await queryUsage(rig.handle, base({ granularity: 'hour', groupBy: ['model'], filters: { tenant: { in: tenants }, api_key_hash: { in: [key] } } }));
    expect(actual(only.rows, (r) => `${r.bucket_ms}|${r.dimensions.model}`)).toEqual(reference(distinct.filter((e) => e.api_key_hash === key), (e) => `${Math.floor(e.occurred_at / HOUR) * HOUR}|${e.model}`));
    const others = await queryUsage(rig.handle, base({ groupBy: ['tenant'], filters: { tenant: { in: tenants }, api_key_hash: { not_in: [key, ''] } } }));
    expect(actual(others.rows, (r) => r.dimensions.tenant!)).toEqual(reference(distinct.filter((e) => e.api_key_hash !== null && e.api_key_hash !== key), (e) => e.tenant_id));
  });

  it('pages with a keyset cursor: every row once, in order, the same as one big page', async () => {
    const q = { granularity: 'hour' as const, groupBy: ['tenant', 'error_class'] as const };
    const whole = await queryUsage(rig.handle, base({ ...q, groupBy: [...q.groupBy] }));
    const pages: UsageQueryRow[] = [];
    let after: string[] | undefined;
    do {
      const page = await queryUsage(rig.handle, base({ ...q, groupBy: [...q.groupBy], limit: 29, after }));
      pages.push(...page.rows);
      after = page.next;
    } while (after !== undefined);
    expect(pages).toEqual(whole.rows);
    expect(whole.rows.length).toBeGreaterThan(100);
  });

  it('over HTTP: POST and GET agree; a bound key sees its tenant only; unbound without a tenant filter is refused; dimension values', async () => {
    const from = new Date(END - 48 * HOUR).toISOString();
    const to = new Date(END).toISOString();
    const post = async (token: string, body: object) => {
      const response = await api.inject({ method: 'POST', url: '/v1/usage/query', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      contract.check('POST', '/v1/usage/query', response.statusCode, response.json());
      return { status: response.statusCode, json: response.json<{ code?: string; data: Record<string, string>[] }>() };
    };
    const body = { from, to, granularity: 'none', group_by: ['tenant', 'error_class'], filters: { tenant: { in: tenants } } };
    const posted = await post(keys.reader, body);
    expect(posted.status).toBe(200);
    const ref = reference(distinct, (e) => `${e.tenant_id}|${errorClassOf(e)}`);
    expect(new Map(posted.json.data.map((r) => [`${r.tenant}|${r.error_class}`, [r.requests, r.cost_pico, r.charge_pico]]))).toEqual(new Map([...ref].map(([k, v]) => [k, [v.requests!.toString(), v.cost_pico!.toString(), v.charge_pico!.toString()]])));
    const viaGet = await get(`/v1/usage/query?from=${from}&to=${to}&granularity=none&group_by=tenant,error_class&tenant=${tenants.join(',')}`, keys.reader);
    expect(JSON.parse(viaGet.body)).toEqual(posted.json);
    const key = distinct.find((e) => e.api_key_hash !== null && e.tenant_id === tenants[0])!.api_key_hash!;
    const byKey = JSON.parse((await get(`/v1/usage/query?from=${from}&to=${to}&granularity=none&group_by=status_class&api_key_hash=${key}`, keys.acme)).body) as { data: { status_class: string; requests: string }[] };
    expect(new Map(byKey.data.map((r) => [r.status_class, r.requests]))).toEqual(new Map([...reference(distinct.filter((e) => e.api_key_hash === key), (e) => statusClass(e.status_code))].map(([k, v]) => [k, v.requests!.toString()])));
    const bound = await post(keys.acme, { from, to, granularity: 'none', group_by: ['tenant', 'api_key_hash'] });
    expect(new Set(bound.json.data.map((r) => r.tenant))).toEqual(new Set([tenants[0]]));
    expect((await post(keys.acme, { ...body, filters: { tenant: { in: [tenants[1]] } } })).status).toBe(403);
    const unfiltered = await post(keys.reader, { from, to, group_by: ['status_class'] });
    expect([unfiltered.status, unfiltered.json.code]).toEqual([400, 'TENANT_FILTER_REQUIRED']);
    const values = JSON.parse((await get(`/v1/usage/dimensions/status_class/values?from=${from}&to=${to}`, keys.acme)).body) as { values: string[] };
    expect(values.values).toEqual([...new Set(distinct.filter((e) => e.tenant_id === tenants[0]).map((e) => statusClass(e.status_code)))].sort());
  });
});

describe('daily rollups: sealed days answer, a late change falls back to the hourly rows until resealed', () => {
  const DAY = 24 * HOUR;
  const sealedDay = '2026-11-19'; // the whole UTC day inside the 48 h of traffic
  const exactAtEveryGranularity = async (events: readonly UsageEvent[]): Promise<void> => {
    const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const byDay = await queryUsage(rig.handle, base({ granularity: 'day', groupBy: ['tenant', 'model'] }));
    expect(actual(byDay.rows, (r) => `${utcDay(r.bucket_ms!)}|${r.dimensions.tenant}|${r.dimensions.model}`)).toEqual(reference(events, (e) => `${utcDay(e.occurred_at)}|${e.tenant_id}|${e.model}`));
    const totals = await queryUsage(rig.handle, base({ groupBy: ['tenant', 'provider'] }));
    expect(actual(totals.rows, (r) => `${r.dimensions.tenant}|${r.dimensions.provider}`)).toEqual(reference(events, (e) => `${e.tenant_id}|${e.provider}`));
    const month = await queryUsage(rig.handle, base({ granularity: 'month', groupBy: ['model'] }));
    expect(actual(month.rows, (r) => `${utcDay(r.bucket_ms!)}|${r.dimensions.model}`)).toEqual(reference(events, (e) => `2026-11-01|${e.model}`));
    // The whole month: from the month rows when every day of November is clean.
    const november = { fromMs: Date.UTC(2026, 10, 1), toMs: Date.UTC(2026, 11, 1) };
    const wholeMonth = await queryUsage(rig.handle, base({ ...november, granularity: 'month', groupBy: ['tenant', 'model'] }));
    expect(actual(wholeMonth.rows, (r) => `${utcDay(r.bucket_ms!)}|${r.dimensions.tenant}|${r.dimensions.model}`)).toEqual(reference(events, (e) => `2026-11-01|${e.tenant_id}|${e.model}`));
    const monthTotals = await queryUsage(rig.handle, base({ ...november, groupBy: ['provider'] }));
    expect(actual(monthTotals.rows, (r) => r.dimensions.provider!)).toEqual(reference(events, (e) => e.provider));
    // Lifetime totals: every stored hour (month rows for a clean November, else days and hours).
    expect(actual(await lifetimeUsage(rig.handle), (r) => r.dimensions.tenant!)).toEqual(reference(events, (e) => e.tenant_id));
    expect(actual(await lifetimeUsage(rig.handle, tenants[1]), (r) => r.dimensions.tenant!)).toEqual(reference(events.filter((e) => e.tenant_id === tenants[1]), (e) => e.tenant_id));
  };
  const monthRowRequests = async (): Promise<string | undefined> => {
    const [row] = await (await rig.handle.client.query({ query: `SELECT toString(sum(requests)) AS requests FROM ${rig.handle.database}.usage_rollups_daily WHERE grain = 'month' AND tenant_id IN {t:Array(String)}`, query_params: { t: tenants }, format: 'JSONEachRow' })).json<{ requests: string }>();
    return row?.requests;
  };

  it('sealing writes the daily rows; the answers stay equal to the reference', async () => {
    const { sealed } = await sealDays(rig.handle, { beforeMs: Date.UTC(2026, 10, 21), marginSeconds: 0 });
    expect(sealed).toEqual(expect.arrayContaining(['2026-11-18', sealedDay, '2026-11-20']));
    expect(await cleanDays(rig.handle, { from: sealedDay, to: '2026-11-20' }, tenants)).toEqual(new Set([sealedDay]));
    const [daily] = await (await rig.handle.client.query({ query: `SELECT sum(requests) AS requests FROM ${rig.handle.database}.usage_rollups_daily WHERE day = '${sealedDay}' AND tenant_id IN {t:Array(String)}`, query_params: { t: tenants }, format: 'JSONEachRow' })).json<{ requests: string }>();
    expect(daily?.requests).toBe(String(distinct.filter((e) => e.occurred_at >= Date.parse(sealedDay) && e.occurred_at < Date.parse(sealedDay) + DAY).length));
    expect(await monthRowRequests()).toBe(String(distinct.length)); // November's month rows hold every event
    await exactAtEveryGranularity(distinct);
  });

  it('a late event on a sealed day is in the answer at once (the day reads hourly), and again after the reseal', async () => {
    const late: UsageEvent = { ...distinct[0]!, event_id: randomUUID(), tenant_id: tenants[1]!, occurred_at: Date.parse(sealedDay) + 10 * HOUR + 7 };
    rig.meter.record(late);
    await rig.meter.flush();
    const events = [...distinct, late];
    await waitFor(async () => (await queryUsage(rig.handle, base({ granularity: 'none', groupBy: [] }))).rows[0]?.sums.requests, (requests) => requests === String(events.length), { what: 'the late event in the rollups', timeoutMs: 120_000 });
    expect(await cleanDays(rig.handle, { from: sealedDay, to: '2026-11-20' }, tenants)).toEqual(new Set());
    expect(await cleanDays(rig.handle, { from: sealedDay, to: '2026-11-20' }, [tenants[0]!])).toEqual(new Set([sealedDay])); // another tenant's change
    await exactAtEveryGranularity(events);
    expect((await sealDays(rig.handle, { beforeMs: Date.UTC(2026, 10, 21), marginSeconds: 0 })).sealed).toEqual([sealedDay]);
    expect(await monthRowRequests()).toBe(String(events.length)); // the reseal rebuilt the month rows too
    expect(await cleanDays(rig.handle, { from: sealedDay, to: '2026-11-20' }, tenants)).toEqual(new Set([sealedDay]));
    await exactAtEveryGranularity(events);
  });
});
