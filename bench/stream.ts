// npm run bench:stream: figures for the stream core (rollup consumer -> Redis quota counters,
// rollups -> ClickHouse, checkQuota, dedup state), each beside a naive baseline measured in the
// same run. Not a test: nothing here passes or fails; targets are printed beside the figures.
//
//   node --import tsx bench/stream.ts
//
// One Kafka, one redis-server, the rollup consumer as its own process (apps/rollup-consumer/src/
// main.ts, as an operator runs it), the rollup sink in this process (embedded ClickHouse). Phases:
//   4a0. (check) checkQuota at 5,000/s for 10 s before anything else starts: only a Redis with
//      the definitions and counters, and the checking process (where an API service runs it)
//   0. warm-up: 10,000 events (STREAM_WARMUP_EVENTS), consumer caught up (its first apply builds
//      the state epoch)
//   4a. checkQuota at 5,000/s for 10 s with the fleet idle, then the naive version, then
//      PING alone on the same schedule (the floor of the client, connection and machine)
//   1. 50,000 then 60,000 events/s offered for 20 s each (1% sent twice), until the consumer
//      group lag is 0; the events are generated before the clock starts (the generator and the
//      reference are the bench's own cost, not the system's);
//      Redis day/month counters compared with a reference computed here
//   1b. naive consumer (one INCRBY round trip per event) on the same topic, for 10 s
//   2/3. rollup sink started and caught up; 20,000 events/s offered for 25 s, then 5,000/s for
//      15 s; probe events timed until they show in a Redis quota counter (polled every 5 ms) and
//      in usage_hourly (polled every 100 ms)
//   4b. checkQuota, then the naive version, at 5,000/s for 10 s each while 20,000 events/s are
//      offered and applied; checkQuota again while 5,000 events/s are (a load the box keeps up with)
//   then Redis counters and per-tenant usage_hourly totals compared with the reference
//   5. 1,000,000 distinct events applied straight through apply-usage-batch-2.lua into a fresh
//      redis-server: memory of the ml:{tenant}:seen:* sets; naive: one key per event id
// The meter gets a large in-memory buffer: past its default 200,000 events record() appends to the
// fsync'd disk spool synchronously (the Kafka-outage path), which is not what this measures.
// `node --import tsx bench/stream.ts [e2e] [latency] [check] [dedup]` runs only those parts.
// `unpriced` beside them gives the rollup consumer empty price books (every event unpriced: the
// price lookup fails fast and the money arguments are zeros), to compare with the shipped books:
//   npm run bench:stream -- e2e             npm run bench:stream -- e2e unpriced
// CONSUMER_PROF=<dir> writes a V8 CPU profile of the rollup consumer there (bench/cpuprofile-summary.ts reads it).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import { usageEventV2Defaults, parseQuotaDefinition, priceEvent, quotaPeriod, type QuotaDefinition, type UsageEvent } from '@meterline/domain';
import { usageEventCodec } from '@meterline/contract';
import { UsageRollupsTable, migrate, openClickHouse, quoteIdentifier, type ClickHouseHandle, type UsageRollupRow } from '@meterline/clickhouse';
import { ClickHouseSink, usageRollupsStream } from '@meterline/clickhouse-sink';
import { createKafka, ensureTopics, streamTopics } from '@meterline/kafka';
import { createMeter, type Meter } from '@meterline/producer';
import { createLogger } from '@meterline/platform';
import { loadPriceBooks } from '@meterline/pricing';
import { QuotaStore, mirrorQuota } from '@meterline/quotas';
import { redisKeys, withScripts } from '@meterline/redis';
import { planTenantBatch, type OffsetEvent, type TenantBatchPlan } from '@meterline/rollup-consumer';
import { repoRoot, spawnManaged, startKafka, startRedis, uniqueIdentifier, uniqueName, usageGenerator, waitFor, type KafkaBroker, type ManagedProcess, type RedisServer } from '@meterline/testing';
import { cpuSeconds } from './support/proc-cpu';

const log = createLogger({ level: 'error', format: 'json', name: 'bench-stream' });
const unpricedRun = process.argv.includes('unpriced');
/** Where the spawned rollup consumer reads its price books: the shipped ones, or empty books. */
const consumerPricingDir = ((): string => {
  if (!unpricedRun) return join(repoRoot(), 'pricing');
  const dir = mkdtempSync(join(tmpdir(), 'bench-empty-prices-'));
  mkdirSync(join(dir, 'catalog'));
  for (const file of ['provider-costs.json', 'rate-card.json']) writeFileSync(join(dir, 'catalog', file), JSON.stringify({ format: 'meterline.prices/v1', models: [] }));
  return dir;
})();
const priceBooks = loadPriceBooks(join(repoRoot(), 'pricing'));
const results: Record<string, unknown> = {};
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => (n < 10 ? n.toFixed(2) : n.toFixed(0));
const sleep = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis));

const HOUR = 3_600_000;
const DAY = 86_400_000;
const PARTITIONS = 12; // the fleet's default METERLINE_USAGE_EVENTS_PARTITIONS
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka', 'cyberdyne', 'tyrell', 'soylent', 'oscorp'];
const QUOTA_LIMIT = 10n ** 15n; // soft, never reached: no alerts, only counting
const PROBE_REDIS = 'probe-redis';
const PROBE_CH = 'probe-clickhouse';
const PROBE_QUOTA = 'probe-requests';
const CHECK_RATE = 5_000;
/** Events recorded and applied before any phase is measured (STREAM_WARMUP_EVENTS overrides). */
const WARMUP_EVENTS = Number(process.env.STREAM_WARMUP_EVENTS ?? 10_000);
const CHECK_SECONDS = 10;
const CH_POLL_MS = 100;
/** Every process this bench starts besides Kafka and Redis: stopped in the finally blocks. */
const children: ManagedProcess[] = [];

/** A client whose connection errors surface as failed commands only (no "Unhandled error event" flood if Redis dies). */
function redisClient(url: string, options: { db?: number } = {}): Redis {
  const client = new Redis(url, options);
  client.on('error', () => undefined);
  return client;
}

