-- Raw usage events, compact (issue 14): ~30 instead of ~76 compressed bytes per realistic event
-- (docs/benchmarks.md), and each row carries its cost and charge. (${database} is replaced by `migrate`.)
--
-- Writers insert the contract's text forms into the EPHEMERAL *_input columns (naming the
-- columns: an insert without a column list cannot fill them); the DEFAULT
-- expressions below are the one definition of how they are stored, for every writer (the sink,
-- this migration, benches). Readers read the ALIAS columns, which give the text forms back:
--   event_id      = the UUID itself when the text is a canonical lower-case UUID (the shim's
--                   UUIDv7), else a name-based UUIDv8 (first 16 bytes of SHA-256 of the text) with
--                   the text kept in event_id_text ('' for canonical ids). Dedup is on event_uuid.
--   api_key_hash  = lower-case hex of the 32 SHA-256 bytes.
--   source_offset = 2^64 - 1 - keep_first: only the version column is stored. Of several copies
--                   of an event the one with the highest keep_first, the FIRST (lowest source
--                   offset), is kept: the copy the stream counted (apps/rollup-consumer/src/state-rebuild.ts).
--   cost_pico / charge_pico = integer pico-USD as the sink priced the event with the books in
--                   force (the rollup consumer's priceEvent); Int64, or the Nullable(Int128) wide
--                   column for an amount past Int64 (over $9.2M for one call).
--   charge_price_version = stored as '=' when it is the cost side's version (the usual case).
--   Empty price versions: that side was unpriced (its amount is 0), or the row predates 0007.
-- The sorting key orders a tenant-hour by the UUIDv7 time (ClickHouse sorts UUIDs by their
-- second, random half): time order is what lets the delta codecs work. UUIDv7ToDateTime is a
-- function of event_uuid, so the key still deduplicates on (tenant, hour, event_uuid).
-- ingested_at is kept to the minute: only a state rebuild's dedup window (24 h) reads it.
DROP TABLE IF EXISTS ${database}.usage_events_0007;

CREATE TABLE ${database}.usage_events_0007
(
    event_id_input             String EPHEMERAL,
    api_key_hash_input         Nullable(String) EPHEMERAL,
    source_offset_input        UInt64 EPHEMERAL,
    cost_pico_input            Int128 EPHEMERAL,
    charge_pico_input          Int128 EPHEMERAL,
    charge_price_version_input String EPHEMERAL,

    event_uuid         UUID DEFAULT if(match(event_id_input, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
                                       toUUIDOrZero(event_id_input),
                                       toUUID(UUIDNumToString(toFixedString(concat(
                                           substring(SHA256(event_id_input), 1, 6),
                                           char(bitOr(bitAnd(reinterpretAsUInt8(substring(SHA256(event_id_input), 7, 1)), 15), 128)),
                                           substring(SHA256(event_id_input), 8, 1),
                                           char(bitOr(bitAnd(reinterpretAsUInt8(substring(SHA256(event_id_input), 9, 1)), 63), 128)),
                                           substring(SHA256(event_id_input), 10, 7)), 16))))
                           CODEC(ZSTD(3)),
    event_id_text      String DEFAULT if(match(event_id_input, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'), '', event_id_input)
                           CODEC(ZSTD(3)),
    occurred_at        DateTime64(3, 'UTC') CODEC(Delta, T64, ZSTD(1)),
    tenant_id          LowCardinality(String),
    project_id         LowCardinality(Nullable(String)) CODEC(ZSTD(1)),
    api_key_sha256     LowCardinality(Nullable(FixedString(32))) DEFAULT unhex(api_key_hash_input) CODEC(ZSTD(1)),
    client_id          Nullable(String) CODEC(ZSTD(3)),
    user_id            LowCardinality(Nullable(String)) CODEC(ZSTD(1)),
    trace_id           Nullable(String) CODEC(ZSTD(3)),
    endpoint_id        Nullable(String) CODEC(ZSTD(3)),
    provider           LowCardinality(String) CODEC(ZSTD(1)),
    model              LowCardinality(String) CODEC(ZSTD(1)),
    operation          LowCardinality(String) CODEC(ZSTD(1)),
    input_tokens       UInt64 CODEC(T64, ZSTD(1)),
    cache_read_tokens  UInt64 CODEC(T64, ZSTD(1)),
    cache_write_tokens UInt64 CODEC(T64, ZSTD(1)),
    output_tokens      UInt64 CODEC(T64, ZSTD(1)),
    reasoning_tokens   UInt64 CODEC(T64, ZSTD(1)),
    latency_ms         Nullable(UInt32) CODEC(T64, ZSTD(1)),
    ttft_ms            Nullable(UInt32) CODEC(T64, ZSTD(1)),
    status_code        Nullable(UInt16) CODEC(T64, ZSTD(1)),
    error_type         LowCardinality(Nullable(String)) CODEC(ZSTD(1)),
    metadata           Map(String, String) CODEC(ZSTD(1)),
    source_partition   UInt32 CODEC(T64, ZSTD(1)),
    keep_first         UInt64 DEFAULT 18446744073709551615 - source_offset_input CODEC(Delta, ZSTD(1)),
    ingested_at        DateTime('UTC') DEFAULT toStartOfMinute(now()) CODEC(DoubleDelta, ZSTD(1)),
    cost_pico64        Int64 DEFAULT if(cost_pico_input BETWEEN -9223372036854775808 AND 9223372036854775807, toInt64(cost_pico_input), 0) CODEC(GCD, T64, ZSTD(1)),
    cost_pico_wide     Nullable(Int128) DEFAULT nullIf(if(cost_pico_input BETWEEN -9223372036854775808 AND 9223372036854775807, 0, cost_pico_input), 0) CODEC(ZSTD(1)),
    charge_pico64      Int64 DEFAULT if(charge_pico_input BETWEEN -9223372036854775808 AND 9223372036854775807, toInt64(charge_pico_input), 0) CODEC(GCD, T64, ZSTD(1)),
    charge_pico_wide   Nullable(Int128) DEFAULT nullIf(if(charge_pico_input BETWEEN -9223372036854775808 AND 9223372036854775807, 0, charge_pico_input), 0) CODEC(ZSTD(1)),
    cost_price_version LowCardinality(String) CODEC(ZSTD(1)),
    charge_price_version_or_same LowCardinality(String) DEFAULT if(charge_price_version_input = cost_price_version, '=', charge_price_version_input) CODEC(ZSTD(1)),

    event_id             String ALIAS if(event_id_text = '', toString(event_uuid), event_id_text),
    api_key_hash         Nullable(String) ALIAS lower(hex(api_key_sha256)),
    source_offset        UInt64 ALIAS 18446744073709551615 - keep_first,
    cost_pico            Int128 ALIAS ifNull(cost_pico_wide, toInt128(cost_pico64)),
    charge_pico          Int128 ALIAS ifNull(charge_pico_wide, toInt128(charge_pico64)),
    charge_price_version String ALIAS if(charge_price_version_or_same = '=', cost_price_version, charge_price_version_or_same),

    -- An insert that leaves out event_id_input (an INSERT without a column list cannot fill an
    -- EPHEMERAL column) would store every row under the id of '' and collapse them: refused.
    CONSTRAINT event_id_given CHECK event_uuid != toUUID('e3b0c442-98fc-8c14-9afb-f4c8996fb924')
)
ENGINE = ReplacingMergeTree(keep_first)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, toStartOfHour(occurred_at), UUIDv7ToDateTime(event_uuid), event_uuid)
SETTINGS non_replicated_deduplication_window = 10000;

-- Every stored event once (FINAL keeps the first copy), converted by the defaults above. Rows
-- from before 0007 get cost and charge 0 and empty price versions: they were never priced per
-- event, and the rollups hold their money; `meterline rerate` re-rates rollups, not these rows.
-- The column names read here exist in both layouts, so a run interrupted after the EXCHANGE
-- below is repeated safely (the apps do not write while `migrate` runs).
INSERT INTO ${database}.usage_events_0007
    (event_id_input, occurred_at, tenant_id, project_id, api_key_hash_input, client_id, user_id, trace_id, endpoint_id,
     provider, model, operation, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
     latency_ms, ttft_ms, status_code, error_type, metadata, source_partition, source_offset_input, ingested_at,
     cost_pico_input, charge_pico_input, cost_price_version, charge_price_version_input)
SELECT event_id, occurred_at, tenant_id, project_id, api_key_hash, client_id, user_id, trace_id, endpoint_id,
       provider, model, operation, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
       latency_ms, ttft_ms, status_code, error_type, metadata, source_partition, source_offset, toStartOfMinute(ingested_at),
       0, 0, '', ''
FROM ${database}.usage_events FINAL;

EXCHANGE TABLES ${database}.usage_events AND ${database}.usage_events_0007;

DROP TABLE ${database}.usage_events_0007;
