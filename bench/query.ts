// npm run bench:query: the read side on a month of 100M raw events over 1,000 tenants (issue 14).
// Not a test: it prints figures (docs/benchmarks.md).
//
//   node --import tsx bench/query.ts [--events 100000000] [--tenants 1000] [--runs 50] [--api-seconds 20] [--only <text>]
//
// BENCH_DIR=<dir> keeps the embedded ClickHouse's data there; a later run with the same BENCH_DIR
// and --reuse measures again without seeding (seeding 100M events takes 20-30 min here).
// --only times only the figures whose name contains the text (e.g. --only 'raw events').
//
// Seeded inside the embedded ClickHouse, as the pipeline would leave it after a month:
// - usage_events: --events events of November 2026 through the raw table's insert columns (UUIDv7
//   ids at the event time, key hashes, 3 projects and 6 models of the rate card, status codes
//   with 2% errors, latency and TTFT, priced amounts), tenants Zipf-distributed (s = 1: the largest
//   tenant has ln 2 / ln 1001 = 10.03% of the events, >= 10M of 100M), one source partition per
//   tenant (the usage-events topic is keyed by tenant), 10M events per INSERT.
// - usage_rollups_hourly: the cumulative rows the rollup consumer emits, aggregated from the raw
//   rows, a day per INSERT; then every day of the month sealed into usage_rollups_daily.
// Timed (p50 / p99 over --runs, after 5 warm-up runs of each): the usage query for the largest and a median tenant's month by
// day and model, all tenants' month by model (library calls, as the API makes them); a raw events
// page of 100 walked with the cursor; then the API over HTTP (Fastify, real keys on Kafka, rate
// limits off) at 4 concurrent clients for --api-seconds: requests/s and latency. Compressed
// bytes per raw event from system.parts after the merges settle.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { KeyBook, KeyStore } from '@meterline/access';
import { buildApiServer } from '@meterline/api';
import { migrate, openClickHouse, queryUsage, rawEventsPage, reconcileUsage, sealDays, type RawEventsQuery, type UsageQuery } from '@meterline/clickhouse';
import { accessTopics, createKafka, ensureTopics } from '@meterline/kafka';
import { Health, createLogger } from '@meterline/platform';
import { createMeter } from '@meterline/producer';
import { QuotaChecker, QuotaStore } from '@meterline/quotas';
import { startKafka, startRedis, uniqueName } from '@meterline/testing';

const { values: args } = parseArgs({ options: { reuse: { type: 'boolean', default: false }, events: { type: 'string', default: '100000000' }, tenants: { type: 'string', default: '1000' }, runs: { type: 'string', default: '50' }, 'api-seconds': { type: 'string', default: '20' }, only: { type: 'string' } } });
const EVENTS = Number(args.events);
const TENANTS = Number(args.tenants);
const RUNS = Number(args.runs);
const API_SECONDS = Number(args['api-seconds']);
const MONTH = { fromMs: Date.UTC(2026, 10, 1), toMs: Date.UTC(2026, 11, 1) };
const DAY_MS = 86_400_000;
const CHUNK = 10_000_000;
const log = createLogger({ level: 'error', format: 'json', name: 'bench-query' });
const dir = process.env.BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'meterline-bench-query-'));
const handle = openClickHouse({ database: 'bench', chdbPath: dir });
const tenantName = (rank: number) => `tenant-${String(rank).padStart(4, '0')}`;

/** [provider, model, operation, prompt, output, cost pico per prompt token, per output token, price version] */
const MODELS = [
  ['openai', 'gpt-4o', 'chat', 1_800, 420, 2_500_000, 10_000_000, 'openai/gpt-4o@2024-08-06'],
  ['openai', 'gpt-4o-mini', 'chat', 900, 250, 150_000, 600_000, 'openai/gpt-4o-mini@2024-07-18'],
  ['openai', 'o4-mini', 'responses', 1_200, 300, 1_100_000, 4_400_000, 'openai/o4-mini@2025-04-16'],
  ['anthropic', 'claude-sonnet-4', 'chat', 3_000, 600, 3_000_000, 15_000_000, 'anthropic/claude-sonnet-4@2025-05-14'],
  ['anthropic', 'claude-3-5-haiku', 'chat', 700, 180, 800_000, 4_000_000, 'anthropic/claude-3-5-haiku@2024-10-22'],
  ['google', 'gemini-2.5-flash', 'chat', 1_500, 350, 300_000, 2_500_000, 'google/gemini-2.5-flash@2025-06-17'],
] as const;
const list = (i: number): string => `[${MODELS.map((m) => (typeof m[i] === 'string' ? `'${m[i]}'` : String(m[i]))).join(', ')}]`;

