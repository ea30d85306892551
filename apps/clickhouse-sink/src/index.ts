export { ClickHouseSink, dedupToken, type ClickHouseSinkConfig, type ClickHouseSinkStats } from './clickhouse-sink';
export { usageEventsStream, usageRollupsStream, alertsStream, type SinkStream, type AlertTopics } from './sink-stream';
export { FlushBuffer } from './flush-buffer';
export { decodeBatch, type EventPricer } from './decode-batch';
export { DaySealer, type DaySealerOptions } from './day-sealer';
export { clickhouseSinkApp } from './app';
