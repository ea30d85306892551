// npm run bench:rebuild: Redis lost with a month of raw events (20M over 1,000 tenants) in
// ClickHouse; the rollup consumer rebuilds the stream state. Not a test: it prints figures
// (docs/benchmarks.md).
//
//   node --import tsx bench/rebuild.ts [--events 20000000] [--tenants 1000]
//
// BENCH_DIR=<dir> keeps the embedded ClickHouse's data there; a later run with the same BENCH_DIR
// and --reuse rebuilds again without seeding.
//
// Seeded inside the embedded ClickHouse (INSERT ... SELECT FROM numbers()), as the pipeline leaves
// it after the 30 days before the run:
// - usage_events: --events events spread evenly over the month in offset order, tenants
//   Zipf-distributed (s = 1), one source partition per tenant (12 partitions, keyed by tenant),
//   3 projects, 6 models, 3 API keys per tenant, ingested 20 s after they happened.
// - usage_rollups_hourly: the cumulative rows the rollup consumer emits, summed from the raw rows.
// - Kafka: the rollup and raw sink groups committed at the end of every partition (the cut).
// - Quotas: per tenant a daily total_tokens quota (thresholds at 50/80/100% of a limit most large
//   tenants pass), a monthly requests quota; a monthly prompt_tokens quota on one project for the
//   first 100 tenants; a daily quota on one API key for the 10 largest (raw sums: a key is no
//   rollup dimension).
// The rebuild runs in a child process (the consumer) against ClickHouse over HTTP (this process
// serves it), Redis and Kafka: its wall time and peak RSS are the figures. Then every counter,
// open rollup and dedup set in Redis is checked against ClickHouse's raw rows.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { migrate, openClickHouse, type ClickHouseHandle } from '@meterline/clickhouse';
import { parseQuotaDefinition, type QuotaDefinition } from '@meterline/domain';
import { createKafka, ensureTopics } from '@meterline/kafka';
import { createLogger } from '@meterline/platform';
import { PriceBookStore } from '@meterline/pricing';
import { streamLayout, withScripts } from '@meterline/redis';
import { rebuildStreamState, type RebuildSummary } from '@meterline/rollup-consumer';
import { repoRoot, startClickHouseHttpServer, startKafka, startRedis } from '@meterline/testing';

const { values: args } = parseArgs({ options: { reuse: { type: 'boolean', default: false }, events: { type: 'string', default: '20000000' }, tenants: { type: 'string', default: '1000' }, child: { type: 'string' } } });
const EVENTS = Number(args.events);
const TENANTS = Number(args.tenants);
const HOUR = 3_600_000;
const DAY = 86_400_000;
// A month of events: the 30 days before the run (quota counters expire on the real clock).
// The child is handed the parent's clock (BENCH_REBUILD_NOW); --reuse reads the seed's from BENCH_DIR.
let NOW = Number(process.env.BENCH_REBUILD_NOW ?? Date.now());
const monthFrom = (): number => NOW - 30 * DAY;
const PARTITIONS = 12;
const LATENESS_MS = 2 * HOUR;
const WINDOW_S = 86_400;
const CHUNK = 5_000_000;
const log = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'error', format: 'json', name: 'bench-rebuild' });
const tenantName = (rank: number) => `tenant-${String(rank).padStart(4, '0')}`;
const keyHashSql = (rank: string, key: string) => `lower(hex(SHA256(concat(toString(${rank}), '/', toString(${key})))))`;

/** What the parent hands the child (the consumer process). */
interface ChildConfig {
  clickhouseUrl: string;
  redisUrl: string;
  brokers: string[];
  topics: { events: string; rollups: string; alerts: string };
  groups: { rollups: string; raw: string; rollupSink: string };
  quotas: string;
}

// ---- the child: the rollup consumer rebuilding -----------------------------------------------