async function seedEvents(first: number, count: number): Promise<void> {
  // u: a uniform draw from a hash; rank = floor(1001^u) is Zipf (s = 1) over 1..1000.
  await handle.client.command({
    query: `
      INSERT INTO bench.usage_events (event_id_input, occurred_at, tenant_id, project_id, api_key_hash_input, user_id, provider, model, operation,
        input_tokens, cache_read_tokens, output_tokens, latency_ms, ttft_ms, status_code, error_type, source_partition, source_offset_input,
        cost_pico_input, charge_pico_input, cost_price_version, charge_price_version_input)
      SELECT lower(concat(substring(t, 1, 8), '-', substring(t, 9, 4), '-7', substring(r, 1, 3), '-8', substring(r, 4, 3), '-', substring(r, 7, 12))),
             fromUnixTimestamp64Milli(ms, 'UTC'), concat('tenant-', leftPad(toString(rank), 4, '0')), ['search', 'support-bot', 'copilot'][1 + cityHash64(number, 3) % 3],
             lower(hex(SHA256(concat(toString(rank), '/', toString(cityHash64(number, 4) % 3))))), if(number % 2 = 0, concat('user-', toString(cityHash64(number, 5) % 500)), NULL),
             ${list(0)}[m], ${list(1)}[m], ${list(2)}[m],
             prompt - cached, cached, output, 200 + cityHash64(number, 6) % 4000, 50 + cityHash64(number, 7) % 800,
             if(failed, 429, 200), if(failed, 'rate_limit', NULL), rank % 12, number,
             toInt128(prompt - cached) * ${list(5)}[m] + toInt128(cached) * intDiv(${list(5)}[m], 2) + toInt128(output) * ${list(6)}[m],
             (toInt128(prompt - cached) * ${list(5)}[m] + toInt128(cached) * intDiv(${list(5)}[m], 2) + toInt128(output) * ${list(6)}[m]) * 5 / 4,
             ${list(7)}[m], ${list(7)}[m]
      FROM (SELECT number, toUInt32(least(${TENANTS}, floor(exp(log(${TENANTS + 1}) * (cityHash64(number, 1) % 1000000007) / 1000000007)))) AS rank,
                   ${MONTH.fromMs} + cityHash64(number, 2) % ${MONTH.toMs - MONTH.fromMs} AS ms, 1 + cityHash64(number, 8) % ${MODELS.length} AS m,
                   toUInt64(greatest(1, ${list(3)}[m] * (0.2 + 1.6 * (cityHash64(number, 9) % 1000) / 1000))) AS prompt,
                   if(cityHash64(number, 10) % 10 < 3, toUInt64(prompt * 0.6), 0) AS cached,
                   toUInt64(greatest(1, ${list(4)}[m] * (0.2 + 1.6 * (cityHash64(number, 11) % 1000) / 1000))) AS output,
                   cityHash64(number, 12) % 50 = 0 AS failed,
                   leftPad(lower(hex(ms)), 12, '0') AS t, lower(hex(cityHash64(number, 13))) AS r0, concat(r0, r0) AS r
            FROM numbers(${first}, ${count}))`,
  });
}

