-- Usage event v2 (issue 15; schemas/usage-event/v2.avsc). (${database} is replaced by `migrate`.)
--
-- New disjoint token buckets, each counted in exactly one column (totals still add up):
--   cache_write_1h_tokens  prompt-cache writes with a 1-hour TTL (cache_write_tokens stays the
--                          5-minute / default TTL)
--   audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens
--                          media tokens; input_tokens stays uncached TEXT input and
--                          output_tokens visible TEXT output (cache reads of any modality stay
--                          in cache_read_tokens)
--   units                  per-request priced units (web_search, web_fetch, code_execution, ...)
--                          -> count; summed per key (sumMap) in the rollups
--   service_tier           the provider's tier for the call (raw rows only; pricing reads it)
-- latency_ms / ttft_ms become decimals with three places (microseconds): v2 events carry
-- fractional milliseconds. The rollups' latency and ttft sums and maxima become decimals too, so a
-- sum is exact and an average is sum / count with no float in between. Every old row is kept:
-- the new columns read 0 / {} / NULL there, and old whole-millisecond values convert exactly.
ALTER TABLE ${database}.usage_events
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER cache_write_tokens,
    ADD COLUMN IF NOT EXISTS audio_input_tokens    UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER reasoning_tokens,
    ADD COLUMN IF NOT EXISTS audio_output_tokens   UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER audio_input_tokens,
    ADD COLUMN IF NOT EXISTS image_input_tokens    UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER audio_output_tokens,
    ADD COLUMN IF NOT EXISTS image_output_tokens   UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER image_input_tokens,
    ADD COLUMN IF NOT EXISTS units                 Map(LowCardinality(String), UInt64) CODEC(ZSTD(1)) AFTER image_output_tokens,
    ADD COLUMN IF NOT EXISTS service_tier          LowCardinality(Nullable(String)) CODEC(ZSTD(1)) AFTER units,
    MODIFY COLUMN latency_ms Nullable(Decimal64(3)) CODEC(T64, ZSTD(1)),
    MODIFY COLUMN ttft_ms    Nullable(Decimal64(3)) CODEC(T64, ZSTD(1))
SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.usage_rollups_hourly
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens UInt64 DEFAULT 0 AFTER cache_write_tokens,
    ADD COLUMN IF NOT EXISTS audio_input_tokens    UInt64 DEFAULT 0 AFTER reasoning_tokens,
    ADD COLUMN IF NOT EXISTS audio_output_tokens   UInt64 DEFAULT 0 AFTER audio_input_tokens,
    ADD COLUMN IF NOT EXISTS image_input_tokens    UInt64 DEFAULT 0 AFTER audio_output_tokens,
    ADD COLUMN IF NOT EXISTS image_output_tokens   UInt64 DEFAULT 0 AFTER image_input_tokens,
    ADD COLUMN IF NOT EXISTS units                 Map(String, UInt64) AFTER image_output_tokens,
    MODIFY COLUMN latency_ms_sum Decimal128(3),
    MODIFY COLUMN latency_ms_max Decimal64(3),
    MODIFY COLUMN ttft_ms_sum    Decimal128(3),
    MODIFY COLUMN ttft_ms_max    Decimal64(3)
SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.usage_rollups_daily
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens UInt64 DEFAULT 0 AFTER cache_write_tokens,
    ADD COLUMN IF NOT EXISTS audio_input_tokens    UInt64 DEFAULT 0 AFTER reasoning_tokens,
    ADD COLUMN IF NOT EXISTS audio_output_tokens   UInt64 DEFAULT 0 AFTER audio_input_tokens,
    ADD COLUMN IF NOT EXISTS image_input_tokens    UInt64 DEFAULT 0 AFTER audio_output_tokens,
    ADD COLUMN IF NOT EXISTS image_output_tokens   UInt64 DEFAULT 0 AFTER image_input_tokens,
    ADD COLUMN IF NOT EXISTS units                 Map(String, UInt64) AFTER image_output_tokens,
    MODIFY COLUMN latency_ms_sum Decimal128(3),
    MODIFY COLUMN latency_ms_max Decimal64(3),
    MODIFY COLUMN ttft_ms_sum    Decimal128(3),
    MODIFY COLUMN ttft_ms_max    Decimal64(3)
SETTINGS mutations_sync = 2;

CREATE OR REPLACE VIEW ${database}.usage_hourly AS
SELECT
    tenant_id, hour, project_id, provider, model, operation,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(audio_input_tokens) AS audio_input_tokens,
    sum(audio_output_tokens) AS audio_output_tokens,
    sum(image_input_tokens) AS image_input_tokens,
    sum(image_output_tokens) AS image_output_tokens,
    sumMap(units) AS units,
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
    countIf(kind = 'correction') AS corrections,
    sum(cost_pico) AS cost_pico,
    sum(charge_pico) AS charge_pico,
    sum(cache_savings_pico) AS cache_savings_pico,
    sum(unpriced_cost_events) AS unpriced_cost_events,
    sum(unpriced_charge_events) AS unpriced_charge_events,
    arraySort(groupUniqArrayArray(cost_price_versions)) AS cost_price_versions,
    arraySort(groupUniqArrayArray(charge_price_versions)) AS charge_price_versions
FROM ${database}.usage_rollups_hourly FINAL
GROUP BY tenant_id, hour, project_id, provider, model, operation;

CREATE OR REPLACE VIEW ${database}.usage_daily AS
SELECT
    tenant_id, toDate(hour) AS day, project_id, provider, model, operation,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(audio_input_tokens) AS audio_input_tokens,
    sum(audio_output_tokens) AS audio_output_tokens,
    sum(image_input_tokens) AS image_input_tokens,
    sum(image_output_tokens) AS image_output_tokens,
    sumMap(units) AS units,
    sum(errors) AS errors,
    sum(latency_ms_sum) AS latency_ms_sum,
    max(latency_ms_max) AS latency_ms_max,
    sum(latency_count) AS latency_count,
    sum(cost_pico) AS cost_pico,
    sum(charge_pico) AS charge_pico,
    sum(cache_savings_pico) AS cache_savings_pico,
    sum(unpriced_cost_events) AS unpriced_cost_events,
    sum(unpriced_charge_events) AS unpriced_charge_events,
    arraySort(groupUniqArrayArray(cost_price_versions)) AS cost_price_versions,
    arraySort(groupUniqArrayArray(charge_price_versions)) AS charge_price_versions
FROM ${database}.usage_hourly
GROUP BY tenant_id, day, project_id, provider, model, operation;
