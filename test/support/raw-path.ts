import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { ClickHouseSink, usageEventsStream, type RejectedRowsPolicy } from '@meterline/clickhouse-sink';
import { UsageEventsTable, migrate, openClickHouse, type ClickHouseHandle, type UsageEventRow } from '@meterline/clickhouse';
import { consumerGroupLag, createKafka, ensureTopics } from '@meterline/kafka';
import { createMeter, type Meter, type MeterConfig } from '@meterline/producer';
import { createLogger, type Logger } from '@meterline/platform';
import { uniqueIdentifier, uniqueName } from '@meterline/testing';
import { readMessages } from './read-topic';

export const testLog: Logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error', format: 'json', name: 'test' });

/** One chdb directory per test file (libchdb binds one per process); one database per test. */
let sharedHandle: { path: string; handle: ClickHouseHandle } | undefined;
export function chdbForThisFile(): ClickHouseHandle {
  if (!sharedHandle) {
    const path = mkdtempSync(join(tmpdir(), 'meterline-chdb-'));
    sharedHandle = { path, handle: openClickHouse({ database: 'default', chdbPath: path }) };
  }
  return sharedHandle.handle;
}

export interface RawPath {
  kafka: Kafka;
  topic: string;
  dlqTopic: string;
  partitions: number;
  database: string;
  handle: ClickHouseHandle;
  table: UsageEventsTable;
  spoolDir: string;
  newMeter(overrides?: Partial<MeterConfig>): Meter;
  /** A sink in a group of its own, or in `groupId` (to restart a sink where another stopped). */
  startSink(overrides?: { flushRows?: number; flushMs?: number; groupId?: string; rejectedRows?: RejectedRowsPolicy }): Promise<ClickHouseSink<UsageEventRow>>;
  /** The group of the last sink started. */
  readonly sinkGroup: string | undefined;
  /** Messages of the topic not yet committed by the last sink's group. */
  sinkLag(): Promise<number>;
  readDlq(expected: number): Promise<KafkaMessage[]>;
  close(): Promise<void>;
}

/** A topic pair, a database and a spool of this test's own, on the shared broker. */
export async function rawPath(brokers: string[], options: { partitions?: number; handle?: ClickHouseHandle } = {}): Promise<RawPath> {
  const kafka = createKafka({ brokers, clientId: 'meterline-test' }, testLog);
  const topic = uniqueName('usage-events');
  const dlqTopic = `${topic}.dlq`;
  const partitions = options.partitions ?? 12;
  await ensureTopics(kafka, [{ topic, numPartitions: partitions }, { topic: dlqTopic, numPartitions: 1 }], testLog);
  const database = uniqueIdentifier('t');
  const base = options.handle ?? chdbForThisFile();
  const handle: ClickHouseHandle = { ...base, database };
  await migrate(handle, testLog, { rawTtlMonths: 36 });
  const table = new UsageEventsTable(handle);
  const spoolDir = mkdtempSync(join(tmpdir(), 'meterline-spool-'));
  const meters: Meter[] = [];
  const sinks: ClickHouseSink<UsageEventRow>[] = [];
  let sinkGroup: string | undefined;
  return {
    kafka, topic, dlqTopic, partitions, database, handle, table, spoolDir,
    newMeter(overrides = {}) {
      const meter = createMeter({ kafka, topic, spoolDir, log: testLog, ...overrides });
      meters.push(meter);
      return meter;
    },
    get sinkGroup() {
      return sinkGroup;
    },
    async startSink(overrides = {}) {
      sinkGroup = overrides.groupId ?? uniqueName('sink');
      const sink = new ClickHouseSink(kafka, usageEventsStream(table), { groupId: sinkGroup, topic, dlqTopic, flushRows: overrides.flushRows ?? 10_000, flushMs: overrides.flushMs ?? 500, sessionTimeoutMs: 10_000, rejectedRows: overrides.rejectedRows ?? 'dead-letter' }, testLog);
      await sink.start();
      sinks.push(sink);
      return sink;
    },
    sinkLag() {
      if (sinkGroup === undefined) throw new Error('sinkLag: no sink started');
      return consumerGroupLag(kafka, sinkGroup, topic);
    },
    readDlq(expected) {
      return readMessages(kafka, dlqTopic, expected);
    },
    async close() {
      for (const meter of meters) await meter.close();
      for (const sink of sinks) await sink.stop();
    },
  };
}
