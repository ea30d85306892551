// npm run bench:invoices: invoicing 10,000 tenants for a month (issue 5; target < 60 s on this
// machine, 2 cores). Not a test: it prints figures; it does check that every tenant got exactly one
// stored invoice.
//
//   node --import tsx bench/invoices.ts [--tenants 10000] [--events-per-tenant 20] [--concurrency 32,64,128] [--period 2026-10]
//
// --concurrency defaults to the fleet's (METERLINE_INVOICE_CONCURRENCY, else the config default).
//
// Real infrastructure as the fleet runs it: one Kafka broker, one redis-server (BullMQ), the
// embedded ClickHouse in this process. The pipeline's output is seeded instead of streamed (the
// stream is benched by bench:stream): 20 events per tenant straight into usage_events (INSERT ...
// SELECT FROM numbers(): several priced models of pricing/catalog/rate-card.json, token sizes
// spread by a hash, event times over the month, source partition and offset per event), the hourly
// rollups aggregated from them (kind cumulative, as the rollup consumer writes them). On the Kafka
// side the usage-events topic (12 partitions) gets as many messages per partition as seeded
// offsets, and the raw sink, rollup consumer and rollup sink groups are committed at the end
// offsets: the period close finds the pipeline caught up at the cut, as after a real month.
//
// Each concurrency in --concurrency is one round with a fresh database (same seed), queue and
// invoice directory: InvoiceScheduler.runPeriod(period) -> close job (cut, catch-up proof, tenant
// list, 10,000 invoice jobs queued) -> every invoice job completed (reconciled, computed, stored,
// JSON/CSV/HTML written, InvoiceReady announced). Rounds run in one process, so later rounds run
// with a warm JIT (docs/benchmarks.md has one process per concurrency). Figures: total time, the
// split close / invoice jobs, invoices/s, CPU of this process (the embedded ClickHouse included),
// of the broker and of redis-server, the machine's busy share, peak RSS.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Admin, Kafka } from 'kafkajs';
import { InvoicesTable, migrate, openClickHouse, quoteIdentifier, type ClickHouseHandle } from '@meterline/clickhouse';
import { periodBounds } from '@meterline/domain';
import { CLOSE_PERIOD_JOB, INVOICE_JOB, invoiceSchedulerFromConfig, type CloseResult } from '@meterline/invoice-scheduler';
import { createKafka, ensureTopics, invoiceTopics } from '@meterline/kafka';
import { createLogger, fleetConfigSchema, type FleetConfig } from '@meterline/platform';
import { PriceBookStore } from '@meterline/pricing';
import { repoRoot, startKafka, startRedis, uniqueIdentifier, uniqueName, type KafkaBroker, type RedisServer } from '@meterline/testing';
import { cpuSeconds, machineCpu } from './support/proc-cpu';

const { values: args } = parseArgs({
  options: {
    tenants: { type: 'string', default: '10000' },
    'events-per-tenant': { type: 'string', default: '20' },
    // Default: the fleet's (METERLINE_INVOICE_CONCURRENCY, else the config default).
    concurrency: { type: 'string', default: String(fleetConfigSchema.parse({ METERLINE_INVOICE_CONCURRENCY: process.env.METERLINE_INVOICE_CONCURRENCY }).invoices.concurrency) },
    period: { type: 'string', default: '2026-10' },
  },
});
const TENANTS = Number(args.tenants);
const EVENTS = TENANTS * Number(args['events-per-tenant']);
const PARTITIONS = 12;
const PERIOD = args.period;
const CONCURRENCIES = args.concurrency.split(',').map(Number);
if (!Number.isSafeInteger(TENANTS) || TENANTS <= 0 || !Number.isSafeInteger(EVENTS) || EVENTS <= 0 || CONCURRENCIES.some((c) => !Number.isSafeInteger(c) || c <= 0)) {
  throw new Error('--tenants, --events-per-tenant and --concurrency take positive integers');
}
const TARGET_S = 60;

