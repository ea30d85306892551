// Compressed bytes per raw event, before and after migration 0007 (issue 14). Not a test: it
// prints figures (docs/benchmarks.md).
//
//   node --import tsx bench/raw-storage.ts [--events 1000000] [--gap-ms 100]
//
// The realistic reference is the sample traffic (libs/local/src/sample-traffic.ts): the
// usage generator's priced models, tenants, token spreads, cache hits and errors, ids from the
// shim (UUIDv7 at the event time), API keys hashed by the shim (3 per tenant), one event every
// `gap-ms` on average (uniform jitter), offsets per partition of 12 (keyed by tenant), ingested
// a few hundred ms after the event. Each event is priced by the shipped price books.
// 1. the old layout (migrations 0001-0005 only), rows written as the old sink wrote them;
// 2. migration 0007 applied to a copy, the same rows written through its insert columns with
//    their money (what the sink writes now).
// Both OPTIMIZE FINAL, then system.parts / system.columns data_compressed_bytes per event.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultMigrationsDir, loadMigrations, migrate, openClickHouse, type ClickHouseHandle } from '@meterline/clickhouse';
import { priceEvent } from '@meterline/domain';
import { pricedSampleModels, repoRoot, usageGenerator } from '@meterline/local';
import { createLogger } from '@meterline/platform';
import { loadPriceBooks } from '@meterline/pricing';
import { hashApiKey, uuidv7 } from '@meterline/producer';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '1000000' }, 'gap-ms': { type: 'string', default: '100' } } });
const EVENTS = Number(args.events);
const GAP_MS = Number(args['gap-ms']);
const PARTITIONS = 12;
const log = createLogger({ level: 'error', format: 'json', name: 'bench-raw-storage' });
const dir = mkdtempSync(join(tmpdir(), 'meterline-bench-raw-'));
const base = openClickHouse({ database: 'old_layout', chdbPath: dir });
const compact: ClickHouseHandle = { ...base, database: 'compact' };

async function seedOldLayout(): Promise<void> {
  const oldDir = mkdtempSync(join(tmpdir(), 'meterline-old-migrations-'));
  for (const m of loadMigrations().filter((m) => m.version <= 5)) copyFileSync(join(defaultMigrationsDir(), m.file), join(oldDir, m.file));
  await migrate(base, log, { dir: oldDir });
  await base.client.command({ query: 'CREATE TABLE old_layout.money (event_id String, cost Int64, charge Int64, cost_version String, charge_version String) ENGINE = MergeTree ORDER BY event_id' });
  const books = loadPriceBooks(join(repoRoot(), 'pricing'));
  let t = Date.UTC(2026, 5, 1);
  let random = 12345;
  const jitter = (): number => {
    random = (random * 1103515245 + 12345) % 2147483648;
    return random / 2147483648;
  };
  const next = usageGenerator({ seed: 7, models: pricedSampleModels, occurredAt: () => t });
  const offsets = new Array<number>(PARTITIONS).fill(0);
  let rows: Record<string, unknown>[] = [];
  let money: Record<string, unknown>[] = [];
  const flush = async (): Promise<void> => {
    await base.client.insert({ table: 'old_layout.usage_events', values: rows, format: 'JSONEachRow' });
    await base.client.insert({ table: 'old_layout.money', values: money, format: 'JSONEachRow' });
    rows = [];
    money = [];
  };
  for (let i = 0; i < EVENTS; i++) {
    t += Math.floor(jitter() * 2 * GAP_MS);
    const e = next();
    const partition = [...e.tenant_id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1_000_003, 7) % PARTITIONS;
    const event = { ...e, event_id: uuidv7(e.occurred_at + Math.floor(jitter() * 5)), api_key_hash: hashApiKey(`sk-sample-${e.tenant_id}-${i % 3}`) };
    rows.push({ ...event, source_partition: partition, source_offset: String(offsets[partition]!++), ingested_at: event.occurred_at + 200 + Math.floor(jitter() * 1_500) });
    const m = priceEvent(books, event);
    money.push({ event_id: event.event_id, cost: m.costPico.toString(), charge: m.chargePico.toString(), cost_version: m.costVersion ?? '', charge_version: m.chargeVersion ?? '' });
    if (rows.length === 20_000) await flush();
  }
  if (rows.length > 0) await flush();
}

async function seedCompact(): Promise<void> {
  await migrate(compact, log);
  await compact.client.command({
    query: `INSERT INTO compact.usage_events (event_id_input, occurred_at, tenant_id, project_id, api_key_hash_input, client_id, user_id, trace_id, endpoint_id,
              provider, model, operation, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
              latency_ms, ttft_ms, status_code, error_type, metadata, source_partition, source_offset_input, ingested_at,
              cost_pico_input, charge_pico_input, cost_price_version, charge_price_version_input)
            SELECT e.event_id, occurred_at, tenant_id, project_id, api_key_hash, client_id, user_id, trace_id, endpoint_id,
              provider, model, operation, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
              latency_ms, ttft_ms, status_code, error_type, metadata, source_partition, source_offset, toStartOfMinute(ingested_at),
              m.cost, m.charge, m.cost_version, m.charge_version
            FROM old_layout.usage_events AS e INNER JOIN old_layout.money AS m ON m.event_id = e.event_id`,
  });
}

async function report(database: string): Promise<void> {
  await base.client.command({ query: `OPTIMIZE TABLE ${database}.usage_events FINAL` });
  const [total] = await (await base.client.query({ query: `SELECT count() AS n, (SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = '${database}' AND table = 'usage_events' AND active) AS bytes FROM ${database}.usage_events`, format: 'JSONEachRow' })).json<{ n: string; bytes: string }>();
  const n = Number(total?.n);
  const columns = await (await base.client.query({ query: `SELECT name, type, data_compressed_bytes AS bytes FROM system.columns WHERE database = '${database}' AND table = 'usage_events' AND data_compressed_bytes > 0 ORDER BY bytes DESC`, format: 'JSONEachRow' })).json<{ name: string; type: string; bytes: string }>();
  console.log(`${database}: ${n.toLocaleString('en-US')} events, ${(Number(total?.bytes) / n).toFixed(2)} compressed bytes per event`);
  for (const c of columns) console.log(`  ${c.name.padEnd(30)} ${(Number(c.bytes) / n).toFixed(2).padStart(6)}  ${c.type}`);
}

try {
  await seedOldLayout();
  await seedCompact();
  await report('old_layout');
  await report('compact');
} finally {
  await base.close();
  rmSync(dir, { recursive: true, force: true });
}
