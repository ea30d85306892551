import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { usageEventV2Defaults } from '@meterline/domain';
import { defaultMigrationsDir, loadMigrations, migrate, quoteIdentifier, storedEventUuid, UsageEventsTable, type ClickHouseHandle } from '@meterline/clickhouse';
import { uniqueIdentifier } from '@meterline/testing';
import { chdbForThisFile, testLog } from './support/raw-path';

/** A migrations directory holding only 0001-0005: the layout before 0007. */
function oldMigrationsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meterline-old-migrations-'));
  for (const m of loadMigrations().filter((m) => m.version <= 5)) copyFileSync(join(defaultMigrationsDir(), m.file), join(dir, m.file));
  return dir;
}

interface OldRow {
  event_id: string;
  tenant_id: string;
  occurred_at: number;
  api_key_hash: string | null;
  input_tokens: number;
  output_tokens: number;
  source_partition: number;
  source_offset: number;
}

const HOUR = 3_600_000;
const base = Date.UTC(2026, 9, 14, 10);
const hash = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);

/** Old-layout rows: UUIDv7 ids, ids that are not UUIDs, an upper-case UUID, NULL key hashes and duplicates. */
function oldRows(): OldRow[] {
  const rows: OldRow[] = [];
  for (let i = 0; i < 600; i++) {
    const ms = base + ((i * 7_919) % (5 * HOUR));
    const kind = i % 4;
    const event_id =
      kind === 0 ? `0190${(i + 0x1000).toString(16).padStart(4, '0')}-aaaa-7bbb-8ccc-${i.toString(16).padStart(12, '0')}`
      : kind === 1 ? `gen-${i}`
      : kind === 2 ? `ORDER/${i}/ümlaut`
      : `0190${(i + 0x1000).toString(16).padStart(4, '0')}-AAAA-7BBB-8CCC-${i.toString(16).padStart(12, '0')}`;
    rows.push({ event_id, tenant_id: `t${i % 3}`, occurred_at: ms, api_key_hash: i % 5 === 0 ? null : hash(i % 7), input_tokens: 100 + i, output_tokens: 3 * i, source_partition: i % 2, source_offset: 1_000 + i });
  }
  return rows;
}

async function insertOld(handle: ClickHouseHandle, rows: readonly OldRow[], token: string): Promise<void> {
  await handle.client.insert({
    table: `${quoteIdentifier(handle.database)}.usage_events`,
    values: rows.map((r) => ({ ...r, source_offset: String(r.source_offset), provider: 'openai', model: 'gpt-4o', operation: 'chat', cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, metadata: { region: 'eu' } })),
    format: 'JSONEachRow',
    clickhouse_settings: { insert_deduplication_token: token },
  });
}

async function snapshot(handle: ClickHouseHandle): Promise<{ counts: Awaited<ReturnType<UsageEventsTable['counts']>>; totals: unknown; rows: unknown }> {
  const table = new UsageEventsTable(handle);
  const rows = await (
    await handle.client.query({
      query: `SELECT event_id, tenant_id, toUnixTimestamp64Milli(occurred_at) AS ms, api_key_hash, source_partition, source_offset, input_tokens, metadata
              FROM ${quoteIdentifier(handle.database)}.usage_events FINAL ORDER BY tenant_id, event_id`,
      format: 'JSONEachRow',
    })
  ).json();
  // Totals over the buckets both layouts have (tenantTotals reads the v2 buckets of migration 0009).
  const totals = await (
    await handle.client.query({
      query: `SELECT tenant_id, count() AS events, sum(input_tokens) AS input, sum(output_tokens) AS output FROM ${quoteIdentifier(handle.database)}.usage_events FINAL GROUP BY tenant_id ORDER BY tenant_id`,
      format: 'JSONEachRow',
    })
  ).json();
  return { counts: await table.counts(), totals, rows };
}

