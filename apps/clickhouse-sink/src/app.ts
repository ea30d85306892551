import { AlertsTable, UsageEventsTable, UsageRollupsTable } from '@meterline/clickhouse';
import { alertHistoryTopics, invoiceTopics, rawPathTopics, streamTopics } from '@meterline/kafka';
import type { App } from '@meterline/runtime';
import { ClickHouseSink } from './clickhouse-sink';
import { DaySealer } from './day-sealer';
import { alertsStream, usageEventsStream, usageRollupsStream } from './sink-stream';

/**
 * Three streams into ClickHouse, each its own consumer group: `usage-events` -> `usage_events`
 * (raw, poison to the DLQ), `usage-rollups` -> `usage_rollups_hourly`, and the quota, pricing
 * and invoice alert topics -> `alerts` (the alert history). Scaled out by partitions. It also
 * seals finished days into the daily rollups (DaySealer), which long-range usage reads use.
 */
export const clickhouseSinkApp: App = {
  name: 'clickhouse-sink',
  healthPort: 8788,
  async start(context) {
    const { config, log, lifecycle, health } = context;
    const kafka = context.kafka();
    const { topics } = config;
    await context.ensureTopics([...rawPathTopics(topics), ...streamTopics(topics), ...invoiceTopics(topics), ...alertHistoryTopics(topics)]);
    const clickhouse = await context.clickhouse();
    const common = { flushRows: config.sink.flushRows, flushMs: config.sink.flushMs, rejectedRows: config.sink.rejectedRows };
    const run = async (names: { stop: string; check: string }, sink: Pick<ClickHouseSink, 'start' | 'stop' | 'assertReady'>): Promise<void> => {
      await sink.start();
      lifecycle.onStop(names.stop, () => sink.stop());
      health.add(names.check, () => sink.assertReady());
    };

    await run({ stop: 'clickhouse-sink', check: 'sink:usage-events' }, new ClickHouseSink(kafka, usageEventsStream(new UsageEventsTable(clickhouse), config.events, context.prices()), { ...common, groupId: config.sink.groupId, topic: topics.usageEvents, dlqTopic: topics.usageEventsDlq }, log));
    await run({ stop: 'clickhouse-sink-rollups', check: 'sink:usage-rollups' }, new ClickHouseSink(kafka, usageRollupsStream(new UsageRollupsTable(clickhouse)), { ...common, groupId: config.rollups.sinkGroupId, topic: topics.usageRollups, dlqTopic: `${topics.usageRollups}.dlq` }, log));
    const alertTopics = [topics.quotaAlerts, topics.pricingAlerts, topics.invoiceAlerts];
    const sealer = new DaySealer(clickhouse, { intervalMs: config.sink.daySealIntervalMs, allowedLatenessMs: config.rollups.allowedLatenessMs }, log);
    sealer.start();
    lifecycle.onStop('day-sealer', () => sealer.stop());
    await run({ stop: 'clickhouse-sink-alerts', check: 'sink:alerts' }, new ClickHouseSink(kafka, alertsStream(new AlertsTable(clickhouse), topics), { ...common, groupId: config.sink.alertsGroupId, topic: alertTopics, dlqTopic: topics.alertsDlq }, log));
  },
};
