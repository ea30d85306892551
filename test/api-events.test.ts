import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KeyBook, KeyStore } from '@meterline/access';
import { buildApiServer, type ApiServer } from '@meterline/api';
import { quoteIdentifier, reconcileUsage } from '@meterline/clickhouse';
import { formatScaled, type UsageEvent } from '@meterline/domain';
import { accessTopics, ensureTopics } from '@meterline/kafka';
import { Health } from '@meterline/platform';
import { hashApiKey, uuidv7 } from '@meterline/producer';
import { QuotaChecker } from '@meterline/quotas';
import { uniqueName } from '@meterline/testing';
import { pipeline, type Pipeline } from './support/invoices';
import { OpenApiCheck } from './support/openapi-check';
import { testLog } from './support/raw-path';
import { ReferencePrices } from './support/reference-prices';
import { HOUR, generateStream } from './support/stream';

// GET /v1/events over the raw table, whose rows the sink priced: events sent through the whole
// pipeline (shim -> Kafka -> raw sink + rollup consumer -> ClickHouse), read back a page at a
// time; every event once, its money equal to an independent reference, and raw money per
// tenant-hour equal to the rollups' to the pico.
const brokers = inject('kafkaBrokers');
const tenants = [uniqueName('ev-acme'), uniqueName('ev-globex')];
const prices = new ReferencePrices(new URL('../pricing', import.meta.url).pathname);
let p: Pipeline;
let distinct: UsageEvent[] = [];
let api: ApiServer;
let book: KeyBook;
let store: KeyStore;
let contract: OpenApiCheck;
const keys = { reader: '', acme: '', writer: '' };

beforeAll(async () => {
  p = await pipeline(brokers, 3);
  const stream = generateStream({ events: 1_500, tenants, seed: 9090, lateShare: 0.05, duplicateShare: 0.05 });
  distinct = stream.distinct;
  // Half the events carry the shim's UUIDv7 ids (stored as the UUID alone), half free-form ids;
  // some a key hash and a trace id. Re-deliveries are the same objects, so they keep the same id.
  distinct.forEach((e, i) => {
    if (i % 2 === 0) e.event_id = uuidv7(e.occurred_at);
    if (i % 3 === 0) e.api_key_hash = hashApiKey(`sk-${e.tenant_id}-${i % 4}`);
    if (i % 5 === 0) e.trace_id = `trace-${i % 7}`;
  });
  await p.record(stream.arrivals);
  await p.caughtUp();

  const topic = uniqueName('ev-keys');
  await ensureTopics(p.rig.kafka, accessTopics({ apiKeys: topic }), testLog);
  store = new KeyStore(p.rig.kafka, topic, 'pepper', testLog);
  keys.reader = (await store.create({ name: 'reader', scopes: 'usage:read' })).token;
  keys.acme = (await store.create({ name: 'acme', scopes: 'usage:read', tenantId: tenants[0] })).token;
  keys.writer = (await store.create({ name: 'writer', scopes: 'events:write' })).token;
  book = new KeyBook(p.rig.kafka, p.rig.redis, { topic, pepper: 'pepper', tokenSecret: undefined }, testLog);
  await book.start();
  api = await buildApiServer({
    clickhouse: p.rig.handle, quotas: new QuotaChecker(p.rig.redis), quotaStore: p.rig.quotaStore, reconcile: (t, f, to) => reconcileUsage(p.rig.handle, t, f, to),
    meter: p.rig.meter, health: new Health(), keys: book, keyStore: store, tokenSecret: undefined, log: testLog,
  });
  contract = new OpenApiCheck(api.swagger() as never);
});

afterAll(async () => {
  await api?.close();
  await book?.stop();
  await store?.close();
  await p?.rig.close();
});

interface Item extends Record<string, unknown> {
  event_id: string;
  occurred_at: string;
  tenant_id: string;
  cost_pico: string;
  cost_usd: string;
  charge_pico: string;
  charge_usd: string;
  cost_price_version: string | null;
  charge_price_version: string | null;
}
interface Answer {
  data: Item[];
  meta: { order: string; next_cursor: string | null };
}

async function get(url: string, token: string): Promise<{ status: number; json: Answer & { code?: string } }> {
  const response = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const json = response.json<Answer & { code?: string }>();
  contract.check('GET', url, response.statusCode, json);
  return { status: response.statusCode, json };
}