async function child(config: ChildConfig): Promise<void> {
  const before = process.memoryUsage().rss;
  const redis = withScripts(new Redis(config.redisUrl));
  const clickhouse = openClickHouse({ url: config.clickhouseUrl, database: 'bench', chdbPath: '' });
  const kafka = createKafka({ brokers: config.brokers, clientId: 'bench-rebuild' }, log);
  const prices = new PriceBookStore(join(repoRoot(), 'pricing'), log);
  const quotas = (JSON.parse(readFileSync(config.quotas, 'utf8')) as Record<string, unknown>[]).map((q) => parseQuotaDefinition(q));
  let peakSampled = before;
  const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, process.memoryUsage().rss)), 50);
  const started = performance.now();
  const summary = await rebuildStreamState({
    kafka, redis, clickhouse, log, topic: config.topics.events, groupId: config.groups.rollups, rawSinkGroupId: config.groups.raw,
    rollupsTopic: config.topics.rollups, rollupSinkGroupId: config.groups.rollupSink, alertsTopic: config.topics.alerts,
    allowedLatenessMs: LATENESS_MS, dedupWindowSeconds: WINDOW_S, quotas: () => quotas, price: (event) => prices.price(event), clock: () => NOW,
  });
  const ms = performance.now() - started;
  clearInterval(sampler);
  // maxRSS: the kernel's peak for this process (KiB), the samples' peak as a cross-check.
  const peak = Math.max(process.resourceUsage().maxRSS * 1024, peakSampled);
  redis.disconnect();
  await clickhouse.close();
  process.stdout.write(`${JSON.stringify({ ms, peakRss: peak, startRss: before, summary })}\n`);
}

// ---- the parent: seed, run the child, verify ---------------------------------------------------

/** Zipf rank of event `number` (s = 1), as bench/query.ts draws it. */
const RANK = `toUInt32(least(${TENANTS}, floor(exp(log(${TENANTS + 1}) * (cityHash64(number, 1) % 1000000007) / 1000000007))))`;