function sortedPercentiles(values: number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

function totalTokens(e: UsageEvent): number {
  return e.input_tokens + e.cache_read_tokens + e.cache_write_tokens + e.output_tokens + e.reasoning_tokens;
}

/**
 * Independent reference of what must be counted: per (tenant, quota, period start) token sums of
 * the distinct events (UTC days and months computed here, not with the domain's quotaPeriod),
 * and per-tenant totals for the ClickHouse check.
 */
class Reference {
  readonly counters = new Map<string, number>();
  readonly tenants = new Map<string, { requests: number; input: number; cacheRead: number; cacheWrite: number; output: number; reasoning: number }>();
  readonly #monthOfDay = new Map<number, number>();
  events = 0;

  constructor(private readonly quotaTenants: ReadonlySet<string>) {}

  add(e: UsageEvent): void {
    this.events++;
    let t = this.tenants.get(e.tenant_id);
    if (!t) this.tenants.set(e.tenant_id, (t = { requests: 0, input: 0, cacheRead: 0, cacheWrite: 0, output: 0, reasoning: 0 }));
    t.requests++;
    t.input += e.input_tokens;
    t.cacheRead += e.cache_read_tokens;
    t.cacheWrite += e.cache_write_tokens;
    t.output += e.output_tokens;
    t.reasoning += e.reasoning_tokens;
    if (!this.quotaTenants.has(e.tenant_id)) return;
    const day = Math.floor(e.occurred_at / DAY) * DAY;
    let month = this.#monthOfDay.get(day);
    if (month === undefined) {
      const d = new Date(day);
      this.#monthOfDay.set(day, (month = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)));
    }
    const tokens = totalTokens(e);
    for (const key of [redisKeys.quotaCounter(e.tenant_id, 'daily-total', day), redisKeys.quotaCounter(e.tenant_id, 'monthly-total', month)]) this.counters.set(key, (this.counters.get(key) ?? 0) + tokens);
  }
}

interface Setup {
  broker: KafkaBroker;
  kafka: Kafka;
  admin: Admin;
  topics: { usageEvents: string; usageEventsPartitions: number; usageRollups: string; quotaAlerts: string; quotaDefinitions: string; pricingAlerts: string };
  groupId: string;
  redisServer: RedisServer;
  redis: Redis;
  meter: Meter;
  reference: Reference;
  consumer?: ManagedProcess;
  consumerLog: string;
}

async function groupLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  return ends.reduce((lag, end) => lag + Number(end.offset) - Math.max(0, Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1')), 0);
}

function assertConsumerAlive(s: Setup): void {
  if (s.consumer && !s.consumer.isRunning()) throw new Error(`rollup consumer exited (${JSON.stringify(s.consumer.exitInfo)}):\n${s.consumer.outputTail(4_000)}`);
}

async function untilConsumerCaughtUp(s: Setup, timeoutMs: number, intervalMs = 100): Promise<void> {
  await waitFor(async () => {
    assertConsumerAlive(s);
    return groupLag(s.admin, s.groupId, s.topics.usageEvents);
  }, (lag) => lag === 0, { timeoutMs, intervalMs, what: 'the rollup consumer group lag to reach 0' });
}

async function spawnConsumer(s: Setup): Promise<ManagedProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    METERLINE_LOG_FORMAT: 'json', METERLINE_HEALTH_PORT: '0',
    LOG_LEVEL: 'warn',
    KAFKA_BROKERS: s.broker.brokers.join(','),
    REDIS_URL: s.redisServer.url,
    METERLINE_TOPIC_USAGE_EVENTS: s.topics.usageEvents,
    METERLINE_USAGE_EVENTS_PARTITIONS: String(PARTITIONS),
    METERLINE_TOPIC_USAGE_ROLLUPS: s.topics.usageRollups,
    METERLINE_TOPIC_QUOTA_ALERTS: s.topics.quotaAlerts,
    METERLINE_TOPIC_QUOTA_DEFINITIONS: s.topics.quotaDefinitions,
    METERLINE_TOPIC_PRICING_ALERTS: s.topics.pricingAlerts,
    METERLINE_ROLLUP_GROUP: s.groupId,
    METERLINE_PRICING_DIR: consumerPricingDir,
    METERLINE_ALLOWED_LATENESS: '2h',
    // Its own embedded ClickHouse (read only for a state rebuild): libchdb binds one per process.
    METERLINE_CHDB_PATH: mkdtempSync(join(tmpdir(), 'bench-rollup-chdb-')),
  };
  delete env.NODE_OPTIONS;
  delete env.CLICKHOUSE_URL;
  const child = await spawnManaged(process.execPath, [...(process.env.CONSUMER_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.CONSUMER_PROF] : []), '--import', 'tsx', join(repoRoot(), 'apps/rollup-consumer/src/main.ts')], { name: 'rollup-consumer', cwd: repoRoot(), env, outputFile: s.consumerLog });
  children.push(child);
  return child;
}

/** EVAL/EVALSHA calls and their total time in Redis so far (INFO commandstats). */
async function scriptStats(redis: Redis): Promise<{ calls: number; usec: number }> {
  const info = await redis.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(match[1]);
    usec += Number(match[2]);
  }
  return { calls, usec };
}

/** Redis counters equal the reference: every key the reference has, compared as integers. */
async function countersExact(s: Setup): Promise<{ exact: boolean; keys: number; mismatched: { key: string; expected: string; actual: string | null }[] }> {
  const keys = [...s.reference.counters.keys()];
  const pipeline = s.redis.pipeline();
  for (const key of keys) pipeline.hget(key, 'used');
  const replies = (await pipeline.exec()) ?? [];
  const mismatched = keys.flatMap((key, i) => {
    const actual = (replies[i]?.[1] as string | null | undefined) ?? null;
    const expected = String(s.reference.counters.get(key));
    return actual === expected ? [] : [{ key, expected, actual }];
  });
  return { exact: mismatched.length === 0 && keys.length > 0, keys: keys.length, mismatched: mismatched.slice(0, 5) };
}

// ---------------------------------------------------------------------------------------------
// checkQuota in a process of its own (bench/stream/check-quota-load.ts)

interface CheckLoad {
  mode: string;
  out: string;
  child: ManagedProcess;
}

async function prepareCheckLoad(redisUrl: string, mode: 'checker' | 'naive' | 'ping', dir: string): Promise<CheckLoad> {
  const out = join(dir, `check-${mode}-${Date.now()}.json`);
  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: redisUrl, CHECK_MODE: mode, CHECK_RATE: String(CHECK_RATE), CHECK_SECONDS: String(CHECK_SECONDS), CHECK_TENANTS: TENANTS.join(','), CHECK_OUT: out };
  delete env.NODE_OPTIONS;
  const child = await spawnManaged(process.execPath, ['--import', 'tsx', join(repoRoot(), 'bench/stream/check-quota-load.ts')], { name: `check-${mode}`, cwd: repoRoot(), env, outputFile: `${out}.log` });
  children.push(child);
  await waitFor(() => {
    if (!child.isRunning()) throw new Error(`checkQuota load (${mode}) exited early:\n${child.outputTail(2_000)}`);
    return existsSync(`${out}.ready`);
  }, (ready) => ready, { timeoutMs: 60_000, intervalMs: 50, what: `checkQuota load (${mode}) to start` });
  return { mode, out, child };
}

interface CheckResult {
  mode: string;
  calls: number;
  errors: number;
  achieved_per_s: number;
  quotas_per_tenant: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  client_cpu_us_per_call: number;
  client_event_loop_utilization: number;
  client_event_loop_delay_p99_ms: number;
}

async function runCheckLoad(load: CheckLoad): Promise<CheckResult> {
  writeFileSync(`${load.out}.go`, '');
  const exit = await Promise.race([load.child.exited, sleep((CHECK_SECONDS + 60) * 1_000).then(() => undefined)]);
  if (exit === undefined) {
    await load.child.kill();
    throw new Error(`checkQuota load (${load.mode}) did not finish`);
  }
  if (!existsSync(load.out)) throw new Error(`checkQuota load (${load.mode}) wrote no result (${JSON.stringify(exit)}):\n${load.child.outputTail(2_000)}`);
  return JSON.parse(readFileSync(load.out, 'utf8')) as CheckResult;
}