const log = createLogger({ level: process.env.BENCH_LOG_LEVEL === 'info' ? 'info' : 'error', format: 'json', name: 'bench-invoices' });
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number): string => `${(bytes / 1_048_576).toFixed(0)} MiB`;
const results: Record<string, unknown> = { tenants: TENANTS, events: EVENTS, period: PERIOD, rounds: [] as unknown[] };

/**
 * The models (all on the shipped rate card) and their token profiles: [provider, model, operation,
 * prompt, output, reasoning, cache reads, cache writes]. Sizes are spread 0.2x..1.8x by a hash.
 */
const MODELS: readonly [string, string, string, number, number, number, boolean, boolean][] = [
  ['openai', 'gpt-4o', 'chat', 1_800, 420, 0, true, false],
  ['openai', 'gpt-4o-mini', 'chat', 900, 250, 0, true, false],
  ['openai', 'o4-mini', 'responses', 1_200, 300, 1_500, true, false],
  ['anthropic', 'claude-sonnet-4', 'chat', 3_000, 600, 0, true, true],
  ['anthropic', 'claude-3-5-haiku', 'chat', 700, 180, 0, false, false],
  ['google', 'gemini-2.5-flash', 'chat', 1_500, 350, 400, false, false],
];

/** Events of the period for `TENANTS` tenants, `EVENTS` in all; event n is on partition n % 12 at offset n / 12. */
async function seedEvents(handle: ClickHouseHandle): Promise<void> {
  const db = quoteIdentifier(handle.database);
  const { startMs, endMs } = periodBounds(PERIOD);
  const list = (i: number): string => `[${MODELS.map((m) => (typeof m[i] === 'string' ? `'${m[i]}'` : String(m[i]))).join(', ')}]`;
  await handle.client.command({
    query: `INSERT INTO ${db}.usage_events (event_id_input, occurred_at, tenant_id, project_id, provider, model, operation, input_tokens, cache_read_tokens, cache_write_tokens,
                                             output_tokens, reasoning_tokens, latency_ms, status_code, source_partition, source_offset_input)
            SELECT event_id, occurred_at, tenant_id, project_id, provider, model, operation, prompt - cache_read - cache_write, cache_read, cache_write, output, reasoning,
                   latency_ms, 200, source_partition, source_offset
            FROM (
              SELECT concat('bench-', toString(number)) AS event_id,
                     fromUnixTimestamp64Milli(toInt64(${startMs} + cityHash64(number, 1) % ${endMs - startMs})) AS occurred_at,
                     concat('tenant-', leftPad(toString(number % ${TENANTS}), 5, '0')) AS tenant_id,
                     if(cityHash64(number, 2) % 10 < 7, ['search', 'support-bot', 'copilot'][1 + cityHash64(number, 3) % 3], NULL) AS project_id,
                     1 + cityHash64(number, 4) % ${MODELS.length} AS m,
                     ${list(0)}[m] AS provider, ${list(1)}[m] AS model, ${list(2)}[m] AS operation,
                     toUInt64(greatest(1, ${list(3)}[m] * (0.2 + 1.6 * (cityHash64(number, 5) % 1000) / 1000))) AS prompt,
                     if(${list(6)}[m] AND cityHash64(number, 6) % 10 < 3, toUInt64(prompt * 0.6), 0) AS cache_read,
                     if(${list(7)}[m] AND cache_read = 0 AND cityHash64(number, 7) % 10 < 2, toUInt64(prompt * 0.3), 0) AS cache_write,
                     toUInt64(greatest(1, ${list(4)}[m] * (0.2 + 1.6 * (cityHash64(number, 8) % 1000) / 1000))) AS output,
                     toUInt64(${list(5)}[m] * (0.2 + 1.6 * (cityHash64(number, 9) % 1000) / 1000)) AS reasoning,
                     toUInt32(200 + cityHash64(number, 10) % 4000) AS latency_ms,
                     toUInt32(number % ${PARTITIONS}) AS source_partition,
                     intDiv(number, ${PARTITIONS}) AS source_offset
              FROM numbers(${EVENTS})
            )`,
  });
  // The hourly rollups the rollup consumer would have written: cumulative rows per (tenant,
  // dimensions, hour, source partition), version = the last offset applied + 1.
  await handle.client.command({
    query: `INSERT INTO ${db}.usage_rollups_hourly (kind, tenant_id, project_id, provider, model, operation, hour, source_partition, correction_offset, version, requests,
                                                    input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, latency_ms_sum, latency_ms_max, latency_count)
            SELECT 'cumulative', tenant_id, ifNull(project_id, ''), provider, model, operation, toStartOfHour(occurred_at), source_partition, 0, max(source_offset) + 1, count(),
                   sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(latency_ms), max(latency_ms), count()
            FROM ${db}.usage_events FINAL
            GROUP BY tenant_id, project_id, provider, model, operation, toStartOfHour(occurred_at), source_partition`,
  });
}