async function seed(handle: ClickHouseHandle): Promise<void> {
  await handle.client.command({ query: 'DROP DATABASE IF EXISTS bench' });
  await migrate(handle, log);
  const step = (NOW - 60_000 - monthFrom()) / EVENTS;
  for (let first = 0; first < EVENTS; first += CHUNK) {
    const count = Math.min(CHUNK, EVENTS - first);
    const started = performance.now();
    await handle.client.command({
      query: `
        INSERT INTO bench.usage_events (event_id_input, occurred_at, tenant_id, project_id, api_key_hash_input, provider, model, operation,
          input_tokens, cache_read_tokens, output_tokens, latency_ms, ttft_ms, status_code, error_type, source_partition, source_offset_input, ingested_at,
          cost_pico_input, charge_pico_input, cost_price_version, charge_price_version_input)
        SELECT concat('ev-', toString(number)), fromUnixTimestamp64Milli(ms, 'UTC'), concat('tenant-', leftPad(toString(rank), 4, '0')),
               ['search', 'support-bot', 'copilot'][1 + cityHash64(number, 3) % 3], ${keyHashSql('rank', 'cityHash64(number, 4) % 3')},
               ['openai', 'openai', 'openai', 'anthropic', 'anthropic', 'google'][m], ['gpt-4o', 'gpt-4o-mini', 'o4-mini', 'claude-sonnet-4', 'claude-3-5-haiku', 'gemini-2.5-flash'][m],
               ['chat', 'chat', 'responses', 'chat', 'chat', 'chat'][m],
               200 + cityHash64(number, 5) % 3000, if(cityHash64(number, 6) % 10 < 3, 100 + cityHash64(number, 7) % 1000, 0), 20 + cityHash64(number, 8) % 800,
               200 + cityHash64(number, 9) % 4000, 50 + cityHash64(number, 10) % 800, if(failed, 429, 200), if(failed, 'rate_limit', NULL),
               rank % ${PARTITIONS}, number, toStartOfMinute(fromUnixTimestamp64Milli(ms + 20000, 'UTC')), 0, 0, '', ''
        FROM (SELECT number, ${RANK} AS rank, toInt64(${monthFrom()} + number * ${step}) AS ms, 1 + cityHash64(number, 2) % 6 AS m, cityHash64(number, 12) % 50 = 0 AS failed
              FROM numbers(${first}, ${count}))`,
    });
    console.log(`seeded events ${first.toLocaleString('en-US')}..${(first + count).toLocaleString('en-US')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  // The hourly rollups the stream would have published, a day per INSERT.
  for (let day = Math.floor(monthFrom() / DAY) * DAY; day < NOW; day += DAY) {
    await handle.client.command({
      query: `
        INSERT INTO bench.usage_rollups_hourly (kind, tenant_id, project_id, provider, model, operation, hour, source_partition, correction_offset, version,
          requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, errors, errors_by_class, requests_by_status_class,
          latency_ms_sum, latency_ms_max, latency_count, ttft_ms_sum, ttft_ms_max, ttft_count, cost_pico, charge_pico)
        SELECT 'cumulative', tenant_id, ifNull(project_id, ''), provider, model, operation, toStartOfHour(occurred_at) AS hour, source_partition, -1, max(source_offset),
               count(), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), countIf(error_type IS NOT NULL),
               sumMapIf(map('rate_limit', toUInt64(1)), error_type IS NOT NULL), sumMap(map(concat(toString(intDiv(assumeNotNull(status_code), 100)), 'xx'), toUInt64(1))),
               sum(latency_ms), max(latency_ms), count(latency_ms), sum(ttft_ms), max(ttft_ms), count(ttft_ms), sum(cost_pico), sum(charge_pico)
        FROM bench.usage_events
        WHERE occurred_at >= fromUnixTimestamp64Milli(${day}, 'UTC') AND occurred_at < fromUnixTimestamp64Milli(${day + DAY}, 'UTC')
        GROUP BY tenant_id, project_id, provider, model, operation, hour, source_partition`,
    });
  }
  console.log('seeded the hourly rollups');
}

function quotaDefinitions(): Record<string, unknown>[] {
  const quotas: Record<string, unknown>[] = [];
  for (let rank = 1; rank <= TENANTS; rank++) {
    const tenant = tenantName(rank);
    const base = { tenant_id: tenant, enforcement: 'soft', updated_at: 0 };
    // The largest tenant spends ~1.5M tokens an hour: a daily limit of 20M is passed by the large ones.
    quotas.push({ ...base, quota_id: 'daily-tokens', metric: 'total_tokens', period: 'day', limit: '20000000', thresholds: [50, 80, 100] });
    quotas.push({ ...base, quota_id: 'monthly-requests', metric: 'requests', period: 'month', limit: '1000000000' });
    if (rank <= 100) quotas.push({ ...base, quota_id: 'search-prompt', metric: 'prompt_tokens', period: 'month', scope: { project_id: 'search' }, limit: '100000000000' });
    if (rank <= 10) quotas.push({ ...base, quota_id: 'key-daily', metric: 'total_tokens', period: 'day', scope: { api_key_hash: keyHash(rank, 0) }, limit: '100000000000' });
  }
  return quotas;
}

let keyHashes: Map<string, string> | undefined;
function keyHash(rank: number, key: number): string {
  return keyHashes?.get(`${rank}/${key}`) ?? '';
}

async function cutOf(handle: ClickHouseHandle): Promise<Map<number, bigint>> {
  const rows = await (await handle.client.query({ query: 'SELECT source_partition AS p, toString(max(source_offset) + 1) AS cut FROM bench.usage_events GROUP BY p', format: 'JSONEachRow' })).json<{ p: number; cut: string }>();
  return new Map(rows.map((r) => [r.p, BigInt(r.cut)]));
}

/** Every counter in force, every open rollup's requests and every dedup id against ClickHouse's raw rows. */
async function verify(handle: ClickHouseHandle, redis: Redis, quotas: QuotaDefinition[]): Promise<string[]> {
  const problems: string[] = [];
  const query = async <T>(sql: string): Promise<T[]> => (await handle.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
  const used = streamLayout.quotaCounter.used;
  const checks: [quotaId: string, period: string, amount: string, where: (q: QuotaDefinition) => string][] = [
    ['daily-tokens', 'toStartOfDay', 'sum(input_tokens + cache_read_tokens + output_tokens)', () => 'true'],
    ['monthly-requests', 'toStartOfMonth', 'count()', () => 'true'],
    ['search-prompt', 'toStartOfMonth', 'sum(input_tokens + cache_read_tokens)', () => "project_id = 'search'"],
    ['key-daily', 'toStartOfDay', 'sum(input_tokens + cache_read_tokens + output_tokens)', (q) => `api_key_hash = '${q.scope.api_key_hash ?? ''}'`],
  ];
  let compared = 0;
  for (const [quotaId, period, amount, where] of checks) {
    const definitions = quotas.filter((q) => q.quota_id === quotaId);
    const byTenant = new Map(definitions.map((q) => [q.tenant_id, q]));
    const scoped = quotaId === 'key-daily' ? `(${definitions.map((q) => `(tenant_id = '${q.tenant_id}' AND ${where(q)})`).join(' OR ')})` : where(definitions[0]!);
    const rows = await query<{ tenant_id: string; start: string; used: string }>(`SELECT tenant_id, toString(toUnixTimestamp(toDateTime(${period}(occurred_at), 'UTC')) * 1000) AS start, toString(${amount}) AS used
      FROM bench.usage_events FINAL WHERE ${scoped} GROUP BY tenant_id, start`);
    const pipeline = redis.pipeline();
    const expected: [string, string][] = [];
    for (const row of rows) {
      if (!byTenant.has(row.tenant_id)) continue;
      const key = `${streamLayout.root}:{${encodeURIComponent(row.tenant_id)}}:${streamLayout.tenantKeys.quotaCounter}${quotaId}:${row.start}`;
      pipeline.hget(key, used);
      expected.push([key, row.used]);
    }
    const actual = ((await pipeline.exec()) ?? []).map(([, value]) => value as string | null);
    expected.forEach(([key, value], i) => {
      if (actual[i] !== value) problems.push(`${key}: Redis ${actual[i]}, raw events ${value}`);
    });
    compared += expected.length;
  }
  // Open hours: per tenant and partition, hours after its latest event time minus lateness and an hour.
  const [open] = await query<{ n: string }>(`SELECT toString(count()) AS n FROM bench.usage_events AS e FINAL
    INNER JOIN (SELECT tenant_id, source_partition, max(toUnixTimestamp64Milli(occurred_at)) AS maxts FROM bench.usage_events GROUP BY ALL) AS w USING (tenant_id, source_partition)
    WHERE toUnixTimestamp(toStartOfHour(e.occurred_at)) * 1000 + ${HOUR + LATENESS_MS} > w.maxts`);
  const [window] = await query<{ n: string }>(`SELECT toString(count()) AS n FROM bench.usage_events FINAL WHERE (toUnixTimestamp(ingested_at) + 60) * 1000 > ${NOW - WINDOW_S * 1000}`);
  let requests = 0;
  let members = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${streamLayout.root}:{*`, 'COUNT', 5000);
    cursor = next;
    const pipeline = redis.pipeline();
    const kinds: string[] = [];
    for (const key of keys) {
      const name = key.slice(key.indexOf('}:') + 2);
      if (name.startsWith(streamLayout.tenantKeys.rollup)) {
        pipeline.hget(key, streamLayout.rollup.requests);
        kinds.push('r');
      } else if (name.startsWith(streamLayout.tenantKeys.seen)) {
        pipeline.scard(key);
        kinds.push('s');
      }
    }
    ((await pipeline.exec()) ?? []).forEach(([, value], i) => {
      if (kinds[i] === 'r') requests += Number(value);
      else members += Number(value);
    });
  } while (cursor !== '0');
  if (requests !== Number(open?.n)) problems.push(`open hours: ${requests} requests in Redis rollups, ${open?.n} raw events`);
  if (members !== Number(window?.n)) problems.push(`dedup sets: ${members} ids in Redis, ${window?.n} raw events ingested within the window`);
  console.log(`verified ${compared.toLocaleString('en-US')} quota counters, ${requests.toLocaleString('en-US')} open-hour requests, ${members.toLocaleString('en-US')} dedup ids against the raw rows`);
  return problems;
}

