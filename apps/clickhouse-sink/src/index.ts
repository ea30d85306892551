export { ClickHouseSink, dedupToken, type ClickHouseSinkConfig, type ClickHouseSinkStats } from './clickhouse-sink';
export { usageEventsStream, usageRollupsStream, type SinkStream } from './sink-stream';
export { FlushBuffer } from './flush-buffer';
export { decodeBatch } from './decode-batch';
export { clickhouseSinkApp } from './app';