const checkLine = (r: CheckResult): string =>
  `p50 ${ms(r.p50_ms)} ms, p99 ${ms(r.p99_ms)} ms, p99.9 ${ms(r.p999_ms)} ms (${fmt(r.calls)} calls, ${fmt(r.achieved_per_s)}/s, ${r.errors} errors; client ${r.client_cpu_us_per_call.toFixed(0)} us CPU/call, loop busy ${(r.client_event_loop_utilization * 100).toFixed(0)}%, loop delay p99 ${ms(r.client_event_loop_delay_p99_ms)} ms)`;

// ---------------------------------------------------------------------------------------------
// Phases

function probeEvent(tenant: string, i: number): UsageEvent {
  return {
    ...usageEventV2Defaults(),
    event_id: `${tenant}-${i}-${randomUUID()}`, occurred_at: Date.now(), tenant_id: tenant, project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
    provider: 'openai', model: 'gpt-4o-mini', operation: 'chat', input_tokens: 100, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 20, reasoning_tokens: 0,
    latency_ms: 300, ttft_ms: 80, status_code: 200, error_type: null, metadata: {},
  };
}

/** Events generated before a phase's clock starts, already in the reference (see `offer`). */
interface Pregenerated {
  next: () => UsageEvent | undefined;
  left: () => number;
}

/**
 * `count` distinct events, generated and added to the reference now, so that offering them costs
 * the bench process only record() (the generator and the reference are the bench's, not the
 * system's: 2–3 us of CPU per event on this machine, beside the system under test).
 */
function pregenerate(s: Setup, next: () => UsageEvent, count: number): Pregenerated {
  const events = Array.from({ length: count }, next);
  for (const event of events) s.reference.add(event);
  let at = 0;
  return { next: () => (at < events.length ? events[at++] : undefined), left: () => events.length - at };
}

/**
 * Offers `rate` events/s for `seconds` through the producer shim, in 10 ms slices (the shim never
 * blocks; this is the offered load). Every 100th slot re-sends a recent event (a duplicate the
 * consumer must not count). `onSlice` runs after each slice (probes). Events come from a
 * generator (added to the reference as they are offered) or pregenerated (offered until none is
 * left, so the reference holds exactly what was sent).
 */
async function offer(s: Setup, source: (() => UsageEvent) | Pregenerated, rate: number, seconds: number, options: { keepGoing?: () => boolean; onSlice?: (elapsedMs: number) => void } = {}): Promise<{ recorded: number; duplicates: number; offeredSeconds: number; peakBuffered: number; spooled: number }> {
  const pregenerated = typeof source === 'function' ? undefined : source;
  const next = typeof source === 'function' ? source : source.next;
  const keepGoing = pregenerated ? () => pregenerated.left() > 0 : options.keepGoing;
  const recent: UsageEvent[] = [];
  const spooledBefore = s.meter.stats().spooled;
  let peakBuffered = 0;
  let recorded = 0;
  let duplicates = 0;
  const started = performance.now();
  const deadline = started + seconds * 1_000;
  const hardStop = started + (seconds + 60) * 1_000;
  while (performance.now() < deadline || (keepGoing?.() === true && performance.now() < hardStop)) {
    const elapsed = performance.now() - started;
    const due = Math.floor((elapsed / 1_000) * rate);
    while (recorded < due) {
      if (recorded % 100 === 99 && recent.length > 0) {
        s.meter.record(recent[(recorded * 7) % recent.length]!);
        duplicates++;
      } else {
        const event = next();
        if (event === undefined) break;
        s.meter.record(event);
        if (!pregenerated) s.reference.add(event);
        if (recent.length < 1_000) recent.push(event);
        else recent[recorded % 1_000] = event;
      }
      recorded++;
    }
    options.onSlice?.(elapsed);
    peakBuffered = Math.max(peakBuffered, s.meter.stats().buffered);
    await sleep(10);
  }
  return { recorded, duplicates, offeredSeconds: (performance.now() - started) / 1_000, peakBuffered, spooled: s.meter.stats().spooled - spooledBefore };
}

