// npm run bench: figures for the raw path, each beside a naive baseline measured in the same
// run. Not a test: nothing here passes or fails; the numbers go in docs/benchmarks.md.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Partitioners, type Kafka } from 'kafkajs';
import { usageEventCodec } from '@meterline/contract';
import { UsageEventsTable, migrate, openClickHouse, type UsageEventRow } from '@meterline/clickhouse';
import { createKafka, ensureTopics } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { createLogger } from '@meterline/platform';
import { ClickHouseSink, usageEventsStream } from '@meterline/clickhouse-sink';
import { UsageReference, repoRoot, spawnManaged, startKafka, uniqueIdentifier, uniqueName, usageGenerator, waitFor } from '@meterline/testing';

const log = createLogger({ level: 'error', format: 'json', name: 'bench' });
const results: Record<string, unknown> = {};
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function groupLag(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    return ends.reduce((lag, end) => lag + Number(end.offset) - Math.max(0, Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1')), 0);
  } finally {
    await admin.disconnect();
  }
}

async function newTopic(kafka: Kafka, partitions = 12): Promise<string> {
  const topic = uniqueName('bench');
  await ensureTopics(kafka, [{ topic, numPartitions: partitions }, { topic: `${topic}.dlq`, numPartitions: 1 }], log);
  return topic;
}

/** 1. Cost of record() on the caller, vs. awaiting one producer.send() per event. */
async function benchRecord(kafka: Kafka): Promise<void> {
  const topic = await newTopic(kafka);
  const meter = createMeter({ kafka, topic, spoolDir: mkdtempSync(join(tmpdir(), 'bench-spool-')), log });
  const next = usageGenerator({ seed: 1, idPrefix: 'rec' });
  const events = Array.from({ length: 220_000 }, () => {
    const { event_id: _id, ...rest } = next();
    return { ...rest, api_key: 'sk-bench-key' };
  });
  for (let i = 0; i < 20_000; i++) meter.record(events[i]!); // warm-up (JIT)
  await meter.flush();
  const n = 200_000;
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    meter.record(events[20_000 + i]!);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1_000;
    // Yield now and then so batches leave as they would in a service.
    if (i % 2_000 === 1_999) await new Promise((r) => setImmediate(r));
  }
  await meter.close();
  samples.sort();

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const codec = usageEventCodec();
  const naiveN = 2_000;
  const naive = new Float64Array(naiveN);
  for (let i = 0; i < naiveN; i++) {
    const event = next();
    const t0 = process.hrtime.bigint();
    await producer.send({ topic, acks: -1, messages: [{ key: event.tenant_id, value: codec.encode(event) }] });
    naive[i] = Number(process.hrtime.bigint() - t0) / 1_000;
  }
  await producer.disconnect();
  naive.sort();
  results.record = {
    shim: { calls: n, p50_us: percentile(samples, 0.5), p99_us: percentile(samples, 0.99), p999_us: percentile(samples, 0.999), max_us: samples[n - 1] },
    naive_send_per_event: { calls: naiveN, p50_us: percentile(naive, 0.5), p99_us: percentile(naive, 0.99) },
  };
  console.log(`record(): p50 ${percentile(samples, 0.5).toFixed(2)} us, p99 ${percentile(samples, 0.99).toFixed(2)} us (target < 10 us) | naive await send() per event: p50 ${percentile(naive, 0.5).toFixed(0)} us, p99 ${percentile(naive, 0.99).toFixed(0)} us`);
}