/** The hourly rollups of one day, as the rollup consumer emits them (one cumulative row per source partition). */
async function seedRollups(dayMs: number): Promise<void> {
  await handle.client.command({
    query: `
      INSERT INTO bench.usage_rollups_hourly (kind, tenant_id, project_id, provider, model, operation, hour, source_partition, correction_offset, version,
        requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, errors, errors_by_class, requests_by_status_class,
        latency_ms_sum, latency_ms_max, latency_count, ttft_ms_sum, ttft_ms_max, ttft_count, cost_pico, charge_pico, cost_price_versions, charge_price_versions)
      SELECT 'cumulative', tenant_id, ifNull(project_id, ''), provider, model, operation, toStartOfHour(occurred_at) AS hour, source_partition, 0, max(source_offset) + 1,
             count(), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), countIf(error_type IS NOT NULL),
             sumMapIf(map('rate_limit', toUInt64(1)), error_type IS NOT NULL), sumMap(map(concat(toString(intDiv(assumeNotNull(status_code), 100)), 'xx'), toUInt64(1))),
             sum(latency_ms), max(latency_ms), count(latency_ms), sum(ttft_ms), max(ttft_ms), count(ttft_ms), sum(cost_pico), sum(charge_pico),
             arraySort(groupUniqArray(cost_price_version)), arraySort(groupUniqArray(cost_price_version))
      FROM bench.usage_events
      WHERE occurred_at >= fromUnixTimestamp64Milli(${dayMs}, 'UTC') AND occurred_at < fromUnixTimestamp64Milli(${dayMs + DAY_MS}, 'UTC')
      GROUP BY tenant_id, project_id, provider, model, operation, hour, source_partition`,
  });
}

function stats(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  return `p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms (n = ${ms.length})`;
}

async function timed(what: string, run: () => Promise<unknown>): Promise<void> {
  if (args.only !== undefined && !what.includes(args.only)) return;
  // Steady state: the first queries of a shape load marks and caches (the first took 90-140 ms
  // where the rest took 25-40 on the largest tenant).
  for (let i = 0; i < 5; i++) await run();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await run();
    ms.push(performance.now() - started);
  }
  console.log(`${what}: ${stats(ms)}`);
}

async function scalar(sql: string): Promise<string> {
  const [row] = await (await handle.client.query({ query: sql, format: 'JSONEachRow' })).json<{ v: string }>();
  return row?.v ?? '';
}

const monthQuery = (q: Partial<UsageQuery>): UsageQuery => ({ ...MONTH, granularity: 'month', timeZone: 'UTC', groupBy: [], filters: {}, limit: 10_000, ...q });