/** usage-events with one message per seeded offset, the rollup topic with a few; every group committed at the end. */
async function seedKafka(kafka: Kafka, admin: Admin, config: FleetConfig): Promise<number[]> {
  const producer = kafka.producer();
  await producer.connect();
  const perPartition = Math.ceil(EVENTS / PARTITIONS);
  const value = Buffer.from('seeded');
  for (let p = 0; p < PARTITIONS; p++) {
    for (let sent = 0; sent < perPartition; sent += 5_000) {
      await producer.send({ topic: config.topics.usageEvents, acks: 1, messages: Array.from({ length: Math.min(5_000, perPartition - sent) }, () => ({ partition: p, value })) });
    }
    await producer.send({ topic: config.topics.usageRollups, acks: 1, messages: [{ partition: p, value }] });
  }
  await producer.disconnect();
  const ends = async (topic: string) => (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.offset }));
  const eventEnds = await ends(config.topics.usageEvents);
  const commit = async (groupId: string, topic: string, partitions: { partition: number; offset: string }[]): Promise<void> => {
    await admin.setOffsets({ groupId, topic, partitions });
    // The close waits (up to 30 min) for these: make sure they are in.
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const behind = partitions.filter((p) => committed?.partitions.find((c) => c.partition === p.partition)?.offset !== p.offset);
    if (behind.length > 0) throw new Error(`offsets of ${groupId} on ${topic} not committed for partitions ${behind.map((p) => p.partition).join(', ')}`);
  };
  for (const groupId of [config.sink.groupId, config.rollups.groupId]) await commit(groupId, config.topics.usageEvents, eventEnds);
  await commit(config.rollups.sinkGroupId, config.topics.usageRollups, await ends(config.topics.usageRollups));
  return eventEnds.sort((a, b) => a.partition - b.partition).map((o) => Number(o.offset));
}

function fleetConfig(broker: KafkaBroker, redis: RedisServer, names: { base: string; database: string; chdbPath: string; invoiceDir: string; queue: string }, concurrency: number): FleetConfig {
  return fleetConfigSchema.parse({
    KAFKA_BROKERS: broker.brokers.join(','),
    REDIS_URL: redis.url,
    METERLINE_TOPIC_USAGE_EVENTS: names.base,
    METERLINE_USAGE_EVENTS_PARTITIONS: String(PARTITIONS),
    METERLINE_TOPIC_USAGE_ROLLUPS: `${names.base}-rollups`,
    METERLINE_TOPIC_INVOICES: `${names.base}-invoices`,
    METERLINE_TOPIC_INVOICE_ALERTS: `${names.base}-invoice-alerts`,
    METERLINE_SINK_GROUP: `${names.base}-sink`,
    METERLINE_ROLLUP_GROUP: `${names.base}-rollups`,
    METERLINE_ROLLUP_SINK_GROUP: `${names.base}-rollup-sink`,
    METERLINE_INVOICE_QUEUE: names.queue,
    METERLINE_INVOICE_DIR: names.invoiceDir,
    METERLINE_INVOICE_CONCURRENCY: String(concurrency),
    METERLINE_PRICING_DIR: join(repoRoot(), 'pricing'),
    CLICKHOUSE_DATABASE: names.database,
    METERLINE_CHDB_PATH: names.chdbPath,
    LOG_LEVEL: 'error',
    METERLINE_LOG_FORMAT: 'json', METERLINE_HEALTH_PORT: '0',
  });
}

