-- Daily rollups for long-range reads (libs/clickhouse/src/daily-rollups.ts). (${database} is replaced by `migrate`.)
--
-- usage_rollups_daily: per (tenant, UTC day, dimensions), the exact sums of that day's hourly
--   rollups (FINAL), written by the day sealer. A seal builds the whole month apart (the days it
--   seals recomputed, the others copied) and swaps it in (REPLACE PARTITION, atomic): the table
--   never holds two versions of a row and reads need no FINAL. Each sealed day has one seal row
--   (tenant_id '', no dimensions, zero measures) whose `sealed_at` is when that day's rows were
--   computed, minus a margin (every hourly insert stamped before it had committed when the seal
--   read the day). The seal row travels with its day's rows, so a slower concurrent seal that
--   swaps in older rows also brings back their older seal. Readers skip tenant_id ''. The same
--   swap brings the month's rows (grain 'month'), summed from its day rows: a month is read from
--   them when every one of its days is clean.
-- usage_day_changes: when each (tenant, day) last received an hourly rollup row (any kind: a newer
--   cumulative value, a late-event correction, a re-rating row), stamped by a materialized view on
--   insert. A (tenant, day) is read from the daily table only when no change came after its day's
--   seal; otherwise from the hourly rows. So a daily read is exact at every moment, and a late
--   change costs speed until the next seal, never exactness.
CREATE TABLE IF NOT EXISTS ${database}.usage_rollups_daily
(
    tenant_id                LowCardinality(String),
    -- 'day': a UTC day's sums (day = that day); 'month': the month's sums (day = its first day),
    -- built by the same seal from the month's day rows.
    grain                    Enum8('day' = 1, 'month' = 2) DEFAULT 'day',
    day                      Date,
    project_id               String,
    provider                 LowCardinality(String),
    model                    LowCardinality(String),
    operation                LowCardinality(String),
    sealed_at                DateTime64(6, 'UTC') CODEC(ZSTD(1)),
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
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, grain, day, project_id, provider, model, operation)
-- Small granules: a tenant's month is a few hundred rows, read across some 25 columns.
SETTINGS index_granularity = 1024;

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