/** Every page of a listing, following next_cursor. */
async function walk(query: string, token = keys.reader): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | null = null;
  do {
    const { status, json } = await get(`/v1/events?${query}${cursor === null ? '' : `&cursor=${cursor}`}`, token);
    expect(status).toBe(200);
    expect(json.meta.order).toBe('newest_first');
    items.push(...json.data);
    cursor = json.meta.next_cursor;
  } while (cursor !== null);
  return items;
}

/** What the API must say of an event: its fields as sent, money from the reference prices. */
function expected(e: UsageEvent): Record<string, unknown> {
  const money = prices.price(e);
  const cost = money.cost ?? 0n;
  const charge = money.charge ?? 0n;
  return {
    event_id: e.event_id, occurred_at: new Date(e.occurred_at).toISOString(), tenant_id: e.tenant_id, project_id: e.project_id, api_key_hash: e.api_key_hash,
    user_id: e.user_id, trace_id: e.trace_id, provider: e.provider, model: e.model, operation: e.operation,
    input_tokens: String(e.input_tokens), cache_read_tokens: String(e.cache_read_tokens), cache_write_tokens: String(e.cache_write_tokens), output_tokens: String(e.output_tokens), reasoning_tokens: String(e.reasoning_tokens),
    latency_ms: e.latency_ms, ttft_ms: e.ttft_ms, status_code: e.status_code, error_type: e.error_type,
    cost_pico: cost.toString(), cost_usd: formatScaled(cost, 12), charge_pico: charge.toString(), charge_usd: formatScaled(charge, 12),
    cost_price_version: money.costVersion, charge_price_version: money.chargeVersion,
  };
}

const pick = (item: Item, like: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.keys(like).map((k) => [k, item[k]]));
const ofTenant = (t: string) => distinct.filter((e) => e.tenant_id === t);
const ids = (items: readonly { event_id: string }[]) => items.map((i) => i.event_id).sort();