async function parent(): Promise<void> {
  const dir = process.env.BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'meterline-bench-rebuild-'));
  const server = await startClickHouseHttpServer({ chdbPath: dir, log });
  // Seeding inserts run for minutes: past the client's default 30 s request timeout.
  const client = createClient({ url: server.url, request_timeout: 3_600_000, clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } });
  const handle: ClickHouseHandle = { client, database: 'bench', embedded: false, close: () => client.close() };
  const broker = await startKafka({ heapMb: 512 });
  const redisServer = await startRedis();
  const redis = new Redis(redisServer.url);
  try {
    const nowFile = join(dir, 'now');
    if (args.reuse) {
      NOW = Number(readFileSync(nowFile, 'utf8'));
      await migrate(handle, log);
    } else {
      writeFileSync(nowFile, String(NOW));
      await seed(handle);
    }
    const [{ events } = { events: '0' }] = await (await handle.client.query({ query: 'SELECT toString(count()) AS events FROM bench.usage_events', format: 'JSONEachRow' })).json<{ events: string }>();
    keyHashes = new Map((await (await handle.client.query({ query: `SELECT concat(toString(number), '/0') AS k, ${keyHashSql('number', '0')} AS h FROM numbers(1, 10)`, format: 'JSONEachRow' })).json<{ k: string; h: string }>()).map((r) => [r.k, r.h]));
    const quotas = quotaDefinitions();
    const quotasFile = join(dir, 'quotas.json');
    writeFileSync(quotasFile, JSON.stringify(quotas));

    const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench-rebuild' }, log);
    const topics = { events: 'usage-events', rollups: 'usage-rollups', alerts: 'quota-alerts' };
    await ensureTopics(kafka, [{ topic: topics.events, numPartitions: PARTITIONS }, { topic: topics.rollups, numPartitions: PARTITIONS }, { topic: topics.alerts, numPartitions: 1 }], log);
    const groups = { rollups: 'bench-rollups', raw: 'bench-raw-sink', rollupSink: 'bench-rollup-sink' };
    const cut = await cutOf(handle);
    const admin = kafka.admin();
    await admin.connect();
    for (const groupId of [groups.rollups, groups.raw]) await admin.setOffsets({ groupId, topic: topics.events, partitions: [...cut].map(([partition, offset]) => ({ partition, offset: offset.toString() })) });
    await admin.disconnect();

    // Redis lost: empty. The consumer process rebuilds.
    await redis.flushall();
    const config: ChildConfig = { clickhouseUrl: server.url, redisUrl: redisServer.url, brokers: broker.brokers, topics, groups, quotas: quotasFile };
    type ChildResult = { ms: number; peakRss: number; startRss: number; summary: RebuildSummary };
    // TMPDIR of its own: tsx's loader connects to `<tmpdir>/tsx-<uid>/<parent pid>.pipe`, and on this
    // shared machine a socket found there reset the connection and crashed the child.
    const result = await new Promise<ChildResult>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/rebuild.ts', '--child', JSON.stringify(config)], { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_REBUILD_NOW: String(NOW), TMPDIR: mkdtempSync(join(tmpdir(), 'meterline-rebuild-child-')) } });
      let out = '';
      proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.split('\n').findLast((line) => line.includes('"peakRss"'))!) as ChildResult) : reject(new Error(`the rebuilding process exited ${code}: ${out}`))));
    });
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    console.log(`raw events: ${Number(events).toLocaleString('en-US')} over ${TENANTS} tenants, ${quotas.length.toLocaleString('en-US')} quotas`);
    console.log(`rebuild: ${(result.ms / 1000).toFixed(1)} s to rebuilt state; consumer RSS peak ${mib(result.peakRss)} (${mib(result.startRss)} before the rebuild)`);
    console.log(`read: ${JSON.stringify(result.summary)}`);
    const problems = await verify(handle, redis, quotas.map((q) => parseQuotaDefinition(q)));
    if (problems.length > 0) {
      console.log(`NOT EXACT: ${problems.length} differences, first: ${problems.slice(0, 5).join('; ')}`);
      process.exitCode = 1;
    } else console.log('exact: every quota counter, open-hour rollup and dedup set equals ClickHouse');
  } finally {
    redis.disconnect();
    await redisServer.stop();
    await broker.stop();
    await handle.close();
    await server.close();
    if (process.env.BENCH_DIR === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

if (args.child !== undefined) await child(JSON.parse(args.child) as ChildConfig);
else await parent();
