// Checks that UsageEventsTable.insert (pre-serialised JSONCompactEachRow, raw chdb path and the
// HTTP-style exec path) stores exactly what the previous JSONEachRow client.insert stored.
// node --import tsx bench/verify-insert-format.ts
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageEventsTable, migrate, openClickHouse, type UsageEventRow } from '@meterline/clickhouse';
import { createLogger } from '@meterline/platform';
import { usageGenerator } from '@meterline/local';

const log = createLogger({ level: 'error', format: 'json', name: 'verify' });
const base = openClickHouse({ database: 'default', chdbPath: mkdtempSync(join(tmpdir(), 'verify-chdb-')) });
const weird = ['', 'plain', 'tab\there', 'new\nline', 'cr\rx', 'back\\slash', "quote'single", 'quote"double', 'nul\u0000x', 'é', '😀', '\u2028\u2029', 'end\\'];
const next = usageGenerator({ seed: 77 });
const noMetadata: Record<string, string> = {};
const rows: UsageEventRow[] = Array.from({ length: 3_000 }, (_, i) => {
  const e = next();
  const w = (k: number): string => weird[(i + k) % weird.length] || 'x';
  return {
    ...e,
    event_id: i % 10 === 0 ? `id-${w(1)}-${i}` : e.event_id,
    occurred_at: i % 17 === 0 ? 1_000_000_000_000 + i : e.occurred_at,
    project_id: i % 3 === 0 ? w(2) : e.project_id,
    api_key_hash: i % 5 === 0 ? 'ab'.repeat(32) : null,
    client_id: i % 7 === 0 ? w(3) : null,
    trace_id: i % 11 === 0 ? w(4) : null,
    model: i % 13 === 0 ? w(5) : e.model,
    error_type: i % 19 === 0 ? w(6) : e.error_type,
    metadata: i % 4 === 0 ? { [w(7)]: w(8), region: 'eu' } : noMetadata,
    input_tokens: i % 23 === 0 ? 2 ** 53 - 1 : e.input_tokens,
    status_code: i % 29 === 0 ? null : e.status_code,
    source_partition: i % 12,
    source_offset: String(2 ** 60 + i * 1_000),
  };
});
// Batches where optional columns are all NULL / all empty, to exercise the left-out columns.
const sparse: UsageEventRow[] = rows.slice(0, 500).map((r) => ({ ...r, event_id: `sparse-${r.event_id}`, project_id: null, api_key_hash: null, client_id: null, user_id: null, trace_id: null, endpoint_id: null, metadata: {} }));

// Every field as readers read it (the ALIAS columns give back the text forms).
const READ = `event_id, occurred_at, tenant_id, project_id, api_key_hash, client_id, user_id, trace_id, endpoint_id, provider, model, operation,
  input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, latency_ms, ttft_ms, status_code, error_type, metadata,
  source_partition, source_offset, cost_pico, charge_pico, cost_price_version, charge_price_version`;
/** The previous client.insert path: one JSON object per row, the text forms into the table's *_input columns. */
const INPUT: Record<string, string> = { event_id: 'event_id_input', api_key_hash: 'api_key_hash_input', source_offset: 'source_offset_input' };
const asInsert = (r: UsageEventRow): Record<string, unknown> => Object.fromEntries(Object.entries(r).map(([k, v]) => [INPUT[k] ?? k, v]));

async function dump(database: string): Promise<string> {
  const result = await base.client.query({ query: `SELECT ${READ} FROM ${database}.usage_events ORDER BY event_id, source_offset`, format: 'JSONEachRow' });
  return result.text();
}
const old = { ...base, database: 'verify_old' };
const raw = { ...base, database: 'verify_raw' };
const http = { ...base, database: 'verify_http', rawInsert: undefined };
for (const handle of [old, raw, http]) await migrate(handle, log);
for (const [i, batch] of [rows.slice(0, 1_500), rows.slice(1_500), sparse].entries()) {
  await base.client.insert({ table: `${old.database}.usage_events`, values: batch.map(asInsert), columns: Object.keys(asInsert(batch[0]!)) as [string, ...string[]], format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: `t${i}`, async_insert: 0 } });
  await new UsageEventsTable(raw).insert(batch, `t${i}`);
  await new UsageEventsTable(http).insert(batch, `t${i}`);
  // A retried insert with the same token is dropped.
  await new UsageEventsTable(raw).insert(batch, `t${i}`);
}
const [a, b, c] = await Promise.all([dump(old.database), dump(raw.database), dump(http.database)]);
const lines = a.split('\n').length - 1;
console.log(`rows: old ${lines}, raw ${b.split('\n').length - 1}, http ${c.split('\n').length - 1}`);
console.log(a === b && a === c ? 'IDENTICAL' : 'DIFFERENT');
if (a !== b) {
  const al = a.split('\n');
  const bl = b.split('\n');
  const k = al.findIndex((l, i) => l !== bl[i]);
  console.log('old:', al[k]);
  console.log('new:', bl[k]);
}
await base.close();
process.exit(a === b && a === c ? 0 : 1);