/** 2. Sink throughput into ClickHouse from a pre-filled topic, vs. one insert per 100 rows. */
async function benchSink(kafka: Kafka): Promise<void> {
  const topic = await newTopic(kafka);
  const total = 500_000;
  const meter = createMeter({ kafka, topic, spoolDir: mkdtempSync(join(tmpdir(), 'bench-spool-')), log, batchSize: 5_000 });
  const next = usageGenerator({ seed: 2, idPrefix: 'sink' });
  for (let i = 0; i < total; i++) {
    meter.record(next());
    if (i % 10_000 === 9_999) await meter.flush();
  }
  await meter.close();

  const handle = { ...openClickHouse({ database: 'default', chdbPath: mkdtempSync(join(tmpdir(), 'bench-chdb-')) }), database: uniqueIdentifier('bench') };
  await migrate(handle, log);
  const table = new UsageEventsTable(handle);
  const sink = new ClickHouseSink(kafka, usageEventsStream(table), { groupId: uniqueName('bench-sink'), topic, dlqTopic: `${topic}.dlq`, flushRows: 10_000, flushMs: 500 }, log);
  const started = performance.now();
  await sink.start();
  await waitFor(() => sink.stats(), (s) => s.rowsWritten >= total, { timeoutMs: 600_000, intervalMs: 50, what: 'sink to write all rows' });
  const seconds = (performance.now() - started) / 1_000;
  await sink.stop();

  // Naive: the same rows, one insert per 100-row batch.
  const rows: UsageEventRow[] = Array.from({ length: 20_000 }, (_, i) => ({ ...next(), source_partition: 0, source_offset: String(i) }));
  const naiveStarted = performance.now();
  for (let i = 0; i < rows.length; i += 100) await table.insert(rows.slice(i, i + 100), `naive-${i}`);
  const naiveSeconds = (performance.now() - naiveStarted) / 1_000;
  await handle.close();
  results.sink = { rows: total, seconds, rows_per_s: total / seconds, naive_insert_per_100_rows: { rows: rows.length, rows_per_s: rows.length / naiveSeconds } };
  console.log(`sink: ${fmt(total / seconds)} rows/s (${fmt(total)} rows from Kafka into ClickHouse, incl. consumer start) | naive insert per 100 rows: ${fmt(rows.length / naiveSeconds)} rows/s`);
}

