// Micro-benchmark of meter.record() alone (no broker: nothing is sent during the timed loop).
// node --import tsx bench/record-micro.ts [calls=200000]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMeter } from '@meterline/producer';
import { usageGenerator } from '@meterline/testing';

const n = Number(process.argv[2] ?? 200_000);
const meter = createMeter({ brokers: ['127.0.0.1:1'], topic: 'micro', spoolDir: mkdtempSync(join(tmpdir(), 'micro-spool-')), lingerMs: 3_600_000, batchSize: 10_000_000, maxBufferedEvents: 10_000_000 });
const next = usageGenerator({ seed: 1, idPrefix: 'rec' });
const events = Array.from({ length: n }, () => {
  const { event_id: _id, ...rest } = next();
  return { ...rest, api_key: 'sk-bench-key' };
});
for (let round = 0; round < 3; round++) {
  const samples = new Float64Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    meter.record(events[i]!);
    samples[i] = Number(process.hrtime.bigint() - s) / 1_000;
  }
  const ms = performance.now() - t0;
  samples.sort();
  const p = (q: number): string => (samples[Math.floor(n * q)] ?? 0).toFixed(2);
  console.log(`round ${round}: ${((ms * 1000) / n).toFixed(2)} us/call incl. timing; p50 ${p(0.5)} p90 ${p(0.9)} p99 ${p(0.99)} p99.9 ${p(0.999)} us`);
}
process.exit(0);
