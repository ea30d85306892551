-- Hourly rollups from the rollup consumer (topic usage-rollups). (${database} is replaced by `migrate`.)
-- kind = cumulative: running totals of one (tenant, dimensions, hour) from one source
--   partition; the row with the highest version (last source offset applied) wins, so a
--   replay that re-emits the same or a newer value changes nothing.
-- kind = correction: one event that arrived after its hour closed, keyed by its source offset.
-- Exact reads: FINAL, then sum over source partitions and corrections (the views below).
CREATE TABLE IF NOT EXISTS ${database}.usage_rollups_hourly
(
    kind                     Enum8('cumulative' = 1, 'correction' = 2),
    tenant_id                LowCardinality(String),
    project_id               String,
    provider                 LowCardinality(String),
    model                    LowCardinality(String),
    operation                LowCardinality(String),
    hour                     DateTime('UTC'),
    source_partition         UInt32,
    correction_offset        Int64,
    version                  UInt64,
    requests                 UInt64,
    input_tokens             UInt64,
    cache_read_tokens        UInt64,
    cache_write_tokens       UInt64,
    output_tokens            UInt64,
    reasoning_tokens         UInt64,
    errors                   UInt64,
    errors_by_class          Map(String, UInt64),
    requests_by_status_class Map(String, UInt64),
    latency_ms_sum           UInt64,
    latency_ms_max           UInt64,
    latency_count            UInt64,
    ttft_ms_sum              UInt64,
    ttft_ms_max              UInt64,
    ttft_count               UInt64,
    late_events              UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, project_id, provider, model, operation, source_partition, kind, correction_offset)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE VIEW IF NOT EXISTS ${database}.usage_hourly AS
SELECT
    tenant_id, hour, project_id, provider, model, operation,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(errors) AS errors,
    sumMap(errors_by_class) AS errors_by_class,
    sumMap(requests_by_status_class) AS requests_by_status_class,
    sum(latency_ms_sum) AS latency_ms_sum,
    max(latency_ms_max) AS latency_ms_max,
    sum(latency_count) AS latency_count,
    sum(ttft_ms_sum) AS ttft_ms_sum,
    max(ttft_ms_max) AS ttft_ms_max,
    sum(ttft_count) AS ttft_count,
    sum(late_events) AS late_events,
    countIf(kind = 'correction') AS corrections
FROM ${database}.usage_rollups_hourly FINAL
GROUP BY tenant_id, hour, project_id, provider, model, operation;

CREATE VIEW IF NOT EXISTS ${database}.usage_daily AS
SELECT
    tenant_id, toDate(hour) AS day, project_id, provider, model, operation,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(errors) AS errors,
    sum(latency_ms_sum) AS latency_ms_sum,
    max(latency_ms_max) AS latency_ms_max,
    sum(latency_count) AS latency_count
FROM ${database}.usage_hourly
GROUP BY tenant_id, day, project_id, provider, model, operation;