/** 3. Sustained end-to-end: shim -> Kafka -> sink (its own process) -> ClickHouse, exact. */
async function benchEndToEnd(kafka: Kafka, brokers: string[], seconds: number, targetRate: number): Promise<void> {
  const topic = await newTopic(kafka);
  const chdbPath = mkdtempSync(join(tmpdir(), 'bench-e2e-chdb-'));
  const database = uniqueIdentifier('e2e');
  const groupId = uniqueName('bench-e2e');
  const logDir = mkdtempSync(join(tmpdir(), 'bench-e2e-logs-'));
  const sinkProcess = await spawnManaged(process.execPath, ['--import', 'tsx', join(repoRoot(), 'apps/clickhouse-sink/src/main.ts')], {
    name: 'sink',
    cwd: repoRoot(),
    outputFile: join(logDir, 'sink.log'),
    env: { ...process.env, NODE_OPTIONS: '', KAFKA_BROKERS: brokers.join(','), METERLINE_TOPIC_USAGE_EVENTS: topic, METERLINE_SINK_GROUP: groupId, METERLINE_CHDB_PATH: chdbPath, CLICKHOUSE_DATABASE: database, LOG_LEVEL: 'warn', METERLINE_LOG_FORMAT: 'json', METERLINE_HEALTH_PORT: '0' },
  });
  const meter = createMeter({ kafka, topic, spoolDir: mkdtempSync(join(tmpdir(), 'bench-spool-')), log, batchSize: 5_000, lingerMs: 10 });
  const next = usageGenerator({ seed: 3, idPrefix: 'e2e' });
  const reference = new UsageReference();
  const started = performance.now();
  const deadline = started + seconds * 1_000;
  let recorded = 0;
  // The sink group's lag (events recorded, not yet committed after their insert) every 2 s:
  // bounded while the pipeline keeps up with the offered rate, growing when it does not.
  const lagSamples: number[] = [];
  let lastLagAt = 0;
  // Paced in 10 ms slices at the target rate (the shim never blocks; this is the offered load).
  while (performance.now() < deadline) {
    const elapsed = performance.now() - started;
    const due = Math.floor((elapsed / 1_000) * targetRate);
    while (recorded < due) {
      const event = next();
      meter.record(event);
      reference.add(event);
      recorded++;
    }
    if (elapsed - lastLagAt >= 2_000) {
      lastLagAt = elapsed;
      const inMeter = meter.stats().buffered;
      void groupLag(kafka, groupId, topic).then((lag) => lagSamples.push(lag + inMeter), () => undefined);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const offeredSeconds = (performance.now() - started) / 1_000;
  await meter.close();
  await waitFor(() => groupLag(kafka, groupId, topic), (lag) => lag === 0, { timeoutMs: 600_000, intervalMs: 100, what: 'sink to catch up' });
  const e2eSeconds = (performance.now() - started) / 1_000;
  // Time from the last event recorded to the last one committed after its insert.
  const drainSeconds = e2eSeconds - offeredSeconds;
  await sinkProcess.stop(30_000);

  const handle = { ...openClickHouse({ database: 'default', chdbPath }), database };
  const table = new UsageEventsTable(handle);
  const counts = await table.counts();
  const totals = await table.tenantTotals();
  const expected = reference.expectedTotals();
  const exact = counts.finalRows === recorded && JSON.stringify(totals.map(({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }))) === JSON.stringify(expected);
  await handle.close();
  const key = `end_to_end_${targetRate}`;
  results[key] = { offered_rate: targetRate, events: recorded, offered_seconds: offeredSeconds, achieved_offer_per_s: recorded / offeredSeconds, end_to_end_seconds: e2eSeconds, drain_seconds_after_offer: drainSeconds, lag_every_2s: lagSamples, sustained_events_per_s: recorded / e2eSeconds, exact, clickhouse_rows: counts.finalRows };
  console.log(`end-to-end at ${fmt(targetRate)}/s offered: ${fmt(recorded)} events (${fmt(recorded / offeredSeconds)}/s achieved), all in ClickHouse after ${e2eSeconds.toFixed(1)} s, ${drainSeconds.toFixed(1)} s after the last was recorded => ${fmt(recorded / e2eSeconds)} events/s sustained; exact totals: ${exact}`);
  console.log(`   not yet in ClickHouse, every 2 s (shim buffer + sink group lag): ${lagSamples.map(fmt).join(', ')} (max ${fmt(Math.max(0, ...lagSamples))})`);
}

/** Naive end-to-end baseline: one send() per event awaited by the caller. */
async function benchNaiveEndToEnd(kafka: Kafka, seconds: number): Promise<void> {
  const topic = await newTopic(kafka);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const codec = usageEventCodec();
  const next = usageGenerator({ seed: 4, idPrefix: 'naive' });
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < seconds * 1_000) {
    const event = next();
    await producer.send({ topic, acks: -1, messages: [{ key: event.tenant_id, value: codec.encode(event) }] });
    sent++;
  }
  await producer.disconnect();
  const rate = sent / ((performance.now() - started) / 1_000);
  results.naive_end_to_end_producer_only = { events: sent, events_per_s: rate };
  console.log(`naive producer (await send() per event), Kafka only: ${fmt(rate)} events/s`);
}

const broker = await startKafka({ heapMb: 1_024 });
try {
  const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench' }, log);
  const only = process.argv[2];
  if (!only || only === 'record') await benchRecord(kafka);
  if (!only || only === 'sink') await benchSink(kafka);
  if (!only || only === 'e2e') {
    await benchNaiveEndToEnd(kafka, 10);
    await benchEndToEnd(kafka, broker.brokers, 30, 50_000);
    await benchEndToEnd(kafka, broker.brokers, 30, 60_000);
    await benchEndToEnd(kafka, broker.brokers, 30, 70_000);
  }
} finally {
  await broker.stop();
}
mkdirSync(join(repoRoot(), 'bench', 'results'), { recursive: true });
const file = join(repoRoot(), 'bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2));
console.log(`results: ${file}`);