/** 1. Sustained end-to-end rate: shim -> Kafka -> rollup consumer (own process) -> Redis, exact. */
async function benchThroughput(s: Setup, rate: number, seconds: number): Promise<number> {
  const slots = rate * seconds;
  const next = pregenerate(s, usageGenerator({ seed: 11, tenants: TENANTS, idPrefix: `tp-${randomUUID().slice(0, 8)}` }), slots - Math.floor(slots / 100));
  const pids = { consumer: s.consumer!.pid, redis: s.redisServer.pid, kafka: s.broker.pid };
  const cpuBefore = { consumer: cpuSeconds(pids.consumer), redis: cpuSeconds(pids.redis), kafka: cpuSeconds(pids.kafka), bench: process.cpuUsage() };
  const scriptsBefore = await scriptStats(s.redis);
  const lagSamples: { t: number; lag: number; buffered: number }[] = [];
  let sampling = true;
  const started = performance.now();
  const sampler = (async () => {
    while (sampling) {
      try {
        lagSamples.push({ t: Math.round((performance.now() - started) / 100) / 10, lag: await groupLag(s.admin, s.groupId, s.topics.usageEvents), buffered: s.meter.stats().buffered });
      } catch {
        // a missed sample is only a missing diagnostic
      }
      await sleep(2_000);
    }
  })();
  const offered = await offer(s, next, rate, seconds);
  sampling = false;
  await sampler;
  await s.meter.flush();
  // From here on nothing is produced: how fast the consumer drains what is left is its capacity.
  const flushedAt = performance.now();
  const lagAtOfferEnd = await groupLag(s.admin, s.groupId, s.topics.usageEvents);
  await untilConsumerCaughtUp(s, 300_000);
  const caughtUpAt = performance.now();
  const e2eSeconds = (caughtUpAt - started) / 1_000;
  const drainPerS = lagAtOfferEnd / ((caughtUpAt - flushedAt) / 1_000);
  const cpu = {
    consumer: cpuSeconds(pids.consumer) - cpuBefore.consumer,
    redis: cpuSeconds(pids.redis) - cpuBefore.redis,
    kafka: cpuSeconds(pids.kafka) - cpuBefore.kafka,
    bench_producer: (() => {
      const u = process.cpuUsage(cpuBefore.bench);
      return (u.user + u.system) / 1e6;
    })(),
  };
  const scriptsAfter = await scriptStats(s.redis);
  const scripts = { calls: scriptsAfter.calls - scriptsBefore.calls, usec: scriptsAfter.usec - scriptsBefore.usec };
  const exact = await countersExact(s);
  const sustained = offered.recorded / e2eSeconds;
  // The last event in Redis this long after the last was recorded: "sustained" (events over
  // time until all are in Redis) cannot reach the offered rate, so whether the pipeline kept up
  // shows here and in the lag samples.
  const afterOfferSeconds = e2eSeconds - offered.offeredSeconds;
  results[`throughput_${rate}`] = {
    offered_rate: rate, offered_seconds: offered.offeredSeconds, events_recorded: offered.recorded, duplicates_sent: offered.duplicates, distinct: offered.recorded - offered.duplicates,
    achieved_offer_per_s: offered.recorded / offered.offeredSeconds, end_to_end_seconds: e2eSeconds, seconds_after_offer: afterOfferSeconds, kept_up: afterOfferSeconds < 2, sustained_events_per_s: sustained, lag_after_flush: lagAtOfferEnd,
    drain_seconds: (caughtUpAt - flushedAt) / 1_000, drain_events_per_s: drainPerS, meter_peak_buffered: offered.peakBuffered, meter_spooled: offered.spooled, lag_samples: lagSamples,
    lua_script: { calls: scripts.calls, usec: scripts.usec, usec_per_call: scripts.usec / Math.max(1, scripts.calls), events_per_call: offered.recorded / Math.max(1, scripts.calls), usec_per_event: scripts.usec / offered.recorded },
    cpu_seconds: cpu, cpu_us_per_event: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, (v * 1e6) / offered.recorded])),
    exact_counters: exact.exact, counter_keys: exact.keys, mismatched: exact.mismatched, tenants: TENANTS.length, quotas_per_tenant: 2, partitions: PARTITIONS,
  };
  console.log(`1. end-to-end with rollups + quotas at ${fmt(rate)}/s offered for ${seconds} s (${TENANTS.length} tenants x 2 quotas, ${PARTITIONS} partitions, 1% duplicates): ${fmt(offered.recorded)} events in Redis after ${e2eSeconds.toFixed(1)} s, ${afterOfferSeconds.toFixed(1)} s after the last was recorded => ${fmt(sustained)} events/s sustained (at most the offered rate; target >= 50,000); kept up with the offer: ${afterOfferSeconds < 2 ? 'yes' : 'no'} (the last event within 2 s of the offer's end); exact day/month counters: ${exact.exact} (${exact.keys} keys)`);
  console.log(`   not yet in Redis every 2 s (shim buffer + consumer group lag): ${lagSamples.map((x) => fmt(x.lag + x.buffered)).join(', ')}`);
  console.log(`   offer achieved ${fmt(offered.recorded / offered.offeredSeconds)}/s (shim buffer peak ${fmt(offered.peakBuffered)}, spooled ${fmt(offered.spooled)}); backlog ${fmt(lagAtOfferEnd)} once the shim had flushed, drained in ${((caughtUpAt - flushedAt) / 1_000).toFixed(1)} s => consumer alone ${fmt(drainPerS)} events/s`);
  console.log(`   cpu during it: consumer ${cpu.consumer.toFixed(1)} s, redis ${cpu.redis.toFixed(1)} s, kafka ${cpu.kafka.toFixed(1)} s, bench producer ${cpu.bench_producer.toFixed(1)} s (2 cores, ${(e2eSeconds * 2).toFixed(0)} core-s available) = ${((cpu.consumer + cpu.redis + cpu.kafka + cpu.bench_producer) * 1e6 / offered.recorded).toFixed(0)} us CPU per event; Lua apply script: ${fmt(scripts.calls)} calls, ${(scripts.usec / Math.max(1, scripts.calls) / 1000).toFixed(2)} ms each, ${(scripts.usec / offered.recorded).toFixed(1)} us of Redis time per event`);
  return sustained;
}

/** 1 (baseline). One Redis round trip (INCRBY day + month) per event, no Lua, no dedup, no rollups. */
async function benchNaiveConsumer(s: Setup, seconds: number, realRate: number): Promise<void> {
  const redis = redisClient(s.redisServer.url, { db: 1 });
  const codec = usageEventCodec();
  const consumer = s.kafka.consumer({ groupId: uniqueName('naive-rollups'), maxWaitTimeInMs: 100, maxBytesPerPartition: 2 * 1024 * 1024 });
  let count = 0;
  let first: number | undefined;
  let stopping = false;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [s.topics.usageEvents], fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 4,
      eachMessage: async ({ message }) => {
        if (stopping || message.value === null) return;
        const e = codec.decode(message.value);
        const tokens = totalTokens(e);
        const day = Math.floor(e.occurred_at / DAY) * DAY;
        const d = new Date(day);
        const month = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
        await redis.pipeline().incrby(`naive:${e.tenant_id}:day:${day}`, tokens).incrby(`naive:${e.tenant_id}:month:${month}`, tokens).exec();
        first ??= performance.now();
        count++;
      },
    });
    await waitFor(() => first, (f) => f !== undefined, { timeoutMs: 60_000, intervalMs: 20, what: 'the naive consumer to start' });
    await sleep(seconds * 1_000);
    stopping = true;
    const elapsed = (performance.now() - first!) / 1_000;
    const rate = count / elapsed;
    results.naive_consumer = { events: count, seconds: elapsed, events_per_s: rate, what: 'kafkajs eachMessage, 4 partitions concurrently, one pipelined INCRBY day + INCRBY month round trip per event, no Lua, no dedup, no rollups, no outbox' };
    console.log(`   naive consumer (one INCRBY round trip per event, no Lua/dedup/rollups), draining the same topic: ${fmt(rate)} events/s (vs ${fmt(realRate)} sustained above)`);
  } finally {
    stopping = true;
    await consumer.disconnect();
    redis.disconnect();
  }
}

/** p50 of latencies per 5 s of send time: shows whether a delay is steady or a growing backlog. */
function latencyTrend(samples: { at: number; latency: number }[]): number[] {
  const buckets = new Map<number, number[]>();
  for (const { at, latency } of samples) {
    const bucket = Math.floor(at / 5_000);
    let list = buckets.get(bucket);
    if (!list) buckets.set(bucket, (list = []));
    list.push(latency);
  }
  return [...buckets.keys()].sort((a, b) => a - b).map((bucket) => Math.round(sortedPercentiles(buckets.get(bucket)!).p50));
}

/**
 * 2, 3. Steady offered load with the rollup sink running; probe events timed from record() until
 * they show in a Redis quota counter and in usage_hourly.
 */
/** Waits until neither the rollup consumer nor the rollup sink has a backlog: each phase starts clean. */
async function settle(s: Setup, sinkGroup: string): Promise<void> {
  await untilConsumerCaughtUp(s, 300_000);
  await waitFor(() => groupLag(s.admin, sinkGroup, s.topics.usageRollups), (lag) => lag === 0, { timeoutMs: 300_000, intervalMs: 200, what: 'the rollup sink to catch up' });
}