interface Round {
  concurrency: number;
  total_s: number;
  close_s: number;
  invoice_jobs_s: number;
  invoices_per_s: number;
  invoice_rows: number;
  distinct_invoices: number;
  failed: number;
  cpu_s: number;
  kafka_cpu_s: number;
  redis_cpu_s: number;
  machine_busy_percent: number;
  rss_peak_mib: number;
  heap_peak_mib: number;
  seed_s: number;
}

async function round(broker: KafkaBroker, redis: RedisServer, kafka: Kafka, chdb: ClickHouseHandle, base: string, concurrency: number, workDir: string): Promise<Round> {
  const config = fleetConfig(broker, redis, { base, database: uniqueIdentifier('invoices'), chdbPath: workDir, invoiceDir: join(workDir, `docs-${concurrency}`), queue: uniqueName('invoices') }, concurrency);
  // libchdb binds one data directory per process: one engine, a fresh database per round.
  const handle: ClickHouseHandle = { ...chdb, database: config.clickhouse.database };
  const seedStart = performance.now();
  await migrate(handle, log);
  await seedEvents(handle);
  const seedS = (performance.now() - seedStart) / 1_000;
  const prices = new PriceBookStore(config.pricing.dir, log);
  const { endMs } = periodBounds(PERIOD);
  const clock = (): number => endMs + config.rollups.allowedLatenessMs + 86_400_000;
  const fleet = await invoiceSchedulerFromConfig({ kafka, redisUrl: redis.url, clickhouse: handle, prices, config, log, clock });
  try {
    const worker = fleet.scheduler.startWorker();
    await worker.waitUntilReady();
    let tenants: number | undefined;
    let closedAt = 0;
    let completed = 0;
    const failures: string[] = [];
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const check = (): void => {
      if (tenants !== undefined && completed + failures.length >= tenants) finish();
    };
    worker.on('completed', (job) => {
      if (job.name === CLOSE_PERIOD_JOB) {
        closedAt = performance.now();
        tenants = (job.returnvalue as CloseResult).tenants;
      } else if (job.name === INVOICE_JOB) completed++;
      check();
    });
    worker.on('failed', (job, error) => {
      // Only a job that failed for good counts (finishedOn set: out of attempts, or unrecoverable);
      // one that will be retried comes back as completed or failed again.
      if (job !== undefined && typeof job.finishedOn === 'number') {
        failures.push(`${job.name} ${job.id ?? '?'}: ${error.message.split('\n')[0] ?? ''}`);
        if (job.name === CLOSE_PERIOD_JOB) tenants = 0;
        check();
      }
    });

    const rssSampler = { peak: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      rssSampler.peak = Math.max(rssSampler.peak, m.rss);
      rssSampler.heap = Math.max(rssSampler.heap, m.heapUsed);
    }, 200);
    const cpu0 = process.cpuUsage();
    const others0 = { kafka: cpuSeconds(broker.pid), redis: cpuSeconds(redis.pid), machine: machineCpu() };
    const t0 = performance.now();
    await fleet.scheduler.runPeriod(PERIOD);
    const timeout = setTimeout(() => finish(), 600_000);
    const heartbeat = setInterval(() => console.log(`  ${((performance.now() - t0) / 1_000).toFixed(0)} s: close ${tenants === undefined ? 'running' : 'done'}, ${fmt(completed)} invoice jobs completed, ${failures.length} failed`), 10_000);
    await finished;
    const t1 = performance.now();
    clearTimeout(timeout);
    clearInterval(heartbeat);
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpu0);
    const machine = machineCpu();
    const others = { kafka: cpuSeconds(broker.pid) - others0.kafka, redis: cpuSeconds(redis.pid) - others0.redis, busy: (100 * (machine.busy - others0.machine.busy)) / (machine.total - others0.machine.total) };
    if (tenants === undefined || completed + failures.length < tenants) throw new Error(`not finished after 600 s: close ${tenants === undefined ? 'not done' : 'done'}, ${completed} invoice jobs completed, ${failures.length} failed`);
    const counts = await new InvoicesTable(handle).rowCounts(PERIOD);
    const totalS = (t1 - t0) / 1_000;
    const r: Round = {
      concurrency,
      total_s: totalS,
      close_s: (closedAt - t0) / 1_000,
      invoice_jobs_s: (t1 - closedAt) / 1_000,
      invoices_per_s: completed / totalS,
      invoice_rows: counts.rows,
      distinct_invoices: counts.distinct,
      failed: failures.length,
      cpu_s: (cpu.user + cpu.system) / 1e6,
      kafka_cpu_s: others.kafka,
      redis_cpu_s: others.redis,
      machine_busy_percent: others.busy,
      rss_peak_mib: rssSampler.peak / 1_048_576,
      heap_peak_mib: rssSampler.heap / 1_048_576,
      seed_s: seedS,
    };
    console.log(
      `concurrency ${concurrency}: ${fmt(completed)} invoices in ${totalS.toFixed(1)} s (target < ${TARGET_S} s: ${totalS < TARGET_S ? 'met' : 'missed'}), ${fmt(r.invoices_per_s)} invoices/s; ` +
        `close ${r.close_s.toFixed(2)} s + invoice jobs ${r.invoice_jobs_s.toFixed(1)} s; CPU: this process (with ClickHouse) ${r.cpu_s.toFixed(1)} s, Kafka ${others.kafka.toFixed(1)} s, Redis ${others.redis.toFixed(1)} s, machine ${others.busy.toFixed(0)}% busy; peak RSS ${mib(rssSampler.peak)} (heap ${mib(rssSampler.heap)}); ` +
        `stored ${fmt(counts.rows)} rows / ${fmt(counts.distinct)} distinct (seeded in ${seedS.toFixed(1)} s)`,
    );
    if (counts.rows !== tenants || counts.distinct !== tenants) console.log(`  MISMATCH: ${tenants} tenants, ${counts.rows} invoice rows, ${counts.distinct} distinct`);
    for (const f of failures.slice(0, 10)) console.log(`  failed ${f}`);
    return r;
  } finally {
    await fleet.close();
    prices.close();
    await handle.client.command({ query: `DROP DATABASE IF EXISTS ${quoteIdentifier(handle.database)}` }).catch(() => undefined);
  }
}

