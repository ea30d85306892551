import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { usageEventV2Defaults, periodBounds, periodOf, type UsageEvent } from '@meterline/domain';
import { KeyBook, KeyStore } from '@meterline/access';
import { buildApiServer, type ApiServer } from '@meterline/api';
import { AlertsTable, reconcileUsage, type AlertRow } from '@meterline/clickhouse';
import { ClickHouseSink, alertsStream, type AlertTopics } from '@meterline/clickhouse-sink';
import { invoiceAlertCodec, pricingAlertCodec, quotaAlertCodec, type InvoiceAlertRecord, type PricingAlertRecord, type QuotaAlertRecord } from '@meterline/contract';
import { invoiceSchedulerFromConfig, invoiceJobId, type InvoiceFleet } from '@meterline/invoice-scheduler';
import { accessTopics, consumerGroupLag, dlqHeaders, ensureTopics, headerText, invoiceTopics } from '@meterline/kafka';
import { Health } from '@meterline/platform';
import { QuotaChecker } from '@meterline/quotas';
import { uniqueName, waitFor } from '@meterline/testing';
import { OpenApiCheck } from './support/openapi-check';
import { invoiceTestConfig, monthEnd, pipeline, queueIdle } from './support/invoices';
import { testLog } from './support/raw-path';
import { readMessages, readTopic } from './support/read-topic';
import { ReferencePrices } from './support/reference-prices';
import { ALLOWED_LATENESS_MS, HOUR, type StreamRig } from './support/stream';

// The alert history end to end: real usage through the stream makes the rollup consumer raise
// quota alerts and a pricing alert (an unpriced model), the invoice job raises an invoice alert
// (that model's usage cannot be invoiced); the clickhouse-sink stores them from the three topics
// and GET /v1/alerts lists exactly the alerts on the topics, each once, also after a replay.
vi.setConfig({ testTimeout: 300_000 });

const brokers = inject('kafkaBrokers');
const TOKEN_SECRET = 'an-alerts-test-token-secret-of-32-chars';
const tenants = { a: uniqueName('al-acme'), b: uniqueName('al-globex'), c: uniqueName('al-initech') };
const UNPRICED = { provider: 'openai', model: 'gpt-unlisted-alerts-test' };
const USD = 10n ** 12n;

let rig: StreamRig;
let fleet: InvoiceFleet | undefined;
let alertTopics: AlertTopics;
let dlqTopic: string;
let sinkGroup: string;
let sink: ClickHouseSink<AlertRow> | undefined;
let api: ApiServer;
let book: KeyBook;
let store: KeyStore;
let contract: OpenApiCheck;
const keys = { reader: '', usageOnly: '', a: '', b: '', tokenB: '' };
const at = Date.now();
let events: { a: UsageEvent[]; b: UsageEvent[]; unpriced: UsageEvent };
let period = '';

interface Unpublished { kind: 'quota' | 'pricing' | 'invoice'; alert_id: string; tenant_id: string | null; occurred_at: string; [field: string]: unknown }
type Item = Unpublished & { emitted_at: string };
interface Page { data: Item[]; meta: { next_cursor: string | null } }
interface Answer { status: number; type: string; body: Record<string, unknown> }

function call(tenant: string, ms: number, i: number, model: { provider: string; model: string }, tokens: { input: number; output: number }): UsageEvent {
  return {
    ...usageEventV2Defaults(),
    event_id: `${tenant}-${ms}-${i}`, occurred_at: ms + i, tenant_id: tenant, project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
    provider: model.provider, model: model.model, operation: 'chat', input_tokens: tokens.input, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: tokens.output, reasoning_tokens: 0,
    latency_ms: 700, ttft_ms: 150, status_code: 200, error_type: null, metadata: {},
  };
}

