import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { usageEventCodec } from '@meterline/contract';
import { BufferFullError, createMeter, type Meter } from './meter';
import { decodeFrames } from './spool';

// No broker listens on port 1, and the client gives up at once: every send fails, so what
// the meter keeps is what it spooled.
const unreachable = (): Kafka => new Kafka({ brokers: ['127.0.0.1:1'], clientId: 'meter-test', logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 200 });
const open: Meter[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()));
}, 30_000);

function meterWith(options: { maxBufferedEvents: number; onBufferFull?: 'spool' | 'throw' }): { meter: Meter; spoolDir: string } {
  const spoolDir = mkdtempSync(join(tmpdir(), 'meter-test-spool-'));
  // A long linger and batch: nothing leaves the buffer during the test unless it is full.
  const meter = createMeter({ kafka: unreachable(), topic: 'never', spoolDir, lingerMs: 3_600_000, batchSize: 1_000_000, replayIntervalMs: 3_600_000, spoolFsync: false, ...options });
  open.push(meter);
  return { meter, spoolDir };
}

const event = (i: number) => ({ tenant_id: `t${i % 3}`, provider: 'openai', model: 'gpt-4o', input_tokens: i, output_tokens: 1 });

function spooledIds(dir: string): string[] {
  const codec = usageEventCodec();
  return readdirSync(dir).flatMap((file) => decodeFrames(readFileSync(join(dir, file))).messages.map((m) => codec.decode(m.value).event_id));
}

describe('meter buffer limit', () => {
  it('spool policy: events past a full buffer go to the disk spool in one append, none lost, record() never throws', async () => {
    const { meter, spoolDir } = meterWith({ maxBufferedEvents: 100 });
    const ids = Array.from({ length: 2_000 }, (_, i) => meter.record(event(i)));
    // Recorded synchronously: the 1,900 past the limit wait for the caller to yield.
    expect(meter.stats()).toMatchObject({ recorded: 2_000, buffered: 2_000 });
    await new Promise((r) => setImmediate(r));
    expect(meter.stats()).toMatchObject({ buffered: 100, spooled: 1_900 });
    expect(spooledIds(spoolDir).sort()).toEqual(ids.slice(100).sort());
    // close() drains the buffered 100 too: they fail to send and join the spool.
    await meter.close();
    expect(spooledIds(spoolDir).sort()).toEqual([...ids].sort());
  });

  it('spool policy: more than one spill batch recorded without yielding is spooled at once', () => {
    const { meter, spoolDir } = meterWith({ maxBufferedEvents: 10 });
    const ids = Array.from({ length: 12_010 }, (_, i) => meter.record(event(i)));
    // Two full spill batches of 5,000 are on disk before record() returns; the rest waits.
    expect(meter.stats().spooled).toBe(10_000);
    expect(spooledIds(spoolDir).sort()).toEqual(ids.slice(10, 10_010).sort());
  });

  it('throw policy: record() throws BufferFullError and keeps what it buffered', () => {
    const { meter } = meterWith({ maxBufferedEvents: 5, onBufferFull: 'throw' });
    for (let i = 0; i < 5; i++) meter.record(event(i));
    expect(() => meter.record(event(5))).toThrow(BufferFullError);
    expect(meter.stats()).toMatchObject({ recorded: 5, buffered: 5 });
  });
});
