-- Raw usage events, one row per accepted event_id. (${database} is replaced by `migrate`.)
-- ReplacingMergeTree on the ordering key dedups a re-delivered event (same tenant, hour and
-- event_id) forever; exact reads use FINAL. Of several copies the FIRST in its partition (lowest
-- source offset) is kept, which is the copy the stream counted: a Redis state rebuild cut at an
-- offset then agrees with the stream about which events were counted before the cut. Partitioned by event-time month so late events
-- land in their own month and TTL drops whole parts. TTL is set by `migrate` from config
-- (METERLINE_RAW_TTL_MONTHS) so it can change without a new migration.
CREATE TABLE IF NOT EXISTS ${database}.usage_events
(
    event_id           String,
    occurred_at        DateTime64(3, 'UTC'),
    tenant_id          LowCardinality(String),
    project_id         Nullable(String),
    api_key_hash       Nullable(String),
    client_id          Nullable(String),
    user_id            Nullable(String),
    trace_id           Nullable(String),
    endpoint_id        Nullable(String),
    provider           LowCardinality(String),
    model              LowCardinality(String),
    operation          LowCardinality(String),
    input_tokens       UInt64,
    cache_read_tokens  UInt64,
    cache_write_tokens UInt64,
    output_tokens      UInt64,
    reasoning_tokens   UInt64,
    latency_ms         Nullable(UInt32),
    ttft_ms            Nullable(UInt32),
    status_code        Nullable(UInt16),
    error_type         LowCardinality(Nullable(String)),
    metadata           Map(String, String),
    source_partition   UInt32,
    source_offset      UInt64,
    ingested_at        DateTime64(3, 'UTC') DEFAULT now64(3),
    keep_first         UInt64 MATERIALIZED 18446744073709551615 - source_offset
)
ENGINE = ReplacingMergeTree(keep_first)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, toStartOfHour(occurred_at), event_id)
SETTINGS non_replicated_deduplication_window = 10000;