describe('migration 0007 (compact usage_events)', () => {
  it('converts a populated old table: every event once, ids, key hashes and totals read back identical, the first copy kept', async () => {
    const handle: ClickHouseHandle = { ...chdbForThisFile(), database: uniqueIdentifier('mig') };
    await migrate(handle, testLog, { dir: oldMigrationsDir() });
    const rows = oldRows();
    await insertOld(handle, rows, 'first');
    // Re-deliveries of a third of the events at later offsets (a separate insert: separate parts).
    const again = rows.filter((_, i) => i % 3 === 0).map((r) => ({ ...r, source_offset: r.source_offset + 50_000 }));
    await insertOld(handle, again, 'second');
    const before = await snapshot(handle);
    expect(before.counts).toEqual({ rows: rows.length + again.length, distinctEvents: rows.length, finalRows: rows.length });

    const result = await migrate(handle, testLog, { rawTtlMonths: 36 });
    expect(result.applied).toContain('0007_compact_usage_events.sql');
    const after = await snapshot(handle);
    expect(after.totals).toEqual(before.totals);
    expect(after.rows).toEqual(before.rows);
    expect(after.counts.distinctEvents).toBe(rows.length);
    expect(after.counts.finalRows).toBe(rows.length);
    // The copy kept is the first (lowest offset), as the stream counted it.
    const offsets = (after.rows as { source_offset: string }[]).map((r) => Number(r.source_offset));
    expect(offsets.every((o) => o < 50_000)).toBe(true);

    // Stored compactly: canonical ids as the UUID alone, others with their text, the TS mirror agreeing.
    const stored = await (
      await handle.client.query({ query: `SELECT event_id, toString(event_uuid) AS uuid, event_id_text, toString(cost_pico) AS cost, cost_price_version FROM ${quoteIdentifier(handle.database)}.usage_events FINAL`, format: 'JSONEachRow' })
    ).json<{ event_id: string; uuid: string; event_id_text: string; cost: string; cost_price_version: string }>();
    for (const r of stored) {
      expect(r.uuid).toBe(storedEventUuid(r.event_id));
      expect(r.event_id_text).toBe(/^[0-9a-f-]{36}$/.test(r.event_id) ? '' : r.event_id);
      // Rows from before 0007 were never priced per event.
      expect([r.cost, r.cost_price_version]).toEqual(['0', '']);
    }
    expect(stored.filter((r) => r.event_id_text === '').length).toBe(rows.filter((r) => /^[0-9a-f-]{36}$/.test(r.event_id)).length);
    const columns = await (
      await handle.client.query({ query: `SELECT name, type FROM system.columns WHERE database = {db:String} AND table = 'usage_events' AND name IN ('event_uuid', 'api_key_sha256')`, query_params: { db: handle.database }, format: 'JSONEachRow' })
    ).json<{ name: string; type: string }>();
    expect(Object.fromEntries(columns.map((c) => [c.name, c.type]))).toEqual({ event_uuid: 'UUID', api_key_sha256: 'LowCardinality(Nullable(FixedString(32)))' });

    // 0009 kept every converted row: the v2 buckets read 0, units {}, the tier NULL; latency is a decimal.
    const v2 = await (
      await handle.client.query({
        query: `SELECT count() AS n, sum(cache_write_1h_tokens + audio_input_tokens + audio_output_tokens + image_input_tokens + image_output_tokens) AS v2, countIf(length(units) > 0) AS with_units,
                       countIf(service_tier IS NOT NULL) AS with_tier, toTypeName(any(latency_ms)) AS latency_type
                FROM ${quoteIdentifier(handle.database)}.usage_events FINAL`,
        format: 'JSONEachRow',
      })
    ).json<Record<string, string>>();
    expect(v2).toEqual([{ n: String(rows.length), v2: '0', with_units: '0', with_tier: '0', latency_type: 'Nullable(Decimal(18, 3))' }]);

    // Applying again changes nothing; the table keeps deduplicating after the conversion.
    expect((await migrate(handle, testLog)).applied).toEqual([]);
    await new UsageEventsTable(handle).insert([{ ...sampleEvent(rows[1]!), source_partition: 1, source_offset: '90000' }], 'redelivered');
    expect((await new UsageEventsTable(handle).counts()).finalRows).toBe(rows.length);
  });

  it('creates the compact table on a fresh database', async () => {
    const handle: ClickHouseHandle = { ...chdbForThisFile(), database: uniqueIdentifier('fresh') };
    await migrate(handle, testLog, { rawTtlMonths: 36 });
    expect(await new UsageEventsTable(handle).counts()).toEqual({ rows: 0, distinctEvents: 0, finalRows: 0 });
    const engine = await (await handle.client.query({ query: `SELECT sorting_key FROM system.tables WHERE database = {db:String} AND name = 'usage_events'`, query_params: { db: handle.database }, format: 'JSONEachRow' })).json<{ sorting_key: string }>();
    expect(engine[0]?.sorting_key).toBe('tenant_id, toStartOfHour(occurred_at), UUIDv7ToDateTime(event_uuid), event_uuid');
    // A writer that does not name the *_input columns would store every row under the id of '': refused.
    const unnamed = handle.client.insert({ table: `${quoteIdentifier(handle.database)}.usage_events`, values: [{ event_id: 'x', occurred_at: Date.UTC(2026, 9, 1), tenant_id: 't', provider: 'p', model: 'm', operation: 'o' }], format: 'JSONEachRow' });
    await expect(unnamed).rejects.toThrow(/event_id_given/);
  });
});

/** The event of an old row, for a re-delivery through the new writer. */
function sampleEvent(r: OldRow) {
  return {
    ...usageEventV2Defaults(),
    event_id: r.event_id, occurred_at: r.occurred_at, tenant_id: r.tenant_id, project_id: null, api_key_hash: r.api_key_hash, client_id: null, user_id: null, trace_id: null, endpoint_id: null,
    provider: 'openai', model: 'gpt-4o', operation: 'chat', input_tokens: r.input_tokens, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: r.output_tokens, reasoning_tokens: 0,
    latency_ms: null, ttft_ms: null, status_code: null, error_type: null, metadata: {},
  };
}
