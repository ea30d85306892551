import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject, expect, it } from 'vitest';
import { UsageEventsTable, openClickHouse } from '@meterline/clickhouse';
import { consumerGroupLag, createKafka, ensureTopics } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { UsageReference, uniqueIdentifier, uniqueName, usageGenerator, waitFor, type ManagedProcess } from '@meterline/testing';
import { spawnApp } from './support/child-app';
import { faultRandom } from './support/fault-seed';
import { testLog } from './support/raw-path';

const brokers = inject('kafkaBrokers');

it('keeps totals exact when the sink process is SIGKILLed mid-stream and restarted', async () => {
  const kafka = createKafka({ brokers, clientId: 'sink-crash-test' }, testLog);
  const topic = uniqueName('usage-events');
  await ensureTopics(kafka, [{ topic, numPartitions: 6 }, { topic: `${topic}.dlq`, numPartitions: 1 }], testLog);
  const chdbPath = mkdtempSync(join(tmpdir(), 'meterline-sink-crash-chdb-'));
  const database = uniqueIdentifier('crash');
  const groupId = uniqueName('sink');
  const env = {
    KAFKA_BROKERS: brokers.join(','),
    METERLINE_TOPIC_USAGE_EVENTS: topic,
    METERLINE_SINK_GROUP: groupId,
    METERLINE_CHDB_PATH: chdbPath,
    CLICKHOUSE_DATABASE: database,
    // Small, frequent flushes so kills land between insert and commit.
    METERLINE_SINK_FLUSH_ROWS: '1500',
    METERLINE_SINK_FLUSH_MS: '100',
  };
  const meter = createMeter({ kafka, topic, spoolDir: mkdtempSync(join(tmpdir(), 'meterline-spool-')), log: testLog });
  const next = usageGenerator({ seed: 31, idPrefix: 'crash' });
  const reference = new UsageReference();
  let sink: ManagedProcess = await spawnApp('apps/clickhouse-sink/src/main.ts', [], env, 'sink');
  const kills: number[] = [];
  const faults = faultRandom('sink-crash');
  try {
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 5_000; i++) {
        const event = next();
        meter.record(event);
        reference.add(event);
      }
      await meter.flush();
      if (round % 2 === 1) {
        // Let it get busy with this round, then kill it without warning.
        await new Promise((r) => setTimeout(r, faults.between(300, 1_000)));
        await sink.kill();
        kills.push(round);
        sink = await spawnApp('apps/clickhouse-sink/src/main.ts', [], env, 'sink');
      }
    }
    await waitFor(() => consumerGroupLag(kafka, groupId, topic), (lag) => lag === 0, { what: 'the sink group to commit every offset', timeoutMs: 120_000 });
    const exit = await sink.stop(30_000);
    expect(exit.signal === null || exit.signal === 'SIGTERM').toBe(true);
  } finally {
    if (sink.isRunning()) await sink.kill();
    await meter.close();
  }
  expect(kills).toHaveLength(4);

  const handle = openClickHouse({ database, chdbPath });
  try {
    const table = new UsageEventsTable(handle);
    const counts = await table.counts();
    expect(counts.finalRows).toBe(40_000);
    expect(counts.distinctEvents).toBe(40_000);
    const totals = await table.tenantTotals();
    expect(totals.map(({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id, events, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }))).toEqual(reference.expectedTotals());
  } finally {
    await handle.close();
  }
});
