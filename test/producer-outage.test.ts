import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { UsageReference, startKafka, usageGenerator, waitFor } from '@meterline/testing';
import { rawPath } from './support/raw-path';

it('spools while Kafka is down, replays when it returns: all 5,000 events land, once', async () => {
  // Its own broker: this test stops it.
  const broker = await startKafka({ dataDir: mkdtempSync(join(tmpdir(), 'meterline-outage-kafka-')) });
  try {
    const path = await rawPath(broker.brokers, { partitions: 3 });
    try {
      await path.startSink({ flushMs: 200 });
      const meter = path.newMeter({ replayIntervalMs: 500 });
      const next = usageGenerator({ seed: 41, idPrefix: 'outage' });
      const reference = new UsageReference();
      const record = (n: number): void => {
        for (let i = 0; i < n; i++) {
          const event = next();
          expect(meter.record(event)).toBe(event.event_id);
          reference.add(event);
        }
      };

      record(1_000);
      await meter.flush();
      await broker.stop();
      // record() never waits on the network, broker or not.
      const started = performance.now();
      record(3_000);
      expect(performance.now() - started).toBeLessThan(2_000);
      await meter.flush(); // resolves once the events are in the spool on disk
      expect(meter.stats().spooled).toBeGreaterThan(0);
      expect(readdirSync(path.spoolDir).length).toBeGreaterThan(0);

      await broker.restart();
      record(1_000);
      await meter.flush();
      await waitFor(() => meter.stats(), (s) => s.kafkaReachable && s.replayed >= s.spooled, { what: 'the spool to be replayed', timeoutMs: 90_000 });
      // The spool is replayed (every event in Kafka); the sink has committed all of it.
      await waitFor(() => path.sinkLag(), (lag) => lag === 0, { what: 'the sink to commit every message', timeoutMs: 120_000, intervalMs: 250 });
      const counts = await path.table.counts();
      expect(counts.finalRows).toBe(5_000);
      expect(counts.distinctEvents).toBe(5_000);
      const totals = await path.table.tenantTotals();
      expect(totals.map(({ tenant_id, events, input_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id, events, input_tokens, output_tokens, reasoning_tokens }))).toEqual(
        reference.expectedTotals().map(({ tenant_id, events, input_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id, events, input_tokens, output_tokens, reasoning_tokens })),
      );
      expect(readdirSync(path.spoolDir).filter((f) => f.endsWith('.spool'))).toEqual([]);
    } finally {
      await path.close();
    }
  } finally {
    await broker.stop();
  }
});
