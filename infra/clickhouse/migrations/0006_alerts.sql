-- Alert history (written by clickhouse-sink from the quota-alerts, pricing-alerts and
-- invoice-alerts topics; listed by GET /v1/alerts). (${database} is replaced by `migrate`.)
--
-- One row per alert: every producer derives alert_id from what the alert is about (quota,
-- period and threshold; provider and model; tenant, period and report), so a re-delivered or
-- re-published record has the same (kind, alert_id) and ReplacingMergeTree keeps one row: the
-- first emitted (keep_first; a replay of the same record is the same row). tenant_id is a
-- function of (kind, alert_id) too, so leading the key with it loses nothing and lets a tenant's
-- list read its own range. Pricing alerts are fleet-wide: tenant_id '' (the first tenant seen
-- is in `record`).
--
-- Columns promote what a list filters or shows at a glance; `record` is the whole alert as the
-- producer wrote it (JSON), the source of every field the API returns. Amounts are integers in
-- the quota metric's unit (tokens, requests or pico-USD): Int128, never a float.
CREATE TABLE IF NOT EXISTS ${database}.alerts
(
    kind              Enum8('quota' = 1, 'pricing' = 2, 'invoice' = 3),
    alert_id          String,
    tenant_id         String,
    -- quota: threshold_crossed; pricing: unpriced_model; invoice: reconciliation_mismatch.
    type              LowCardinality(String),
    -- When it happened: the crossing event's time, the first unpriced event's time, the job's clock.
    occurred_at       DateTime64(3, 'UTC'),
    -- When it was published: the Kafka record's timestamp.
    emitted_at        DateTime64(3, 'UTC'),
    quota_id          String,
    metric            LowCardinality(String),
    threshold_percent UInt16,
    -- quota: the period label (2026-05, 2026-05-14...); invoice: the billing month.
    period            String,
    quota_limit       Int128,
    quota_used        Int128,
    enforcement       LowCardinality(String),
    provider          LowCardinality(String),
    model             LowCardinality(String),
    reason            LowCardinality(String),
    mismatch_count    UInt32,
    record            String,
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    source_offset     UInt64,
    keep_first        UInt64 MATERIALIZED 18446744073709551615 - toUInt64(toUnixTimestamp64Milli(emitted_at))
)
ENGINE = ReplacingMergeTree(keep_first)
ORDER BY (tenant_id, kind, alert_id)
SETTINGS non_replicated_deduplication_window = 10000;
