-- Which price versions priced each rollup row (usage-rollup v3): the sorted distinct price
-- version ids (e.g. `openai/gpt-4o@2024-08-06`, tenant prices `tenant:<id>/...`) of the row's
-- priced events, per side. An unpriced side adds none (it is counted in unpriced_*_events).
-- Rows written before this migration read []. The views list the union over the rows that make
-- up an hour (partitions, corrections and re-rating rows; a re-rating row records the versions
-- its new amounts came from), sorted.
ALTER TABLE ${database}.usage_rollups_hourly
    ADD COLUMN IF NOT EXISTS cost_price_versions   Array(LowCardinality(String)) DEFAULT [],
    ADD COLUMN IF NOT EXISTS charge_price_versions Array(LowCardinality(String)) DEFAULT [];

CREATE OR REPLACE VIEW ${database}.usage_hourly AS
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
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
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
