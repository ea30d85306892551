export { ClickHouseSink, dedupToken, type ClickHouseSinkConfig, type ClickHouseSinkStats } from './clickhouse-sink';
export { FlushBuffer } from './flush-buffer';
export { decodeBatch } from './decode-batch';
