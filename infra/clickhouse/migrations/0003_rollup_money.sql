-- Money in the hourly rollups (usage-rollup v2): integer pico-USD (10^-12 USD) in Int128, which
-- holds sums far past what a month of any tenant can reach; never a float. Rows written before
-- this migration read 0 and count no unpriced events. Unpriced counts are signed: a re-rating
-- row (see libs/pricing/src/rerate.ts) takes back the events it priced.
ALTER TABLE ${database}.usage_rollups_hourly
    ADD COLUMN IF NOT EXISTS cost_pico              Int128 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS charge_pico            Int128 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cache_savings_pico     Int128 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS unpriced_cost_events   Int64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS unpriced_charge_events Int64 DEFAULT 0;

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
    sum(unpriced_charge_events) AS unpriced_charge_events
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
    sum(unpriced_charge_events) AS unpriced_charge_events
FROM ${database}.usage_hourly
GROUP BY tenant_id, day, project_id, provider, model, operation;
