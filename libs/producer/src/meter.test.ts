import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { usageEventCodec } from '@meterline/contract';
import { BufferFullError, SpoolUnavailableError, createMeter, type Meter, type MeterConfig, type SpoolError } from './meter';
import { decodeFrames } from './spool';

// No broker listens on port 1, and the client gives up at once: every send fails, so what
// the meter keeps is what it spooled.
const unreachable = (): Kafka => new Kafka({ brokers: ['127.0.0.1:1'], clientId: 'meter-test', logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 200 });
const open: Meter[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()));
}, 30_000);

function meterWith(options: Partial<MeterConfig> & { maxBufferedEvents: number }): { meter: Meter; spoolDir: string } {
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

/** A file where the spool directory was: every append fails with ENOTDIR (chmod would not stop root). */
function breakSpool(dir: string): void {
  rmSync(dir, { recursive: true });
  writeFileSync(dir, 'not a directory');
}

function repairSpool(dir: string): void {
  rmSync(dir);
  mkdirSync(dir);
}

/** Resolves once `fact` holds, checked on each turn of the timers (the meter retries on a timer). */
async function until(fact: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fact()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('meter spool failure', () => {
  it('an unwritable spool is reported in stats and through onError, never thrown from a timer; the events are held and spooled once the disk is back', async () => {
    const errors: SpoolError[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught).on('unhandledRejection', onUncaught);
    try {
      const { meter, spoolDir } = meterWith({ maxBufferedEvents: 100, replayIntervalMs: 50, onError: (e) => errors.push(e) });
      breakSpool(spoolDir);
      // 250 events: 100 buffered (their send to the dead broker fails), 150 spilled past the full buffer.
      const ids = Array.from({ length: 250 }, (_, i) => meter.record(event(i)));
      await expect(meter.flush()).rejects.toBeInstanceOf(SpoolUnavailableError);
      expect(meter.stats()).toMatchObject({ recorded: 250, spooled: 0, held: 250, dropped: 0 });
      expect(meter.stats().spoolFailures).toBeGreaterThan(0);
      expect(meter.stats().spoolError).toMatch(/ENOTDIR/);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]).toMatchObject({ code: 'SPOOL_FAILED', retriable: true });
      expect((errors[0]?.cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');

      repairSpool(spoolDir);
      await until(() => meter.stats().held === 0, 'the held events to reach the spool');
      expect(meter.stats()).toMatchObject({ spooled: 250, held: 0, spoolError: undefined });
      await meter.close();
      expect(spooledIds(spoolDir).sort()).toEqual([...ids].sort());
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught).off('unhandledRejection', onUncaught);
    }
  });

  it('record() refuses (SpoolUnavailableError) once maxBufferedEvents are held, and close() reports the held events it drops', async () => {
    const { meter, spoolDir } = meterWith({ maxBufferedEvents: 10, replayIntervalMs: 3_600_000 });
    breakSpool(spoolDir);
    for (let i = 0; i < 20; i++) meter.record(event(i));
    await expect(meter.flush()).rejects.toBeInstanceOf(SpoolUnavailableError);
    expect(meter.stats()).toMatchObject({ held: 20 });
    expect(() => meter.record(event(99))).toThrow(SpoolUnavailableError);
    expect(meter.stats()).toMatchObject({ recorded: 20, refused: 1 });
    await expect(meter.close()).rejects.toThrow(/20 events reached neither Kafka nor the spool/);
    expect(meter.stats()).toMatchObject({ held: 0, dropped: 20 });
  });

  it('a spool directory that cannot be created fails createMeter with SPOOL_UNAVAILABLE', () => {
    const parent = mkdtempSync(join(tmpdir(), 'meter-test-spool-'));
    writeFileSync(join(parent, 'file'), '');
    expect(() => createMeter({ kafka: unreachable(), spoolDir: join(parent, 'file', 'spool') })).toThrow(/SPOOL_UNAVAILABLE|spool directory .* is unusable/);
  });
});
