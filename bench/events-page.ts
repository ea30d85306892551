// GET /v1/events' query (rawEventsPage) on a 10M-event tenant, and the raw table's compressed
// bytes per event for those rows. Not a test: it prints figures.
//
//   node --import tsx bench/events-page.ts [--events 10000000] [--pages 200]
//
// One tenant's month (plus 1M events of 9 other tenants), generated inside the embedded
// ClickHouse through the table's insert columns (UUIDv7 ids at the event time, SHA-256 key
// hashes, 3 keys per tenant, a few models, offsets per partition, priced-looking amounts), then
// OPTIMIZE FINAL. Timed: the first page (newest) and pages walked with the cursor, with and
// without filters, p50 / p99 over --pages requests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { migrate, openClickHouse, rawEventsPage, type RawEventsQuery } from '@meterline/clickhouse';
import { createLogger } from '@meterline/platform';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '10000000' }, pages: { type: 'string', default: '200' } } });
const EVENTS = Number(args.events);
const PAGES = Number(args.pages);
const log = createLogger({ level: 'error', format: 'json', name: 'bench-events-page' });
const dir = process.env.BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'meterline-bench-events-'));
const handle = openClickHouse({ database: 'bench', chdbPath: dir });
const MONTH_START = Date.UTC(2026, 9, 1);
const MONTH_MS = 31 * 86_400_000;

async function seed(tenant: string, count: number, offsetBase: number): Promise<void> {
  // Event i at an even spread over the month with jitter; its UUIDv7 carries the same ms.
  await handle.client.command({
    query: `
      INSERT INTO bench.usage_events (event_id_input, occurred_at, tenant_id, project_id, api_key_hash_input, user_id, provider, model, operation,
        input_tokens, cache_read_tokens, output_tokens, latency_ms, ttft_ms, status_code, error_type, source_partition, source_offset_input,
        cost_pico_input, charge_pico_input, cost_price_version, charge_price_version_input)
      SELECT lower(concat(substring(t, 1, 8), '-', substring(t, 9, 4), '-7', substring(r, 1, 3), '-8', substring(r, 4, 3), '-', substring(r, 7, 12))) AS id,
             fromUnixTimestamp64Milli(ms, 'UTC'), {tenant:String}, ['search', 'support-bot', 'copilot'][1 + number % 3], lower(hex(SHA256(concat({tenant:String}, toString(number % 3))))),
             if(number % 2 = 0, concat('user-', toString(cityHash64(number) % 500)), NULL), ['openai', 'openai', 'anthropic', 'google'][1 + m], ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4', 'gemini-2.5-flash'][1 + m], 'chat',
             200 + cityHash64(number, 1) % 3000, if(cityHash64(number, 2) % 3 = 0, cityHash64(number, 3) % 1500, 0), 50 + cityHash64(number, 4) % 800,
             200 + cityHash64(number, 5) % 4000, 50 + cityHash64(number, 6) % 800, if(number % 50 = 0, 429, 200), if(number % 50 = 0, 'rate_limit', NULL),
             ${offsetBase % 12}, ${offsetBase} + number,
             (200 + cityHash64(number, 1) % 3000) * 2500000 + (50 + cityHash64(number, 4) % 800) * 10000000, toInt128((200 + cityHash64(number, 1) % 3000) * 3000000 + (50 + cityHash64(number, 4) % 800) * 12000000),
             'openai/gpt-4o@2024-08-06', 'openai/gpt-4o@2024-08-06'
      FROM (SELECT number, ${MONTH_START} + intDiv(number * ${MONTH_MS}, {count:UInt64}) + cityHash64(number, 9) % 1000 AS ms, cityHash64(number, 7) % 4 AS m,
                   leftPad(lower(hex(ms)), 12, '0') AS t, lower(hex(cityHash64(number, 8))) AS r0, concat(r0, r0) AS r
            FROM numbers({count:UInt64}))`,
    query_params: { tenant, count },
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function time(what: string, queries: () => AsyncGenerator<RawEventsQuery>): Promise<void> {
  const ms: number[] = [];
  let rows = 0;
  for await (const q of queries()) {
    const started = performance.now();
    const page = await rawEventsPage(handle, q);
    ms.push(performance.now() - started);
    rows += page.rows.length;
  }
  ms.sort((a, b) => a - b);
  console.log(`${what}: ${ms.length} pages, ${rows} rows, p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms`);
}

try {
  await migrate(handle, log);
  const started = Date.now();
  await seed('big', EVENTS, 0);
  for (let t = 0; t < 9; t++) await seed(`small-${t}`, Math.ceil(EVENTS / 90), 1_000_000_000 * (t + 1));
  await handle.client.command({ query: 'OPTIMIZE TABLE bench.usage_events FINAL' });
  const [size] = await (await handle.client.query({ query: `SELECT count() AS n, (SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = 'bench' AND table = 'usage_events' AND active) AS bytes FROM bench.usage_events`, format: 'JSONEachRow' })).json<{ n: string; bytes: string }>();
  console.log(`seeded ${size?.n} events in ${((Date.now() - started) / 1000).toFixed(0)} s; ${(Number(size?.bytes) / Number(size?.n)).toFixed(2)} compressed bytes per event (synthetic ids and amounts)`);

  const walk = (filters: RawEventsQuery['filters'], extra: Partial<RawEventsQuery> = {}) => async function* (): AsyncGenerator<RawEventsQuery> {
    let after: RawEventsQuery['after'];
    for (let i = 0; i < PAGES; i++) {
      const q: RawEventsQuery = { tenantId: 'big', filters, limit: 100, after, ...extra };
      yield q;
      after = (await rawEventsPage(handle, q)).next;
      if (after === undefined) return;
    }
  };
  await time('newest page of the big tenant (no cursor)', async function* () {
    for (let i = 0; i < PAGES; i++) yield await Promise.resolve({ tenantId: 'big', filters: {}, limit: 100 });
  });
  await time('walk with the cursor, 100 a page', walk({}));
  await time('walk from mid-month (to = the 16th)', walk({}, { toMs: MONTH_START + 15 * 86_400_000 }));
  await time('walk filtered by model', walk({ model: 'claude-sonnet-4' }));
  await time('walk of errors in a mid-month day', walk({}, { status: 'error', fromMs: MONTH_START + 14 * 86_400_000, toMs: MONTH_START + 15 * 86_400_000 }));
} finally {
  await handle.close();
  if (process.env.BENCH_DIR === undefined) rmSync(dir, { recursive: true, force: true });
}