describe('GET /v1/events', () => {
  it('walks a tenant newest first with the cursor: every event exactly once, its fields as sent and its money equal to the reference', async () => {
    const items = await walk(`tenant=${tenants[0]}&limit=97`);
    const sent = new Map(ofTenant(tenants[0]!).map((e) => [e.event_id, e]));
    expect(items).toHaveLength(sent.size);
    expect(new Set(items.map((i) => i.event_id)).size).toBe(sent.size);
    for (const item of items) {
      const e = sent.get(item.event_id);
      expect(e, item.event_id).toBeDefined();
      const want = expected(e!);
      expect(pick(item, want)).toEqual(want);
    }
    // Newest first by hour (within an hour by the id's time).
    const hours = items.map((i) => Math.floor(Date.parse(i.occurred_at) / HOUR));
    expect(hours).toEqual([...hours].sort((a, b) => b - a));
    // The walk covers priced and unpriced events (the sample includes a model no book prices).
    expect(items.some((i) => i.cost_price_version === null && i.cost_pico === '0')).toBe(true);
    expect(items.some((i) => i.cost_price_version !== null)).toBe(true);
  });

  it('raw cost and charge per tenant-hour equal the rollups and the reference, to the pico', async () => {
    const db = quoteIdentifier(p.rig.handle.database);
    const read = async (query: string) => (await (await p.rig.handle.client.query({ query, format: 'JSONEachRow' })).json<{ tenant_id: string; hour: string; cost: string; charge: string }>())
      .map((r) => [`${r.tenant_id}|${r.hour}`, `${r.cost}/${r.charge}`] as const);
    const raw = new Map(await read(`SELECT tenant_id, toString(toUnixTimestamp(toStartOfHour(occurred_at))) AS hour, toString(sum(cost_pico)) AS cost, toString(sum(charge_pico)) AS charge FROM ${db}.usage_events FINAL GROUP BY tenant_id, hour`));
    const rollups = new Map(await read(`SELECT tenant_id, toString(toUnixTimestamp(hour)) AS hour, toString(sum(cost_pico)) AS cost, toString(sum(charge_pico)) AS charge FROM ${db}.usage_hourly WHERE tenant_id IN (${tenants.map((t) => `'${t}'`).join(', ')}) GROUP BY tenant_id, hour`));
    const reference = new Map<string, [bigint, bigint]>();
    for (const e of distinct) {
      const key = `${e.tenant_id}|${Math.floor(e.occurred_at / HOUR) * 3_600}`;
      const money = prices.price(e);
      const [cost, charge] = reference.get(key) ?? [0n, 0n];
      reference.set(key, [cost + (money.cost ?? 0n), charge + (money.charge ?? 0n)]);
    }
    expect(raw).toEqual(rollups);
    expect(raw).toEqual(new Map([...reference].map(([k, [cost, charge]]) => [k, `${cost}/${charge}`])));
  });

  it('filters: model, provider, operation, project, status, user, trace, key hash, event id and a half-open time range', async () => {
    const t = tenants[1]!;
    const events = ofTenant(t);
    const sample = events.find((e) => e.api_key_hash !== null && e.user_id !== null && e.trace_id !== null)!;
    const from = Math.floor(sample.occurred_at / HOUR) * HOUR - 3 * HOUR;
    const to = from + 5 * HOUR;
    const cases: [string, (e: UsageEvent) => boolean][] = [
      [`model=${sample.model}`, (e) => e.model === sample.model],
      [`provider=${sample.provider}&operation=${sample.operation}`, (e) => e.provider === sample.provider && e.operation === sample.operation],
      [`project=${sample.project_id ?? 'search'}`, (e) => e.project_id === (sample.project_id ?? 'search')],
      ['status=error', (e) => e.error_type !== null || (e.status_code ?? 0) >= 400],
      ['status=ok', (e) => e.error_type === null && (e.status_code ?? 0) < 400],
      [`user_id=${sample.user_id}`, (e) => e.user_id === sample.user_id],
      [`trace_id=${sample.trace_id}`, (e) => e.trace_id === sample.trace_id],
      [`api_key_hash=${sample.api_key_hash}`, (e) => e.api_key_hash === sample.api_key_hash],
      [`from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`, (e) => e.occurred_at >= from && e.occurred_at < to],
      [`from=${new Date(sample.occurred_at).toISOString()}&to=${new Date(sample.occurred_at + 1).toISOString()}`, (e) => e.occurred_at === sample.occurred_at],
    ];
    for (const [query, keep] of cases) {
      const items = await walk(`tenant=${t}&limit=50&${query}`);
      expect(ids(items), query).toEqual(ids(events.filter(keep)));
    }
    // By id: a UUIDv7 id (stored as the UUID) and a free-form one (stored with its text).
    for (const e of [events.find((x) => /^[0-9a-f-]{36}$/.test(x.event_id))!, events.find((x) => !/^[0-9a-f-]{36}$/.test(x.event_id))!]) {
      const items = await walk(`tenant=${t}&event_id=${encodeURIComponent(e.event_id)}`);
      expect(items.map((i) => pick(i, expected(e)))).toEqual([expected(e)]);
    }
  });

  it('confines a tenant-bound key to its tenant: another tenant is refused, nothing of it leaks', async () => {
    const own = await walk('limit=200', keys.acme);
    expect(ids(own)).toEqual(ids(ofTenant(tenants[0]!)));
    const other = await get(`/v1/events?tenant=${tenants[1]}`, keys.acme);
    expect(other.status).toBe(403);
    expect(other.json.code).toBe('TENANT_FORBIDDEN');
    expect(JSON.stringify(other.json)).not.toContain(ofTenant(tenants[1]!)[0]!.event_id);
    // Filters cannot reach past the binding either.
    const byId = await walk(`event_id=${encodeURIComponent(ofTenant(tenants[1]!)[0]!.event_id)}`, keys.acme);
    expect(byId).toEqual([]);
    // Without the read scope: refused.
    expect((await get(`/v1/events?tenant=${tenants[0]}`, keys.writer)).status).toBe(403);
  });

  it('answers a malformed request with a 400 problem naming what is wrong', async () => {
    const t = tenants[0]!;
    const cases: [string, string][] = [
      [`/v1/events`, 'TENANT_REQUIRED'],
      [`/v1/events?tenant=${t}&cursor=not-a-cursor`, 'CURSOR_INVALID'],
      [`/v1/events?tenant=${t}&cursor=${Buffer.from(JSON.stringify([1, 2, 'x'])).toString('base64url')}`, 'CURSOR_INVALID'],
      [`/v1/events?tenant=${t}&cursor=${Buffer.from(JSON.stringify([-1, 2, '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'])).toString('base64url')}`, 'CURSOR_INVALID'],
      [`/v1/events?tenant=${t}&from=yesterday`, ''],
      [`/v1/events?tenant=${t}&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`, 'RANGE_INVALID'],
      [`/v1/events?tenant=${t}&limit=1001`, ''],
      [`/v1/events?tenant=${t}&api_key_hash=XYZ`, ''],
      [`/v1/events?tenant=${t}&status=maybe`, ''],
      [`/v1/events?tenant=${t}&colour=red`, ''],
    ];
    for (const [url, code] of cases) {
      const { status, json } = await get(url, keys.reader);
      expect(status, url).toBe(400);
      if (code !== '') expect(json.code, url).toBe(code);
    }
  });
});