async function seed(): Promise<void> {
  await migrate(handle, log);
  let started = Date.now();
  for (let first = 0; first < EVENTS; first += CHUNK) await seedEvents(first, Math.min(CHUNK, EVENTS - first));
  console.log(`raw events: ${EVENTS.toLocaleString('en-US')} seeded in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  started = Date.now();
  for (let day = MONTH.fromMs; day < MONTH.toMs; day += DAY_MS) await seedRollups(day);
  console.log(`hourly rollups: ${Number(await scalar('SELECT count() AS v FROM bench.usage_rollups_hourly')).toLocaleString('en-US')} rows in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  started = Date.now();
  const { sealed } = await sealDays(handle, { beforeMs: MONTH.toMs, marginSeconds: 0 });
  console.log(`daily rollups: ${sealed.length} days sealed, ${Number(await scalar('SELECT count() AS v FROM bench.usage_rollups_daily')).toLocaleString('en-US')} rows in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  started = Date.now();
  await handle.client.command({ query: 'OPTIMIZE TABLE bench.usage_events FINAL' });
  await handle.client.command({ query: 'OPTIMIZE TABLE bench.usage_rollups_hourly FINAL' });
  console.log(`merges settled in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

async function measureLibrary(largest: string, median: string): Promise<void> {
  const events = await scalar(`SELECT count() AS v FROM bench.usage_events WHERE tenant_id = '${largest}'`);
  console.log(`largest tenant ${largest}: ${Number(events).toLocaleString('en-US')} events; median tenant ${median}: ${Number(await scalar(`SELECT count() AS v FROM bench.usage_events WHERE tenant_id = '${median}'`)).toLocaleString('en-US')}`);
  await timed('largest tenant, month by day and model', () => queryUsage(handle, monthQuery({ granularity: 'day', groupBy: ['model'], filters: { tenant: { in: [largest] } } })));
  await timed('median tenant, month by day and model', () => queryUsage(handle, monthQuery({ granularity: 'day', groupBy: ['model'], filters: { tenant: { in: [median] } } })));
  await timed('all tenants, month by model', () => queryUsage(handle, monthQuery({ groupBy: ['model'] })));
  await timed('all tenants, month by tenant (1,000 rows)', () => queryUsage(handle, monthQuery({ groupBy: ['tenant'] })));
  await timed('all tenants, month by model, Europe/Paris days (hourly rows only)', () => queryUsage(handle, monthQuery({ granularity: 'day', timeZone: 'Europe/Paris', groupBy: ['model'] })));
  let after: RawEventsQuery['after'];
  await timed('raw events of the largest tenant, a page of 100 walked with the cursor', async () => {
    const page = await rawEventsPage(handle, { tenantId: largest, filters: {}, limit: 100, after });
    after = page.next;
  });
  const [size] = await (await handle.client.query({
    query: "SELECT sum(rows) AS n, sum(data_compressed_bytes) AS bytes FROM system.parts WHERE database = 'bench' AND table = 'usage_events' AND active",
    format: 'JSONEachRow',
  })).json<{ n: string; bytes: string }>();
  console.log(`raw storage: ${(Number(size?.bytes) / Number(size?.n)).toFixed(2)} compressed bytes per event (${Number(size?.n).toLocaleString('en-US')} rows)`);
}

/** The API over HTTP: 4 clients, each a request at a time, for API_SECONDS. */
async function measureApi(largest: string): Promise<void> {
  const broker = await startKafka({ heapMb: 512 });
  const redis = await startRedis();
  const redisClient = new Redis(redis.url, { lazyConnect: false });
  const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench-query' }, log);
  const keysTopic = uniqueName('bench-keys');
  await ensureTopics(kafka, accessTopics({ apiKeys: keysTopic }), log);
  const store = new KeyStore(kafka, keysTopic, 'bench-pepper', log);
  const { token } = await store.create({ name: 'bench', scopes: 'usage:read' });
  const book = new KeyBook(kafka, redisClient, { topic: keysTopic, pepper: 'bench-pepper', tokenSecret: undefined }, log);
  await book.start();
  const quotaStore = new QuotaStore(kafka, uniqueName('bench-quotas'), log);
  const meter = createMeter({ kafka, topic: uniqueName('bench-events'), spoolDir: join(dir, 'spool'), log });
  const api = await buildApiServer({
    clickhouse: handle, quotas: new QuotaChecker(redisClient), quotaStore, reconcile: (t, f, to) => reconcileUsage(handle, t, f, to),
    meter, health: new Health(), keys: book, keyStore: store, tokenSecret: undefined, log,
  });
  const address = await api.listen({ host: '127.0.0.1', port: 0 });
  const url = `${address}/v1/usage/query?from=${new Date(MONTH.fromMs).toISOString()}&to=${new Date(MONTH.toMs).toISOString()}&granularity=day&group_by=model&tenant=${largest}`;
  const request = async (): Promise<number> => {
    const started = performance.now();
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`the API answered ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
    return performance.now() - started;
  };
  try {
    await request(); // warm
    const ms: number[] = [];
    const startedAt = performance.now();
    const until = startedAt + API_SECONDS * 1000;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (performance.now() < until) ms.push(await request());
    }));
    const seconds = (performance.now() - startedAt) / 1000;
    console.log(`API, largest tenant month by day and model, 4 clients: ${(ms.length / seconds).toFixed(0)} requests/s, ${stats(ms)}`);
  } finally {
    await api.close();
    await meter.close();
    await quotaStore.close();
    await book.stop();
    await store.close();
    redisClient.disconnect();
    await redis.stop();
    await broker.stop();
  }
}

try {
  if (args.reuse) await migrate(handle, log);
  else await seed();
  const ranks = await (await handle.client.query({ query: 'SELECT tenant_id FROM bench.usage_rollups_daily GROUP BY tenant_id ORDER BY sum(requests) DESC', format: 'JSONEachRow' })).json<{ tenant_id: string }>();
  const largest = ranks[0]?.tenant_id ?? tenantName(1);
  const median = ranks[Math.floor(ranks.length / 2)]?.tenant_id ?? tenantName(TENANTS / 2);
  await measureLibrary(largest, median);
  if (API_SECONDS > 0) await measureApi(largest);
} finally {
  await handle.close();
  if (process.env.BENCH_DIR === undefined) rmSync(dir, { recursive: true, force: true });
}