const workDir = mkdtempSync(join(tmpdir(), 'bench-invoices-'));
const chdb = openClickHouse({ database: 'default', chdbPath: join(workDir, 'chdb') });
const broker = await startKafka({ heapMb: 1_024 });
let redis: RedisServer | undefined;
try {
  redis = await startRedis();
  const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench-invoices' }, log);
  const admin = kafka.admin();
  await admin.connect();
  const base = uniqueName('usage-events');
  const config = fleetConfig(broker, redis, { base, database: 'unused', chdbPath: workDir, invoiceDir: workDir, queue: 'unused' }, 1);
  await ensureTopics(kafka, [{ topic: config.topics.usageEvents, numPartitions: PARTITIONS }, { topic: config.topics.usageRollups, numPartitions: PARTITIONS }, ...invoiceTopics(config.topics)], log);
  const kafkaStart = performance.now();
  const cut = await seedKafka(kafka, admin, config);
  await admin.disconnect();
  console.log(`seeded: ${fmt(TENANTS)} tenants, ${fmt(EVENTS)} events of ${PERIOD} (${MODELS.length} models), ${PARTITIONS} partitions up to offset ${fmt(Math.max(...cut))}; Kafka seeding ${((performance.now() - kafkaStart) / 1_000).toFixed(1)} s`);
  for (const concurrency of CONCURRENCIES) (results.rounds as Round[]).push(await round(broker, redis, kafka, chdb, base, concurrency, workDir));
} finally {
  await chdb.close();
  await redis?.stop();
  await broker.stop();
}

results.rss_max_mib = process.resourceUsage().maxRSS / 1_024;
console.log(`peak RSS of this process over the run (getrusage): ${(results.rss_max_mib as number).toFixed(0)} MiB (includes the embedded ClickHouse)`);
mkdirSync(join(repoRoot(), 'bench', 'results'), { recursive: true });
const file = join(repoRoot(), 'bench', 'results', `invoices-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2));
rmSync(workDir, { recursive: true, force: true });
console.log(`results: ${file}`);
