// clickhouse-sink as its own process: parse config once, build adapters, run, drain on SIGTERM.
import { UsageEventsTable, migrate, openClickHouse } from '@meterline/clickhouse';
import { createKafka, ensureTopics, rawPathTopics } from '@meterline/kafka';
import { Lifecycle, createLogger, fleetConfigSchema, loadConfigOrExit } from '@meterline/platform';
import { ClickHouseSink } from './clickhouse-sink';
import { usageEventsStream } from './sink-stream';

const config = loadConfigOrExit(fleetConfigSchema);
const log = createLogger({ ...config.log, name: 'clickhouse-sink' });
const lifecycle = new Lifecycle(log);
lifecycle.stopOnSignals();

const kafka = createKafka(config.kafka, log);
await ensureTopics(kafka, rawPathTopics(config.topics), log);
const clickhouse = openClickHouse(config.clickhouse);
lifecycle.onStop('clickhouse', () => clickhouse.close());
await migrate(clickhouse, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });

const sink = new ClickHouseSink(kafka, usageEventsStream(new UsageEventsTable(clickhouse), config.events), {
  groupId: config.sink.groupId,
  topic: config.topics.usageEvents,
  dlqTopic: config.topics.usageEventsDlq,
  flushRows: config.sink.flushRows,
  flushMs: config.sink.flushMs,
}, log);
await sink.start();
lifecycle.onStop('clickhouse-sink', () => sink.stop());
