import { UsageEventsTable, UsageRollupsTable } from '@meterline/clickhouse';
import { rawPathTopics, streamTopics } from '@meterline/kafka';
import type { App } from '@meterline/runtime';
import { ClickHouseSink } from './clickhouse-sink';
import { usageEventsStream, usageRollupsStream } from './sink-stream';

/**
 * Both streams into ClickHouse: `usage-events` -> `usage_events` (raw, poison to the DLQ) and
 * `usage-rollups` -> `usage_rollups_hourly`. Scaled out by partitions (consumer groups).
 */
export const clickhouseSinkApp: App = {
  name: 'clickhouse-sink',
  healthPort: 8788,
  async start(context) {
    const { config, log, lifecycle, health } = context;
    const kafka = context.kafka();
    await context.ensureTopics([...rawPathTopics(config.topics), ...streamTopics(config.topics)]);
    const clickhouse = await context.clickhouse();
    const common = { flushRows: config.sink.flushRows, flushMs: config.sink.flushMs };

    const events = new ClickHouseSink(kafka, usageEventsStream(new UsageEventsTable(clickhouse), config.events), { ...common, groupId: config.sink.groupId, topic: config.topics.usageEvents, dlqTopic: config.topics.usageEventsDlq }, log);
    await events.start();
    lifecycle.onStop('clickhouse-sink', () => events.stop());
    health.add('sink:usage-events', () => events.assertReady());

    const rollups = new ClickHouseSink(kafka, usageRollupsStream(new UsageRollupsTable(clickhouse)), { ...common, groupId: config.rollups.sinkGroupId, topic: config.topics.usageRollups, dlqTopic: `${config.topics.usageRollups}.dlq` }, log);
    await rollups.start();
    lifecycle.onStop('clickhouse-sink-rollups', () => rollups.stop());
    health.add('sink:usage-rollups', () => rollups.assertReady());
  },
};
