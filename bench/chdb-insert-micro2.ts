// Experiments on the raw chdb insert path. node --import tsx bench/chdb-insert-micro2.ts
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { migrate, type UsageEventRow } from '@meterline/clickhouse';
import { createLogger } from '@meterline/platform';
import { usageGenerator } from '@meterline/testing';

const log = createLogger({ level: 'error', format: 'json', name: 'micro' });
const perInsert = Number(process.argv[2] ?? 10_000);
const inserts = Number(process.argv[3] ?? 5);
const connection = createChdbConnection({ path: mkdtempSync(join(tmpdir(), 'micro2-chdb-')) });
const client = createClient({ connection } as Parameters<typeof createClient>[0]);
const handle = { client, database: 'm2', embedded: true, close: () => client.close() };
await migrate(handle, log);
const next = usageGenerator({ seed: 9, idPrefix: 'micro' });
let offset = 0;
const batch = (): UsageEventRow[] => Array.from({ length: perInsert }, () => ({ ...next(), source_partition: 1, source_offset: String(offset++) }));
// The table's insert columns (migration 0007): the text forms go to the EPHEMERAL *_input columns.
const INPUT: Record<string, string> = { event_id: 'event_id_input', api_key_hash: 'api_key_hash_input', source_offset: 'source_offset_input' };
const asInsert = (r: UsageEventRow): Record<string, unknown> => Object.fromEntries(Object.entries(r).map(([k, v]) => [INPUT[k] ?? k, v]));
const json = (rows: UsageEventRow[]): Buffer => Buffer.from(rows.map((r) => JSON.stringify(asInsert(r))).join('\n') + '\n');

async function time(name: string, fn: (i: number) => Promise<unknown>): Promise<void> {
  await fn(-1);
  const t0 = performance.now();
  for (let i = 0; i < inserts; i++) await fn(i);
  const ms = (performance.now() - t0) / inserts;
  console.log(`${name.padEnd(50)} ${ms.toFixed(1).padStart(7)} ms/insert ${((perInsert / ms) * 1000).toFixed(0).padStart(8)} rows/s`);
}
const bufs = Array.from({ length: inserts + 1 }, () => json(batch()));
let tag = 0;
const raw = (table: string, settings: Record<string, string | number>, body: (i: number) => Buffer, format: 'JSONEachRow' | 'TSV' = 'JSONEachRow') => (i: number) =>
  connection.chdb.rawInsert({ table, values: body(i), format, settings });
await time('raw JSONEachRow + token', (i) => raw('m2.usage_events', { insert_deduplication_token: `a${tag++}`, async_insert: 0 }, () => bufs[i + 1]!)(i));
await time('raw JSONEachRow no settings', (i) => raw('m2.usage_events', {}, () => bufs[i + 1]!)(i));
await client.command({ query: 'CREATE TABLE m2.plain AS m2.usage_events ENGINE = MergeTree ORDER BY (tenant_id, event_uuid)' });
await time('raw JSONEachRow plain MergeTree', (i) => raw('m2.plain', {}, () => bufs[i + 1]!)(i));
await client.command({ query: 'CREATE TABLE m2.nullt AS m2.usage_events ENGINE = Null' });
await time('raw JSONEachRow Null engine (parse only)', (i) => raw('m2.nullt', {}, () => bufs[i + 1]!)(i));
await time('SELECT 1', () => connection.chdb.queryAsync('SELECT 1'));
await time('client.insert JSONEachRow', (i) => client.insert({ table: 'm2.usage_events', values: bufs[i + 1]!.toString().trim().split('\n').map((l) => JSON.parse(l) as unknown), format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: `b${tag++}` } }));
const COLS = ['event_id_input','occurred_at','tenant_id','project_id','api_key_hash_input','client_id','user_id','trace_id','endpoint_id','provider','model','operation','input_tokens','cache_read_tokens','cache_write_tokens','output_tokens','reasoning_tokens','latency_ms','ttft_ms','status_code','error_type','metadata','source_partition','source_offset_input'] as const;
const esc = (s: string): string => s.replace(/[\\\t\n\r\0]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\0'));
const tsvRow = (r: UsageEventRow): string => COLS.map((c) => { const v = asInsert(r)[c]; if (v === null) return '\\N'; if (typeof v === 'string') return esc(v); if (typeof v === 'number') return String(v); return '{}'; }).join('\t');
const tsvs = Array.from({ length: inserts + 1 }, () => Buffer.from(batch().map(tsvRow).join('\n') + '\n'));
const jce = Array.from({ length: inserts + 1 }, () => Buffer.from(batch().map((r) => JSON.stringify(COLS.map((c) => asInsert(r)[c]))).join('\n') + '\n'));
const rawc = (table: string, values: Buffer, format: 'JSONEachRow' | 'TSV' | 'JSONCompactEachRow', settings: Record<string, string | number> = {}) => connection.chdb.rawInsert({ table, values, format, columns: COLS, settings });
console.log(tsvs[0]!.toString().split('\n')[0]);
await time('raw TSV Null', (i) => rawc('m2.nullt', tsvs[i + 1]!, 'TSV'));
await time('raw JSONCompactEachRow Null', (i) => rawc('m2.nullt', jce[i + 1]!, 'JSONCompactEachRow'));
await time('raw JSONEachRow Null cols', (i) => rawc('m2.nullt', bufs[i + 1]!, 'JSONEachRow'));
await time('raw TSV Null parallel_parsing=0', (i) => rawc('m2.nullt', tsvs[i + 1]!, 'TSV', { input_format_parallel_parsing: 0 }));
await time('raw JSONEachRow Null parallel_parsing=0', (i) => rawc('m2.nullt', bufs[i + 1]!, 'JSONEachRow', { input_format_parallel_parsing: 0 }));
await time('raw TSV usage_events + token', (i) => rawc('m2.usage_events', tsvs[i + 1]!, 'TSV', { insert_deduplication_token: `c${tag++}`, async_insert: 0 }));
await time('raw TSV usage_events + token, pp=0', (i) => rawc('m2.usage_events', tsvs[i + 1]!, 'TSV', { insert_deduplication_token: `d${tag++}`, async_insert: 0, input_format_parallel_parsing: 0 }));
const counts = await (await client.query({ query: 'SELECT count() c FROM m2.usage_events', format: 'JSONEachRow' })).json();
console.log(counts);
await client.close();
