-- Monthly invoices (apps/invoice-scheduler).
--
-- invoice_period_closes: the cut of a billing month. When the period-close job has proved the
-- pipeline caught up, it records the end offset of every usage-events partition. An invoice of
-- that month bills the month's events below the cut; events at or past it (late arrivals) are
-- billed as adjustments on the next month's invoice. The first recorded close of a period wins
-- (keep_first), so a re-run reuses the same cut and computes the same invoices.
CREATE TABLE IF NOT EXISTS ${database}.invoice_period_closes
(
    period      String,
    topic       String,
    -- End offset per partition, index = partition number.
    cut_offsets Array(UInt64),
    closed_at   DateTime64(3, 'UTC'),
    keep_first  UInt64 MATERIALIZED 18446744073709551615 - toUInt64(toUnixTimestamp64Milli(closed_at))
)
ENGINE = ReplacingMergeTree(keep_first)
ORDER BY period;

-- One row per invoice revision. `invoice` is the whole invoice, lossless (amounts as decimal
-- strings), the source of every export; `lines` the line items as JSON for ad-hoc SQL. Money is
-- integer minor units of `currency` (Int128): never a float. The first write of an id wins, so
-- a job that ran twice (a stalled job taken over) cannot leave two versions of one invoice.
CREATE TABLE IF NOT EXISTS ${database}.invoices
(
    invoice_id    String,
    tenant_id     String,
    period        String,
    revision      UInt32,
    status        LowCardinality(String),
    currency      LowCardinality(String),
    total_minor   Int128,
    subtotal_minor Int128,
    -- Credit this invoice used: the next invoice may use the grant minus the sum of these.
    credits_applied_minor Int128,
    line_count    UInt32,
    issued_at     DateTime64(3, 'UTC'),
    lines         String,
    invoice       String,
    keep_first    UInt64 MATERIALIZED 18446744073709551615 - toUInt64(toUnixTimestamp64Milli(issued_at))
)
ENGINE = ReplacingMergeTree(keep_first)
ORDER BY (tenant_id, period, revision);
