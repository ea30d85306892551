-- Daily rollups for long-range reads (libs/clickhouse/src/daily-rollups.ts). (${database} is replaced by `migrate`.)
--
-- usage_rollups_daily: per (tenant, UTC day, dimensions), the exact sums of that day's hourly
--   rollups (FINAL), written by the day sealer. One partition per day: a seal computes the whole
--   day apart and swaps it in (REPLACE PARTITION, atomic), so the table never holds two versions
--   of a row and reads need no FINAL.
-- usage_day_seals: when each day was sealed. `sealed_at` is the seal's start minus a margin, so
--   every hourly insert stamped before it had committed when the seal read the day.
-- usage_day_changes: when each (tenant, day) last received an hourly rollup row (any kind: a newer
--   cumulative value, a late-event correction, a re-rating row), stamped by a materialized view on
--   insert. A (tenant, day) is read from the daily table only when it has a seal and no change came
--   after it; otherwise from the hourly rows. So a daily read is exact at every moment, and a late
--   change costs speed until the next seal, never exactness.
CREATE TABLE IF NOT EXISTS ${database}.usage_rollups_daily
(
    tenant_id                LowCardinality(String),
    day                      Date,
    project_id               String,
    provider                 LowCardinality(String),
    model                    LowCardinality(String),
    operation                LowCardinality(String),
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
    late_events              UInt64,
    corrections              UInt64,
    cost_pico                Int128,
    charge_pico              Int128,
    cache_savings_pico       Int128,
    unpriced_cost_events     Int64,
    unpriced_charge_events   Int64,
    cost_price_versions      Array(LowCardinality(String)),
    charge_price_versions    Array(LowCardinality(String))
)
ENGINE = MergeTree
PARTITION BY day
ORDER BY (tenant_id, day, project_id, provider, model, operation);

CREATE TABLE IF NOT EXISTS ${database}.usage_day_seals
(
    day       Date,
    sealed_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(sealed_at)
ORDER BY day;

CREATE TABLE IF NOT EXISTS ${database}.usage_day_changes
(
    tenant_id  LowCardinality(String),
    day        Date,
    changed_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.usage_day_changes_mv TO ${database}.usage_day_changes AS
SELECT tenant_id, toDate(hour) AS day, max(now64(6, 'UTC')) AS changed_at
FROM ${database}.usage_rollups_hourly
GROUP BY tenant_id, day;

-- Days that already hold hourly rows when this migration runs: a change now, so the sealer finds them.
INSERT INTO ${database}.usage_day_changes
SELECT tenant_id, toDate(hour) AS day, now64(6, 'UTC') FROM ${database}.usage_rollups_hourly GROUP BY tenant_id, day;
