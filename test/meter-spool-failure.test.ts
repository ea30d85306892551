import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { usageEventCodec } from '@meterline/contract';
import { createKafka, ensureTopics } from '@meterline/kafka';
import { createMeter, type SpoolError } from '@meterline/producer';
import { uniqueName, usageGenerator, waitFor } from '@meterline/testing';
import { readMessages } from './support/read-topic';
import { testLog } from './support/raw-path';

const brokers = inject('kafkaBrokers');

it('a full buffer over a broken spool: the spilled events are held in memory and sent to Kafka, every one, and the failure is reported', async () => {
  const kafka = createKafka({ brokers, clientId: 'meter-spool-failure-test' }, testLog);
  const topic = uniqueName('usage-events');
  await ensureTopics(kafka, [{ topic, numPartitions: 3 }], testLog);
  const spoolDir = mkdtempSync(join(tmpdir(), 'meterline-spool-'));
  const errors: SpoolError[] = [];
  const meter = createMeter({ kafka, topic, spoolDir, log: testLog, maxBufferedEvents: 50, replayIntervalMs: 100, onError: (e) => errors.push(e) });
  // A file where the directory was: every append fails (chmod would not stop root).
  rmSync(spoolDir, { recursive: true });
  writeFileSync(spoolDir, 'not a directory');
  const next = usageGenerator({ seed: 16, idPrefix: 'spool-failure' });
  const ids = new Set<string>();
  // Recorded without yielding: 450 events past the full buffer are spilled at once, and fail to spool.
  for (let i = 0; i < 500; i++) ids.add(meter.record(next()));
  await new Promise((r) => setImmediate(r));
  expect(meter.stats().held).toBeGreaterThan(0);
  expect(errors[0]).toMatchObject({ code: 'SPOOL_FAILED', retriable: true });

  await waitFor(() => meter.stats(), (s) => s.held === 0 && s.buffered === 0 && s.sent === 500, { what: 'every event sent to Kafka', timeoutMs: 30_000 });
  await meter.close();
  expect(meter.stats()).toMatchObject({ recorded: 500, sent: 500, spooled: 0, dropped: 0 });
  expect(meter.stats().spoolError).toMatch(/ENOTDIR/);
  const codec = usageEventCodec();
  const sent = (await readMessages(kafka, topic, 500)).map((m) => codec.decode(m.value as Buffer).event_id);
  expect(sent.length).toBe(500);
  expect(new Set(sent)).toEqual(ids);
});