async function benchLatency(s: Setup, handle: ClickHouseHandle, sinkGroup: string, label: string, rate: number, seconds: number): Promise<{ redisP99: number; chP99: number }> {
  await settle(s, sinkGroup);
  const next = usageGenerator({ seed: 12 + rate, tenants: TENANTS, idPrefix: `lat-${randomUUID().slice(0, 8)}` });
  const probeRedis = redisClient(s.redisServer.url);
  const db = quoteIdentifier(handle.database);
  const started = performance.now();

  // Redis probes: a tenant whose only quota counts requests; its counter polled every 5 ms.
  const redisPending: { sentAt: number; key: string; n: number }[] = [];
  const redisSentByKey = new Map<string, number>();
  const redisLatencies: { at: number; latency: number }[] = [];
  let redisProbes = 0;
  // ClickHouse probes: a tenant whose usage_hourly requests are polled every CH_POLL_MS.
  const chPending: { sentAt: number; n: number }[] = [];
  const chLatencies: { at: number; latency: number }[] = [];
  let chProbes = 0;
  let chSeen = 0;
  let chQueries = 0;
  let chQueryMs = 0;
  let polling = true;
  let pollErrors = 0;

  const redisPoller = (async () => {
    while (polling || redisPending.length > 0) {
      if (redisPending.length > 0) {
        try {
          const keys = [...new Set(redisPending.map((p) => p.key))];
          const used = await Promise.all(keys.map((key) => probeRedis.hget(key, 'used')));
          const now = performance.now();
          const byKey = new Map(keys.map((key, i) => [key, Number(used[i] ?? '0')]));
          while (redisPending.length > 0 && redisPending[0]!.n <= (byKey.get(redisPending[0]!.key) ?? 0)) {
            const probe = redisPending.shift()!;
            redisLatencies.push({ at: probe.sentAt - started, latency: now - probe.sentAt });
          }
        } catch {
          pollErrors++;
        }
      }
      await sleep(5);
    }
  })();
  const chPoller = (async () => {
    while (polling || chPending.length > 0) {
      if (chPending.length > 0) {
        try {
          const t0 = performance.now();
          const result = await handle.client.query({ query: `SELECT toString(sum(requests)) AS n FROM ${db}.usage_hourly WHERE tenant_id = {tenant:String}`, query_params: { tenant: PROBE_CH }, format: 'JSONEachRow' });
          const [row] = await result.json<{ n: string }>();
          const now = performance.now();
          chQueries++;
          chQueryMs += now - t0;
          const seen = Number(row?.n ?? '0');
          while (chPending.length > 0 && chPending[0]!.n <= seen) {
            const probe = chPending.shift()!;
            chLatencies.push({ at: probe.sentAt - started, latency: now - probe.sentAt });
          }
        } catch {
          pollErrors++;
        }
      }
      await sleep(CH_POLL_MS);
    }
  })();
  // Probe counts in ClickHouse accumulate over runs of this function: start from what is there.
  const [base] = await (await handle.client.query({ query: `SELECT toString(sum(requests)) AS n FROM ${db}.usage_hourly WHERE tenant_id = {tenant:String}`, query_params: { tenant: PROBE_CH }, format: 'JSONEachRow' })).json<{ n: string }>();
  chSeen = Number(base?.n ?? '0');

  const sendRedisProbe = (): void => {
    const event = probeEvent(PROBE_REDIS, redisProbes++);
    const month = new Date(event.occurred_at);
    const key = redisKeys.quotaCounter(PROBE_REDIS, PROBE_QUOTA, Date.UTC(month.getUTCFullYear(), month.getUTCMonth(), 1));
    const n = (redisSentByKey.get(key) ?? 0) + 1;
    redisSentByKey.set(key, n);
    const sentAt = performance.now();
    s.meter.record(event);
    redisPending.push({ sentAt, key, n });
    s.reference.add(event);
  };
  // Counters of the probe quota may already hold earlier runs' probes.
  const monthKey = (() => {
    const now = new Date();
    return redisKeys.quotaCounter(PROBE_REDIS, PROBE_QUOTA, Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  })();
  redisSentByKey.set(monthKey, Number((await s.redis.hget(monthKey, 'used')) ?? '0'));
  const sendChProbe = (): void => {
    const event = probeEvent(PROBE_CH, chProbes++);
    const sentAt = performance.now();
    s.meter.record(event);
    chPending.push({ sentAt, n: chSeen + chProbes });
    s.reference.add(event);
  };

  const lagSamples: { t: number; lag: number }[] = [];
  const redisEveryMs = 20;
  const chEveryMs = 50;
  let lastLagAt = -Infinity;
  const offered = await offer(s, next, rate, seconds, {
    onSlice: (elapsed) => {
      while (redisProbes < Math.floor(elapsed / redisEveryMs)) sendRedisProbe();
      while (chProbes < Math.floor(elapsed / chEveryMs)) sendChProbe();
      if (elapsed - lastLagAt >= 2_000) {
        lastLagAt = elapsed;
        void groupLag(s.admin, s.groupId, s.topics.usageEvents).then((lag) => lagSamples.push({ t: Math.round(elapsed / 100) / 10, lag }), () => undefined);
      }
    },
  });
  await s.meter.flush();
  polling = false;
  const drained = await Promise.race([Promise.all([redisPoller, chPoller]).then(() => true), sleep(60_000).then(() => false)]);
  const unresolved = { redis: redisPending.length, clickhouse: chPending.length };
  if (!drained) {
    redisPending.length = 0;
    chPending.length = 0;
    await Promise.all([redisPoller, chPoller]);
  }
  probeRedis.disconnect();

  const r = sortedPercentiles(redisLatencies.map((x) => x.latency));
  const c = sortedPercentiles(chLatencies.map((x) => x.latency));
  const redisTrend = latencyTrend(redisLatencies);
  const chTrend = latencyTrend(chLatencies);
  results[`latency_${label}`] = {
    offered_rate: rate, offered_seconds: offered.offeredSeconds, events_recorded: offered.recorded, achieved_offer_per_s: offered.recorded / offered.offeredSeconds, meter_peak_buffered: offered.peakBuffered, meter_spooled: offered.spooled,
    consumer_lag_samples: lagSamples, poll_errors: pollErrors,
    redis_counter: { probes: redisProbes, every_ms: redisEveryMs, poll_ms: 5, unresolved: unresolved.redis, p50_ms: r.p50, p90_ms: r.p90, p99_ms: r.p99, max_ms: r.max, p50_per_5s_ms: redisTrend },
    clickhouse_usage_hourly: { probes: chProbes, every_ms: chEveryMs, poll_ms: CH_POLL_MS, unresolved: unresolved.clickhouse, queries: chQueries, mean_query_ms: chQueryMs / Math.max(1, chQueries), p50_ms: c.p50, p90_ms: c.p90, p99_ms: c.p99, max_ms: c.max, p50_per_5s_ms: chTrend },
  };
  const maxLag = Math.max(0, ...lagSamples.map((x) => x.lag));
  console.log(`   latency at ${fmt(rate)}/s: ${fmt(offered.recorded)} events in ${offered.offeredSeconds.toFixed(1)} s (${fmt(offered.recorded / offered.offeredSeconds)}/s achieved; shim buffer peak ${fmt(offered.peakBuffered)}, spooled ${fmt(offered.spooled)}); consumer lag every 2 s: ${lagSamples.map((x) => fmt(x.lag)).join(', ')} (max ${fmt(maxLag)})`);
  console.log(`2. event -> Redis quota counter at ${fmt(rate)}/s offered (${fmt(r.n)} probes, counter polled every 5 ms): p50 ${ms(r.p50)} ms, p90 ${ms(r.p90)} ms, p99 ${ms(r.p99)} ms, max ${ms(r.max)} ms (target p99 < 500 ms); p50 per 5 s: ${redisTrend.join(', ')} ms${unresolved.redis > 0 ? `; ${unresolved.redis} never seen` : ''}`);
  console.log(`3. event -> ClickHouse usage_hourly at ${fmt(rate)}/s offered (rollup sink in-process, embedded chdb; ${fmt(c.n)} probes, polled every ${CH_POLL_MS} ms, query ~${ms(chQueryMs / Math.max(1, chQueries))} ms): p50 ${ms(c.p50)} ms, p90 ${ms(c.p90)} ms, p99 ${ms(c.p99)} ms, max ${ms(c.max)} ms (target p99 < 3,000 ms); p50 per 5 s: ${chTrend.join(', ')} ms${unresolved.clickhouse > 0 ? `; ${unresolved.clickhouse} never seen` : ''}`);
  await untilConsumerCaughtUp(s, 300_000);
  return { redisP99: r.p99, chP99: c.p99 };
}

/** 4b. checkQuota (then the naive version) at 5,000/s while `rate` events/s are offered and applied. */
async function benchCheckUnderLoad(s: Setup, sinkGroup: string, checkDir: string, rate: number, withNaive: boolean): Promise<void> {
  await settle(s, sinkGroup);
  const next = usageGenerator({ seed: 13 + rate, tenants: TENANTS, idPrefix: `chk-${randomUUID().slice(0, 8)}` });
  const loads = { checker: await prepareCheckLoad(s.redisServer.url, 'checker', checkDir), naive: withNaive ? await prepareCheckLoad(s.redisServer.url, 'naive', checkDir) : undefined };
  let done = false;
  const checks = (async () => {
    try {
      await sleep(3_000); // load steady first
      const checker = await runCheckLoad(loads.checker);
      const naive = loads.naive === undefined ? undefined : await runCheckLoad(loads.naive);
      return { checker, naive };
    } finally {
      done = true;
    }
  })();
  checks.catch(() => undefined); // awaited below; this only keeps a failure from counting as unhandled meanwhile
  const lagSamples: number[] = [];
  let lastLagAt = -Infinity;
  const offered = await offer(s, next, rate, 1, {
    keepGoing: () => !done,
    onSlice: (elapsed) => {
      if (elapsed - lastLagAt >= 2_000) {
        lastLagAt = elapsed;
        void groupLag(s.admin, s.groupId, s.topics.usageEvents).then((lag) => lagSamples.push(lag), () => undefined);
      }
    },
  });
  const { checker, naive } = await checks;
  await s.meter.flush();
  await untilConsumerCaughtUp(s, 300_000);
  results[`check_quota_under_load_${rate}`] = { checker, naive, offered_rate: rate, achieved_offer_per_s: offered.recorded / offered.offeredSeconds, consumer_lag_samples: lagSamples, load: 'events offered and applied by the rollup consumer, rollup sink writing' };
  console.log(`4b. checkQuota at ${fmt(CHECK_RATE)}/s while ${fmt(rate)} events/s are offered and applied (consumer lag max ${fmt(Math.max(0, ...lagSamples))}): ${checkLine(checker)} (target p99 < 2 ms)${naive === undefined ? '' : ` | naive (HGETALL + HGET per quota, sequential): ${checkLine(naive)}`}`);
}

/** Everything applied and in ClickHouse: counters and per-tenant rollup totals equal the reference. */
async function finalExactness(s: Setup, handle: ClickHouseHandle, sinkGroup: string): Promise<void> {
  await settle(s, sinkGroup);
  const db = quoteIdentifier(handle.database);
  const exact = await countersExact(s);
  const rows = await (await handle.client.query({
    query: `SELECT tenant_id, toString(sum(requests)) AS requests, toString(sum(input_tokens)) AS input, toString(sum(cache_read_tokens)) AS cache_read, toString(sum(cache_write_tokens)) AS cache_write,
                   toString(sum(output_tokens)) AS output, toString(sum(reasoning_tokens)) AS reasoning
            FROM ${db}.usage_hourly GROUP BY tenant_id ORDER BY tenant_id`,
    format: 'JSONEachRow',
  })).json<{ tenant_id: string; requests: string; input: string; cache_read: string; cache_write: string; output: string; reasoning: string }>();
  const actualCh = JSON.stringify(rows.map((row) => [row.tenant_id, row.requests, row.input, row.cache_read, row.cache_write, row.output, row.reasoning]));
  const expectedCh = JSON.stringify([...s.reference.tenants.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([tenant, t]) => [tenant, String(t.requests), String(t.input), String(t.cacheRead), String(t.cacheWrite), String(t.output), String(t.reasoning)]));
  const chExact = actualCh === expectedCh;
  results.exact_after_all = { events_distinct: s.reference.events, redis_counters_exact: exact.exact, counter_keys: exact.keys, mismatched: exact.mismatched, clickhouse_tenant_totals_exact: chExact, ...(chExact ? {} : { clickhouse_actual: actualCh, clickhouse_expected: expectedCh }) };
  console.log(`   after every phase (${fmt(s.reference.events)} distinct events): Redis day/month counters exact: ${exact.exact} (${exact.keys} keys); ClickHouse usage_hourly per-tenant requests and token sums exact: ${chExact}`);
}

/** 5. Memory of the dedup sets per million distinct events, straight through the Lua script. */
async function benchDedupMemory(events: number): Promise<void> {
  const server = await startRedis();
  const redis = withScripts(redisClient(server.url));
  try {
    const usedMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? Number.NaN);
    await redis.set(redisKeys.epoch(), String(Date.now()));
    const quotas = new Map<string, QuotaDefinition[]>(TENANTS.map((tenant) => [tenant, [
      parseQuotaDefinition({ tenant_id: tenant, quota_id: 'daily-total', metric: 'total_tokens', period: 'day', limit: QUOTA_LIMIT.toString(), enforcement: 'soft', updated_at: Date.now() }),
      parseQuotaDefinition({ tenant_id: tenant, quota_id: 'monthly-total', metric: 'total_tokens', period: 'month', limit: QUOTA_LIMIT.toString(), enforcement: 'soft', updated_at: Date.now() }),
    ]]));
    const options = { allowedLatenessMs: 2 * HOUR, dedupWindowSeconds: 86_400, price: (event: UsageEvent) => priceEvent(priceBooks, event) };
    const apply = async (plans: readonly TenantBatchPlan[]): Promise<number> => {
      const pipeline = redis.pipeline() as unknown as { applyUsageBatch(args: (string | number | Buffer)[]): void; del(key: string): void; exec(): Promise<[Error | null, unknown][] | null> };
      for (const plan of plans) pipeline.applyUsageBatch([...plan.keys, ...plan.args]);
      // The consumer publishes and trims the outbox after each batch; here it is just dropped.
      for (const plan of plans) pipeline.del(plan.keys[1]);
      let applied = 0;
      for (const [i, [error, reply]] of ((await pipeline.exec()) ?? []).entries()) {
        if (error) throw error;
        if (i < plans.length) applied += (reply as number[])[0] ?? 0;
      }
      return applied;
    };
    // Load the script and create the fixed state (epoch, first counters) before the baseline.
    const warm = usageGenerator({ seed: 20, tenants: ['warmup'], idPrefix: 'warm' });
    await apply([planTenantBatch('warmup', 0, Array.from({ length: 10 }, (_, i) => ({ offset: String(i), event: warm() })), [], options)]);
    const before = await usedMemory();
    const scriptsBefore = await scriptStats(redis);

    // Distinct events over the last 24 hours (the dedup window), in time order, 12 tenants.
    const end = Date.now();
    const start = end - DAY + 60_000;
    let i = 0;
    const next = usageGenerator({ seed: 21, tenants: TENANTS, idPrefix: `dd-${randomUUID().slice(0, 8)}`, occurredAt: () => start + Math.floor((i / events) * (end - start - 120_000)) });
    const buffers = new Map<string, OffsetEvent[]>(TENANTS.map((tenant) => [tenant, []]));
    const offsets = new Map<string, number>(TENANTS.map((tenant) => [tenant, 0]));
    let plans: TenantBatchPlan[] = [];
    let applied = 0;
    const started = performance.now();
    const planChunk = (tenant: string): void => {
      const chunk = buffers.get(tenant)!;
      if (chunk.length === 0) return;
      plans.push(planTenantBatch(tenant, TENANTS.indexOf(tenant), chunk, quotas.get(tenant)!, options));
      buffers.set(tenant, []);
    };
    for (i = 0; i < events; i++) {
      const event = next();
      const offset = offsets.get(event.tenant_id)!;
      offsets.set(event.tenant_id, offset + 1);
      const chunk = buffers.get(event.tenant_id)!;
      chunk.push({ offset: String(offset), event });
      if (chunk.length >= 1_000) planChunk(event.tenant_id);
      if (plans.length >= TENANTS.length) {
        applied += await apply(plans);
        plans = [];
      }
    }
    for (const tenant of TENANTS) planChunk(tenant);
    applied += await apply(plans);
    const applySeconds = (performance.now() - started) / 1_000;
    const after = await usedMemory();
    const scriptsAfter = await scriptStats(redis);
    const scriptUsec = scriptsAfter.usec - scriptsBefore.usec;
    const scriptCalls = scriptsAfter.calls - scriptsBefore.calls;

    // MEMORY USAGE of every seen set (SAMPLES 0: all members counted), and their sizes.
    const seenKeys: string[] = [];
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', 'ml:*:seen:*', 'COUNT', 1_000);
      cursor = nextCursor;
      seenKeys.push(...keys.filter((key) => !key.includes('{warmup}')));
    } while (cursor !== '0');
    const sizing = redis.pipeline();
    for (const key of seenKeys) sizing.call('MEMORY', 'USAGE', key, 'SAMPLES', '0').scard(key);
    const sized = ((await sizing.exec()) ?? []).map(([error, value]) => {
      if (error) throw error;
      return Number(value);
    });
    let seenBytes = 0;
    let members = 0;
    for (let k = 0; k < sized.length; k += 2) {
      seenBytes += sized[k]!;
      members += sized[k + 1]!;
    }
    const perMillion = (bytes: number): number => (bytes / 2 ** 20) * (1_000_000 / events);
    const encoding = seenKeys.length > 0 ? String(await redis.call('OBJECT', 'ENCODING', seenKeys[0]!)) : '?';

    // Naive: one key per event id (36-character UUID, as the producer fills it), SET NX EX.
    await redis.select(1);
    const naiveBefore = await usedMemory();
    for (let k = 0; k < events; k += 10_000) {
      const pipeline = redis.pipeline();
      for (let j = 0; j < 10_000 && k + j < events; j++) pipeline.set(`seen:${randomUUID()}`, '1', 'EX', 86_400, 'NX');
      await pipeline.exec();
    }
    const naiveAfter = await usedMemory();
    await redis.select(0);

    results.dedup_memory = {
      events, applied, apply_seconds: applySeconds, apply_events_per_s: events / applySeconds, lua_script: { calls: scriptCalls, usec_per_call: scriptUsec / Math.max(1, scriptCalls), usec_per_event: scriptUsec / events }, seen_keys: seenKeys.length, seen_members: members, set_encoding: encoding,
      used_memory_delta_bytes: after - before, used_memory_delta_mib_per_million: perMillion(after - before),
      memory_usage_seen_sets_bytes: seenBytes, memory_usage_seen_mib_per_million: perMillion(seenBytes), bytes_per_event: seenBytes / members,
      naive_key_per_event: { used_memory_delta_bytes: naiveAfter - naiveBefore, mib_per_million: perMillion(naiveAfter - naiveBefore), bytes_per_event: (naiveAfter - naiveBefore) / events },
    };
    console.log(`5. dedup state: ${fmt(events)} distinct events over 24 h (${fmt(applied)} applied, ${fmt(members)} ids in ${seenKeys.length} ml:{tenant}:seen:<hour> sets, ${encoding}) -> ${perMillion(seenBytes).toFixed(1)} MiB per million by MEMORY USAGE (${(seenBytes / members).toFixed(1)} B/event), used_memory delta ${perMillion(after - before).toFixed(1)} MiB per million | naive one key per event id (SET NX EX, 36-char UUID): ${perMillion(naiveAfter - naiveBefore).toFixed(1)} MiB per million`);
    console.log(`   (direct apply through apply-usage-batch-2.lua, one client, plan + script in sequence: ${fmt(events / applySeconds)} events/s; script ${(scriptUsec / Math.max(1, scriptCalls) / 1_000).toFixed(2)} ms per ${fmt(events / Math.max(1, scriptCalls))}-event call = ${(scriptUsec / events).toFixed(1)} us of Redis time per event)`);
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------

const only = new Set(process.argv.slice(2).filter((arg) => arg !== 'unpriced'));
results.price_books = unpricedRun ? 'empty (every event unpriced)' : 'shipped (pricing/)';
console.log(`rollup consumer price books: ${results.price_books as string}`);
const want = (name: string): boolean => only.size === 0 || only.has(name);
const workDir = mkdtempSync(join(tmpdir(), 'bench-stream-'));
const runStarted = performance.now();

/**
 * 4a0. checkQuota where an API service would run it: a machine with only Redis and the
 * checking process (no broker, consumer or producer on the two cores), definitions and
 * counters as the fleet leaves them.
 */
async function benchCheckAlone(dir: string): Promise<void> {
  const server = await startRedis();
  const redis = redisClient(server.url);
  try {
    const now = Date.now();
    for (const tenant of TENANTS) {
      for (const [quotaId, period] of [['daily-total', 'day'], ['monthly-total', 'month']] as const) {
        const definition = parseQuotaDefinition({ tenant_id: tenant, quota_id: quotaId, metric: 'total_tokens', period, limit: QUOTA_LIMIT.toString(), enforcement: 'soft', updated_at: now });
        await mirrorQuota(redis, definition);
        await redis.hset(redisKeys.quotaCounter(tenant, quotaId, quotaPeriod(definition, now).start), 'used', '123456789');
      }
    }
    const checker = await runCheckLoad(await prepareCheckLoad(server.url, 'checker', dir));
    const ping = await runCheckLoad(await prepareCheckLoad(server.url, 'ping', dir));
    results.check_quota_alone = { checker, ping_floor: ping, load: 'only redis-server and the checking process running' };
    console.log(`4a0. checkQuota at ${fmt(CHECK_RATE)}/s, only Redis and the checker on the machine (${checker.quotas_per_tenant} quotas per tenant, ${TENANTS.length} tenants): ${checkLine(checker)} (target p99 < 2 ms)`);
    console.log(`    floor: PING alone, same client, rate and schedule: ${checkLine(ping)}`);
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

if (want('check')) await benchCheckAlone(workDir);

if (want('e2e') || want('latency') || want('check')) {
  const broker = await startKafka({ heapMb: 1_024 });
  let setup: Setup | undefined;
  let sink: ClickHouseSink<UsageRollupRow> | undefined;
  let handle: ClickHouseHandle | undefined;
  let quotaStore: QuotaStore | undefined;
  try {
    const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench-stream' }, log);
    const admin = kafka.admin();
    await admin.connect();
    const base = uniqueName('usage-events');
    const topics = { usageEvents: base, usageEventsPartitions: PARTITIONS, usageRollups: `${base}-rollups`, quotaAlerts: `${base}-alerts`, quotaDefinitions: `${base}-quotas`, pricingAlerts: `${base}-pricing-alerts` };
    await ensureTopics(kafka, [{ topic: topics.usageEvents, numPartitions: PARTITIONS }, { topic: `${topics.usageEvents}.dlq`, numPartitions: 1 }, ...streamTopics(topics)], log);
    const redisServer = await startRedis();
    const meter = createMeter({ kafka, topic: topics.usageEvents, spoolDir: mkdtempSync(join(tmpdir(), 'bench-stream-spool-')), log, batchSize: 5_000, lingerMs: 10, maxBufferedEvents: 5_000_000 });
    setup = { broker, kafka, admin, topics, groupId: uniqueName('rollups'), redisServer, redis: redisClient(redisServer.url), meter, reference: new Reference(new Set(TENANTS)), consumerLog: join(workDir, 'rollup-consumer.log') };
    const s = setup;

    quotaStore = new QuotaStore(kafka, topics.quotaDefinitions, log);
    for (const tenant of TENANTS) {
      await quotaStore.set({ tenant_id: tenant, quota_id: 'daily-total', metric: 'total_tokens', period: 'day', limit: QUOTA_LIMIT.toString(), enforcement: 'soft' });
      await quotaStore.set({ tenant_id: tenant, quota_id: 'monthly-total', metric: 'total_tokens', period: 'month', limit: QUOTA_LIMIT.toString(), enforcement: 'soft' });
    }
    await quotaStore.set({ tenant_id: PROBE_REDIS, quota_id: PROBE_QUOTA, metric: 'requests', period: 'month', limit: QUOTA_LIMIT.toString(), enforcement: 'soft' });

    // 0. The consumer as its own process; warm-up until it has caught up.
    s.consumer = await spawnConsumer(s);
    const warm = usageGenerator({ seed: 10, tenants: TENANTS, idPrefix: `warm-${randomUUID().slice(0, 8)}` });
    for (let i = 0; i < WARMUP_EVENTS; i++) {
      const event = warm();
      meter.record(event);
      s.reference.add(event);
    }
    await meter.flush();
    await untilConsumerCaughtUp(s, 120_000, 200);
    const warmExact = await countersExact(s);
    if (!warmExact.exact) throw new Error(`counters wrong after the warm-up: ${JSON.stringify(warmExact.mismatched)}`);

    // 4a. checkQuota with nothing else running.
    if (want('check') || want('latency')) {
      const checker = await runCheckLoad(await prepareCheckLoad(s.redisServer.url, 'checker', workDir));
      const naive = await runCheckLoad(await prepareCheckLoad(s.redisServer.url, 'naive', workDir));
      const ping = await runCheckLoad(await prepareCheckLoad(s.redisServer.url, 'ping', workDir));
      results.check_quota_idle = { checker, naive, ping_floor: ping };
      console.log(`4a. checkQuota at ${fmt(CHECK_RATE)}/s, idle (${checker.quotas_per_tenant} quotas per tenant, ${TENANTS.length} tenants): ${checkLine(checker)} (target p99 < 2 ms) | naive (HGETALL + HGET per quota, sequential): ${checkLine(naive)}`);
      console.log(`    floor: PING alone, same client, rate and schedule: ${checkLine(ping)}`);
    }

    // 1. Throughput, then the naive consumer on the same topic.
    if (want('e2e')) {
      const sustained = await benchThroughput(s, 50_000, 20);
      // Above the target, so that keeping up with 50k/s shows as more than 50k/s sustained.
      await benchThroughput(s, 60_000, 20);
      await benchNaiveConsumer(s, 10, sustained);
    }

    // 2, 3, 4b. Latency with the rollup sink running (caught up first: no backlog in the figures).
    if (want('latency') || want('check')) {
      handle = { ...openClickHouse({ database: 'default', chdbPath: mkdtempSync(join(tmpdir(), 'bench-stream-chdb-')) }), database: uniqueIdentifier('stream') };
      await migrate(handle, log);
      const sinkGroup = uniqueName('rollup-sink');
      sink = new ClickHouseSink(kafka, usageRollupsStream(new UsageRollupsTable(handle)), { groupId: sinkGroup, topic: topics.usageRollups, dlqTopic: `${topics.usageRollups}.dlq`, flushRows: 5_000, flushMs: 200, sessionTimeoutMs: 10_000 }, log);
      await sink.start();
      if (want('latency')) {
        await benchLatency(s, handle, sinkGroup, 'steady', 20_000, 25);
        await benchLatency(s, handle, sinkGroup, 'light', 5_000, 15);
      }
      if (want('check')) {
        await benchCheckUnderLoad(s, sinkGroup, workDir, 20_000, true);
        await benchCheckUnderLoad(s, sinkGroup, workDir, 5_000, false);
      }
      await finalExactness(s, handle, sinkGroup);
    }
  } finally {
    for (const child of children) if (child.isRunning()) await child.stop(20_000);
    await setup?.meter.close().catch(() => undefined);
    await sink?.stop().catch(() => undefined);
    await handle?.close().catch(() => undefined);
    await quotaStore?.close().catch(() => undefined);
    setup?.redis.disconnect();
    await setup?.admin.disconnect().catch(() => undefined);
    await setup?.redisServer.stop();
    await broker.stop();
  }
}

if (want('dedup')) await benchDedupMemory(1_000_000);

results.total_seconds = (performance.now() - runStarted) / 1_000;
mkdirSync(join(repoRoot(), 'bench', 'results'), { recursive: true });
const file = join(repoRoot(), 'bench', 'results', `stream-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2));
rmSync(workDir, { recursive: true, force: true });
console.log(`results: ${file} (${(results.total_seconds as number).toFixed(0)} s)`);
