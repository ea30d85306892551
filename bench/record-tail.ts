// Where record()'s tail comes from: the record section of bench/run.ts with more percentiles
// and the position of slow calls relative to the yields. node --import tsx bench/record-tail.ts
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka, ensureTopics } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { createLogger } from '@meterline/platform';
import { startKafka, uniqueName, usageGenerator } from '@meterline/testing';

const log = createLogger({ level: 'error', format: 'json', name: 'bench' });
const broker = await startKafka({ heapMb: 1_024 });
try {
  const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench' }, log);
  const topic = uniqueName('bench');
  await ensureTopics(kafka, [{ topic, numPartitions: 12 }], log);
  const meter = createMeter({ kafka, topic, spoolDir: mkdtempSync(join(tmpdir(), 'bench-spool-')), log, ...(process.env.BATCH ? { batchSize: Number(process.env.BATCH) } : {}) });
  const next = usageGenerator({ seed: 1, idPrefix: 'rec' });
  const events = Array.from({ length: 220_000 }, () => {
    const { event_id: _id, ...rest } = next();
    return { ...rest, api_key: 'sk-bench-key' };
  });
  for (let i = 0; i < 20_000; i++) meter.record(events[i]!);
  await meter.flush();
  const n = 200_000;
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    meter.record(events[20_000 + i]!);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1_000;
    if (i % 2_000 === 1_999) await new Promise((r) => setImmediate(r));
  }
  await meter.close();
  const slow = samples.map((v) => v).sort()[Math.floor(n * 0.99)]!;
  // Position of slow calls within each 2,000-call slice between yields.
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < n; i++) if (samples[i]! >= slow) buckets[Math.floor((i % 2_000) / 200)]!++;
  const sorted = samples.slice().sort();
  const p = (q: number): string => sorted[Math.min(n - 1, Math.floor(n * q))]!.toFixed(2);
  console.log(`p50 ${p(0.5)} p90 ${p(0.9)} p95 ${p(0.95)} p98 ${p(0.98)} p99 ${p(0.99)} p99.5 ${p(0.995)} p99.9 ${p(0.999)} max ${p(1)}`);
  console.log('slow (>= p99) calls by position in the 2,000-call slice, per 200:', buckets.join(' '));
  console.log('first 10 calls after each yield, mean us:', Array.from({ length: 10 }, (_, k) => { let s = 0; let c = 0; for (let i = k; i < n; i += 2_000) { s += samples[i]!; c++; } return (s / c).toFixed(1); }).join(' '));
} finally {
  await broker.stop();
}
