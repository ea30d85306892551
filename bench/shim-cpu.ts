// The shim's whole CPU per event in the calling process: record() plus its share of sending
// (Avro encoding, KafkaJS's record batch encoding, the socket writes), to a 12-partition topic
// in 5,000-event batches, with a yield every 2,000 records as a service's event loop would.
// Events are generated before each round (the generator is not the shim).
//   node --import tsx bench/shim-cpu.ts [events per round = 300000] [rounds = 4]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka, ensureTopics } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { createLogger } from '@meterline/platform';
import { startKafka, uniqueName, usageGenerator } from '@meterline/testing';

const perRound = Number(process.argv[2] ?? 300_000);
const rounds = Number(process.argv[3] ?? 4);
const log = createLogger({ level: 'error', format: 'json', name: 'bench-shim' });
const broker = await startKafka({ heapMb: 1_024 });
try {
  const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench-shim' }, log);
  const topic = uniqueName('shim-cpu');
  await ensureTopics(kafka, [{ topic, numPartitions: 12 }], log);
  const meter = createMeter({ kafka, topic, spoolDir: mkdtempSync(join(tmpdir(), 'shim-cpu-spool-')), log, batchSize: 5_000, lingerMs: 10, maxBufferedEvents: 5_000_000 });
  const next = usageGenerator({ seed: 5, idPrefix: 'shim' });
  for (let round = 1; round <= rounds; round++) {
    const events = Array.from({ length: perRound }, next);
    const before = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < events.length; i++) {
      meter.record(events[i]!);
      if (i % 2_000 === 1_999) await new Promise((resolve) => setImmediate(resolve));
    }
    await meter.flush();
    const cpu = process.cpuUsage(before);
    const seconds = (performance.now() - started) / 1_000;
    console.log(`round ${round}: ${((cpu.user + cpu.system) / perRound).toFixed(2)} us of CPU per event (record + send), ${Math.round(perRound / seconds).toLocaleString('en-US')} events/s`);
  }
  await meter.close();
} finally {
  await broker.stop();
}
