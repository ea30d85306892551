export { ClickHouseSink, SinkHaltedError, dedupToken, type ClickHouseSinkConfig, type ClickHouseSinkStats, type RejectedRowsPolicy } from './clickhouse-sink';
export { insertIsolatingRejected, isolatingInsertBudget, type RejectedRows } from './isolate-rejected';
export { usageEventsStream, usageRollupsStream, alertsStream, type SinkStream, type AlertTopics } from './sink-stream';
export { FlushBuffer } from './flush-buffer';
export { decodeBatch, type EventPricer } from './decode-batch';
export { DaySealer, type DaySealerOptions } from './day-sealer';
export { clickhouseSinkApp } from './app';
