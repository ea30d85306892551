export { ClickHouseSink, dedupToken, type ClickHouseSinkConfig, type ClickHouseSinkStats } from './clickhouse-sink';
export { usageEventsStream, type SinkStream } from './sink-stream';
export { FlushBuffer } from './flush-buffer';
export { decodeBatch } from './decode-batch';