async function get(url: string, token?: string): Promise<Answer> {
  const response = await api.inject({ method: 'GET', url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const body = response.json<Record<string, unknown>>();
  contract.check('GET', url, response.statusCode, body);
  return { status: response.statusCode, type: String(response.headers['content-type'] ?? ''), body };
}

async function list(query: string, token = keys.reader): Promise<Item[]> {
  const answer = await get(`/v1/alerts?${query}`, token);
  expect(answer.status).toBe(200);
  return (answer.body as unknown as Page).data;
}

/** Every page of a listing, following the cursor. */
async function allPages(query: string, token = keys.reader): Promise<{ items: Item[]; pages: number }> {
  const items: Item[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const answer = await get(`/v1/alerts?${query}${cursor === null ? '' : `&cursor=${cursor}`}`, token);
    expect(answer.status).toBe(200);
    const page = answer.body as unknown as Page;
    items.push(...page.data);
    cursor = page.meta.next_cursor;
    pages++;
  } while (cursor !== null);
  return { items, pages };
}

const topicsOf = (t: AlertTopics): string[] => [t.quotaAlerts, t.pricingAlerts, t.invoiceAlerts];

async function startAlertSink(): Promise<void> {
  sink = new ClickHouseSink(rig.kafka, alertsStream(new AlertsTable(rig.handle), alertTopics), { groupId: sinkGroup, topic: topicsOf(alertTopics), dlqTopic, flushRows: 1_000, flushMs: 200, sessionTimeoutMs: 10_000 }, testLog);
  await sink.start();
}

async function storedAlerts(): Promise<number> {
  const rows = await (await rig.handle.client.query({ query: `SELECT count() AS n FROM ${rig.handle.database}.alerts FINAL`, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(rows[0]?.n);
}

/** The sink group has committed every offset of the three topics. */
async function sinkCaughtUp(): Promise<void> {
  for (const topic of topicsOf(alertTopics)) await waitFor(() => consumerGroupLag(rig.kafka, sinkGroup, topic), (lag) => lag === 0, { what: `the alert sink to commit ${topic}`, timeoutMs: 120_000 });
}

/**
 * The reference: every alert record on the three topics, as the API must list it (the first
 * publication of an alert id when it was published more than once), computed from the records.
 */
async function alertsOnTopics(): Promise<Map<string, Item>> {
  const iso = (ms: number | string) => new Date(Number(ms)).toISOString();
  const out = new Map<string, Item>();
  const add = (message: KafkaMessage, item: Unpublished) => {
    const key = `${item.kind}:${item.alert_id}`;
    const seen = out.get(key);
    if (seen === undefined || Date.parse(seen.emitted_at) > Number(message.timestamp)) out.set(key, { ...item, emitted_at: iso(message.timestamp) });
  };
  const usdOf = (metric: string, amount: string) => (metric.endsWith('_pico_usd') ? usdText(BigInt(amount)) : null);
  for (const m of await readTopic(rig.kafka, alertTopics.quotaAlerts)) {
    const r: QuotaAlertRecord = quotaAlertCodec().decode(m.value!);
    add(m, {
      kind: 'quota', alert_id: r.alert_id, type: 'threshold_crossed', tenant_id: r.tenant_id, occurred_at: iso(r.crossed_at), quota_id: r.quota_id, metric: r.metric, period_label: r.period_label,
      period_start: iso(r.period_start), period_end: iso(r.period_end), threshold_percent: r.threshold_percent, limit: r.limit, used: r.used, limit_usd: usdOf(r.metric, r.limit), used_usd: usdOf(r.metric, r.used), enforcement: r.enforcement,
    });
  }
  for (const m of await readTopic(rig.kafka, alertTopics.pricingAlerts)) {
    const r: PricingAlertRecord = pricingAlertCodec().decode(m.value!);
    add(m, { kind: 'pricing', alert_id: r.alert_id, type: r.kind, tenant_id: null, occurred_at: iso(r.first_seen_at), provider: r.provider, model: r.model, reason: r.reason, message: r.message, first_tenant_id: r.first_tenant_id, price_books_id: r.price_books_id });
  }
  for (const m of await readTopic(rig.kafka, alertTopics.invoiceAlerts)) {
    const r: InvoiceAlertRecord = invoiceAlertCodec().decode(m.value!);
    add(m, { kind: 'invoice', alert_id: r.alert_id, type: r.kind, tenant_id: r.tenant_id, occurred_at: iso(r.detected_at), period: r.period, mismatch_count: r.mismatch_count, report: r.report });
  }
  return out;
}

/** Pico-USD as a plain decimal USD string, trailing zeros dropped (written apart from the API's formatter). */
function usdText(pico: bigint): string {
  const whole = pico / USD;
  const fraction = (pico % USD).toString().padStart(12, '0').replace(/0+$/, '');
  return fraction === '' ? whole.toString() : `${whole}.${fraction}`;
}

/** Newest first: occurred_at, then kind (quota < pricing < invoice), then alert_id, all descending. */
function newestFirst(items: readonly Item[]): Item[] {
  const rank = { quota: 1, pricing: 2, invoice: 3 };
  return [...items].sort((x, y) => Date.parse(y.occurred_at) - Date.parse(x.occurred_at) || rank[y.kind] - rank[x.kind] || (y.alert_id < x.alert_id ? -1 : y.alert_id > x.alert_id ? 1 : 0));
}

interface ExpectedCrossing { tenant_id: string; quota_id: string; threshold_percent: number; used: string; limit: string; occurred_at: string }

/** For each threshold, the first event whose running sum reaches limit * t / 100 (bigints only). */
function crossings(tenant: string, quotaId: string, limit: bigint, thresholds: readonly number[], list: readonly UsageEvent[], amount: (e: UsageEvent) => bigint): ExpectedCrossing[] {
  let sum = 0n;
  const sums = list.map((e) => (sum += amount(e)));
  return thresholds.flatMap((t) => {
    const i = sums.findIndex((s) => s * 100n >= limit * BigInt(t));
    return i === -1 ? [] : [{ tenant_id: tenant, quota_id: quotaId, threshold_percent: t, used: sums[i]!.toString(), limit: limit.toString(), occurred_at: new Date(list[i]!.occurred_at).toISOString() }];
  });
}

const crossingOf = (item: Item): ExpectedCrossing => ({ tenant_id: item.tenant_id!, quota_id: item.quota_id as string, threshold_percent: item.threshold_percent as number, used: item.used as string, limit: item.limit as string, occurred_at: item.occurred_at });
const byQuotaThenThreshold = (x: ExpectedCrossing, y: ExpectedCrossing) => `${x.tenant_id}|${x.quota_id}`.localeCompare(`${y.tenant_id}|${y.quota_id}`) || x.threshold_percent - y.threshold_percent;

/** Usage through the stream, the invoice job on last month, then the alert sink: every alert stored. */
beforeAll(async () => {
  // The stream with a raw-events sink (the invoice job reads raw events, rollups and prices).
  const p = await pipeline(brokers, 2);
  rig = p.rig;
  const prices = new ReferencePrices(rig.pricingDir);
  const quotas = [
    { tenant_id: tenants.a, quota_id: 'requests', metric: 'requests', period: 'month', limit: '10', enforcement: 'soft' },
    { tenant_id: tenants.a, quota_id: 'usd', metric: 'charge_pico_usd', period: 'month', limit: (2n * USD).toString(), thresholds: [50, 100], enforcement: 'hard' },
    { tenant_id: tenants.b, quota_id: 'tokens', metric: 'total_tokens', period: 'month', limit: '10000', enforcement: 'soft' },
  ] as const;
  for (const quota of quotas) await rig.quotaStore.set({ ...quota, thresholds: 'thresholds' in quota ? [...quota.thresholds] : undefined });
  // The rollup consumer's book has them once they are in the Redis mirror (it mirrors what it holds).
  const checker = new QuotaChecker(rig.redis, { definitionsTtlMs: 0 });
  for (const tenant of [tenants.a, tenants.b]) {
    await waitFor(async () => (await checker.statuses(tenant)).quotas.length, (n) => n === quotas.filter((q) => q.tenant_id === tenant).length, { what: `the quotas of ${tenant} in force` });
  }

  // This month: A crosses 50/80/100% of 10 requests and 50/100% of $2; B 50/80/100% of 10,000
  // tokens. Last month: one call of C on a model no price book prices (a pricing alert now, an
  // invoice alert when last month is invoiced).
  events = {
    a: Array.from({ length: 12 }, (_, i) => call(tenants.a, at, i, { provider: 'openai', model: 'gpt-4o' }, { input: 100_000, output: 20_000 })),
    b: Array.from({ length: 6 }, (_, i) => call(tenants.b, at, i, { provider: 'anthropic', model: 'claude-sonnet-4' }, { input: 1_500, output: 500 })),
    unpriced: call(tenants.c, monthEnd() - 2 * HOUR, 0, UNPRICED, { input: 1_000, output: 100 }),
  };
  expect(prices.price(events.unpriced).charge).toBeNull();
  await p.record([...events.a, ...events.b, events.unpriced]);
  await p.caughtUp();

  // Last month's invoice run: C's usage cannot be priced, so its invoice is blocked with an alert.
  period = periodOf(monthEnd() - 1);
  const { config } = invoiceTestConfig({
    brokers, redisUrl: rig.redisServer.url, usageEvents: rig.topics.usageEvents, usageRollups: rig.topics.usageRollups, rawSinkGroup: p.rawSinkGroup, rollupGroup: rig.groupId,
    rollupSinkGroup: p.rollupSinkGroup, pricingDir: rig.pricingDir, database: rig.handle.database,
  });
  await ensureTopics(rig.kafka, invoiceTopics(config.topics), testLog);
  fleet = await invoiceSchedulerFromConfig({ kafka: rig.kafka, redisUrl: rig.redisServer.url, clickhouse: rig.handle, prices: rig.prices, config, log: testLog, clock: () => periodBounds(period).endMs + ALLOWED_LATENESS_MS + 60_000 });
  fleet.scheduler.startWorker();
  await fleet.scheduler.runPeriod(period);
  await waitFor(async () => fleet!.scheduler.queue.getJob(invoiceJobId(tenants.c, period)), (job) => job?.failedReason !== undefined && job.finishedOn !== undefined, { what: `the invoice of ${tenants.c} to be blocked`, timeoutMs: 120_000, intervalMs: 500 });
  await queueIdle(fleet.scheduler.queue);
  await fleet.close();
  fleet = undefined;

  // The alert history: its own group over the three topics, undecodable records to its DLQ.
  alertTopics = { quotaAlerts: rig.topics.quotaAlerts, pricingAlerts: rig.topics.pricingAlerts, invoiceAlerts: config.topics.invoiceAlerts };
  dlqTopic = uniqueName('alerts-dlq');
  sinkGroup = uniqueName('alerts-sink');
  await ensureTopics(rig.kafka, [{ topic: dlqTopic, numPartitions: 1 }], testLog);
  await startAlertSink();
  await sinkCaughtUp();
  const expected = (await alertsOnTopics()).size;
  await waitFor(storedAlerts, (n) => n === expected, { what: `${expected} alerts in ClickHouse`, timeoutMs: 60_000 });

  const topic = uniqueName('al-keys');
  await ensureTopics(rig.kafka, accessTopics({ apiKeys: topic }), testLog);
  store = new KeyStore(rig.kafka, topic, 'pepper', testLog);
  keys.reader = (await store.create({ name: 'operator', scopes: 'quotas:read,usage:read' })).token;
  keys.usageOnly = (await store.create({ name: 'usage dashboards', scopes: 'usage:read' })).token;
  keys.a = (await store.create({ name: 'acme', scopes: 'quotas:read', tenantId: tenants.a })).token;
  keys.b = (await store.create({ name: 'globex', scopes: 'quotas:read', tenantId: tenants.b })).token;
  book = new KeyBook(rig.kafka, rig.redis, { topic, pepper: 'pepper', tokenSecret: TOKEN_SECRET }, testLog);
  await book.start();
  api = await buildApiServer({
    clickhouse: rig.handle, quotas: new QuotaChecker(rig.redis), quotaStore: rig.quotaStore, reconcile: (t, f, to) => reconcileUsage(rig.handle, t, f, to),
    meter: rig.meter, health: new Health(), keys: book, keyStore: store, tokenSecret: TOKEN_SECRET, log: testLog,
  });
  contract = new OpenApiCheck(api.swagger() as never);
  const issued = await api.inject({ method: 'POST', url: '/v1/tenant-tokens', headers: { authorization: `Bearer ${keys.reader}`, 'content-type': 'application/json' }, payload: JSON.stringify({ tenant_id: tenants.b, scopes: ['quotas:read'] }) });
  expect(issued.statusCode).toBe(201);
  keys.tokenB = issued.json<{ token: string }>().token;
});

afterAll(async () => {
  await api?.close();
  await book?.stop();
  await store?.close();
  await sink?.stop();
  await fleet?.close();
  await rig?.close();
});

describe('the alert history', () => {
  it('lists exactly the alerts on the three topics, each once, newest first; the quota alerts are the crossings computed from the events', async () => {
    const onTopics = await alertsOnTopics();
    const { items, pages } = await allPages('limit=1000');
    expect(pages).toBe(1);
    expect(items).toEqual(newestFirst([...onTopics.values()]));
    expect(items.map((i) => i.kind).sort()).toEqual([...Array<string>(8).fill('quota'), 'pricing', 'invoice'].sort());

    // Independent of the producers: the thresholds each tenant's running use crossed, in event order.
    const prices = new ReferencePrices(rig.pricingDir);
    const expected = [
      ...crossings(tenants.a, 'requests', 10n, [50, 80, 100], events.a, () => 1n),
      ...crossings(tenants.a, 'usd', 2n * USD, [50, 100], events.a, (e) => prices.price(e).charge!),
      ...crossings(tenants.b, 'tokens', 10_000n, [50, 80, 100], events.b, (e) => BigInt(e.input_tokens + e.output_tokens)),
    ].sort(byQuotaThenThreshold);
    expect(items.filter((i) => i.kind === 'quota').map(crossingOf).sort(byQuotaThenThreshold)).toEqual(expected);
    const usd = items.filter((i) => i.quota_id === 'usd');
    expect(usd.map((i) => [i.limit_usd, i.used_usd])).toEqual(usd.map((i) => ['2', usdText(BigInt(i.used as string))]));

    const invoice = items.find((i) => i.kind === 'invoice')!;
    expect(invoice).toMatchObject({ tenant_id: tenants.c, type: 'reconciliation_mismatch', period });
    expect(invoice.report).toContain(`${UNPRICED.provider}/${UNPRICED.model}`);
  });

  it('a pricing alert for the unpriced model: fleet-wide, listed to a key bound to no tenant only', async () => {
    const pricing = await list('kind=pricing');
    expect(pricing).toHaveLength(1);
    expect(pricing[0]).toMatchObject({ kind: 'pricing', type: 'unpriced_model', tenant_id: null, provider: UNPRICED.provider, model: UNPRICED.model, first_tenant_id: tenants.c, occurred_at: new Date(events.unpriced.occurred_at).toISOString() });
    for (const token of [keys.a, keys.b, keys.tokenB]) expect(await list('kind=pricing', token)).toEqual([]);
    // Naming a tenant lists that tenant's alerts: C has its invoice alert, not the fleet-wide one.
    expect((await list(`tenant=${tenants.c}`)).map((i) => i.kind)).toEqual(['invoice']);
  });

  it("tenant isolation: a tenant-bound key or token lists its own tenant's alerts only; naming another tenant is refused", async () => {
    const all = await list('limit=1000');
    const own = (tenant: string) => newestFirst(all.filter((i) => i.tenant_id === tenant));
    expect(await list('limit=1000', keys.a)).toEqual(own(tenants.a));
    expect(await list(`tenant=${tenants.a}`, keys.a)).toEqual(own(tenants.a));
    expect(await list('limit=1000', keys.b)).toEqual(own(tenants.b));
    expect(await list('limit=1000', keys.tokenB)).toEqual(own(tenants.b));
    expect(own(tenants.a)).toHaveLength(5);
    expect(own(tenants.b)).toHaveLength(3);
    for (const [token, other] of [[keys.a, tenants.b], [keys.b, tenants.a], [keys.tokenB, tenants.c]] as const) {
      const refused = await get(`/v1/alerts?tenant=${other}`, token);
      expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 403, code: 'TENANT_FORBIDDEN' });
      expect(JSON.stringify(refused.body)).not.toContain('alert_id');
    }
    expect((await get('/v1/alerts', keys.usageOnly)).body.code).toBe('SCOPE_MISSING');
    expect((await get('/v1/alerts')).status).toBe(401);
  });

  it('pages with a keyset cursor (every alert once, in order) and filters by kind and time', async () => {
    const whole = await list('limit=1000');
    const paged = await allPages('limit=3');
    expect(paged.items).toEqual(whole);
    expect(paged.pages).toBe(Math.ceil(whole.length / 3));
    expect(await list('kind=invoice')).toEqual(whole.filter((i) => i.kind === 'invoice'));
    // [from, to) on occurred_at: B's crossings are events 2, 3 and 4 (at + 2..4 ms).
    const from = new Date(at + 3).toISOString();
    const to = new Date(at + 4).toISOString();
    expect(await list(`kind=quota&from=${from}&to=${to}`)).toEqual(whole.filter((i) => i.kind === 'quota' && i.occurred_at >= from && i.occurred_at < to));
    expect(await list(`kind=quota&from=${from}&to=${to}`)).not.toEqual([]);
    expect((await allPages(`tenant=${tenants.a}&limit=2`)).items).toEqual(whole.filter((i) => i.tenant_id === tenants.a));
  });

  it('a replay leaves each alert once: the sink restarted from the beginning of every topic, and an alert published twice', async () => {
    const before = await list('limit=1000');
    await sink!.stop();
    // The group's offsets back to the start (a lost commit, an operator's reset), and an alert
    // published a second time (a producer's retry after a crash): same id, another offset.
    const admin = rig.kafka.admin();
    await admin.connect();
    for (const topic of topicsOf(alertTopics)) await admin.resetOffsets({ groupId: sinkGroup, topic, earliest: true });
    await admin.disconnect();
    const [first] = await readMessages(rig.kafka, alertTopics.quotaAlerts, 1);
    const producer = rig.kafka.producer();
    await producer.connect();
    await producer.send({ topic: alertTopics.quotaAlerts, messages: [{ key: first!.key, value: first!.value, headers: first!.headers }] });
    await producer.disconnect();
    const records = (await Promise.all(topicsOf(alertTopics).map((t) => readTopic(rig.kafka, t)))).flat().length;

    await startAlertSink();
    await sinkCaughtUp();
    expect(sink!.stats().rowsWritten).toBe(records); // every record was read and written again
    expect(await storedAlerts()).toBe(before.length);
    expect(await list('limit=1000')).toEqual(before);
    expect((await alertsOnTopics()).size).toBe(before.length);
  });

  it('malformed parameters answer 400 problem+json naming what is wrong', async () => {
    const cases: [query: string, code: string, names: string][] = [
      ['kind=bogus', 'REQUEST_INVALID', 'kind'],
      ['limit=0', 'REQUEST_INVALID', 'limit'],
      ['limit=abc', 'REQUEST_INVALID', 'limit'],
      ['limit=1000000', 'REQUEST_INVALID', 'limit'],
      ['from=yesterday', 'REQUEST_INVALID', 'from'],
      ['to=2026-13-01T00:00:00Z', 'REQUEST_INVALID', 'to'],
      ['tenant=', 'REQUEST_INVALID', 'tenant'],
      ['colour=red', 'REQUEST_INVALID', 'colour'],
      ['from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z', 'RANGE_INVALID', 'from'],
      ['cursor=not-a-cursor', 'CURSOR_INVALID', 'cursor'],
      [`cursor=${Buffer.from(JSON.stringify([1, 'refund', 'x'])).toString('base64url')}`, 'CURSOR_INVALID', 'cursor'],
    ];
    for (const [query, code, names] of cases) {
      const answer = await get(`/v1/alerts?${query}`, keys.reader);
      expect({ query, status: answer.status, type: answer.type, code: answer.body.code }).toEqual({ query, status: 400, type: 'application/problem+json; charset=utf-8', code });
      expect(String(answer.body.detail)).toContain(names);
    }
  });

  it('a record the history cannot read goes to its DLQ with the reason in headers; the records beside it are stored', async () => {
    const good: QuotaAlertRecord = { alert_id: uniqueName('al-manual'), tenant_id: tenants.b, quota_id: 'manual', metric: 'requests', period_label: '2026-05', period_start: at, period_end: at + HOUR, threshold_percent: 50, limit: '2', used: '1', enforcement: 'soft', crossed_at: at + 50 };
    const producer = rig.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: alertTopics.quotaAlerts,
      messages: [
        { key: tenants.b, value: Buffer.from('{"not":"avro"}') },
        { key: tenants.b, value: quotaAlertCodec().encode({ ...good, alert_id: uniqueName('al-bad'), limit: 'lots' }) },
        { key: tenants.b, value: quotaAlertCodec().encode(good) },
      ],
    });
    await producer.disconnect();
    const letters = await readMessages(rig.kafka, dlqTopic, 2);
    expect(letters.map((m) => [headerText(m, dlqHeaders.reason), headerText(m, dlqHeaders.sourceTopic)])).toEqual([['not_single_object_encoding', alertTopics.quotaAlerts], ['invalid_alert', alertTopics.quotaAlerts]]);
    expect(headerText(letters[1]!, dlqHeaders.detail)).toContain('limit "lots"');
    await sinkCaughtUp();
    const listed = await waitFor(() => list(`tenant=${tenants.b}`), (items) => items.some((i) => i.alert_id === good.alert_id), { what: 'the good record listed' });
    expect(listed.find((i) => i.alert_id === good.alert_id)).toMatchObject({ quota_id: 'manual', used: '1', limit: '2' });
    expect(contract.checked).toBeGreaterThan(30);
  });
});
