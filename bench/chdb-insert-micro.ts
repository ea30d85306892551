// Micro-benchmark: ways to insert usage_events rows into embedded ClickHouse (chdb).
// node --import tsx bench/chdb-insert-micro.ts [rowsPerInsert=10000] [inserts=10]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageEventsTable, migrate, openClickHouse, type UsageEventRow } from '@meterline/clickhouse';
import { createLogger } from '@meterline/platform';
import { uniqueIdentifier, usageGenerator } from '@meterline/testing';

const log = createLogger({ level: 'error', format: 'json', name: 'micro' });
const perInsert = Number(process.argv[2] ?? 10_000);
const inserts = Number(process.argv[3] ?? 10);
const only = process.argv[4];
const handle = { ...openClickHouse({ database: 'default', chdbPath: mkdtempSync(join(tmpdir(), 'micro-chdb-')) }), database: uniqueIdentifier('micro') };
await migrate(handle, log);
const table = new UsageEventsTable(handle);
const next = usageGenerator({ seed: 9, idPrefix: 'micro' });
let offset = 0;
const noMetadata: Record<string, string> = {};
const batch = (): UsageEventRow[] => Array.from({ length: perInsert }, () => ({ ...next(), metadata: offset % 7 === 0 ? { region: 'eu\t"x"' } : noMetadata, source_partition: 1, source_offset: String(offset++) }));

// Event-loop lag probe: max gap between 1 ms timer ticks while inserts run.
let maxLag = 0;
let last = performance.now();
const probe = setInterval(() => {
  const now = performance.now();
  maxLag = Math.max(maxLag, now - last - 1);
  last = now;
}, 1);

async function run(name: string, insert: (rows: UsageEventRow[], i: number) => Promise<void>): Promise<void> {
  if (only !== undefined && only !== name) return;
  const batches = Array.from({ length: inserts }, batch);
  await insert(batch(), -1); // warm-up
  maxLag = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < batches.length; i++) await insert(batches[i]!, i);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(`${name.padEnd(28)} ${((perInsert * inserts) / (ms / 1000)).toFixed(0).padStart(8)} rows/s  ${(ms / inserts).toFixed(1).padStart(7)} ms/insert  process cpu ${((cpu.user + cpu.system) / 1000 / inserts).toFixed(1).padStart(7)} ms/insert  max loop lag ${maxLag.toFixed(1)} ms`);
}

let tag = 0;
await run('table.insert (current)', (rows) => table.insert(rows, `t-${tag++}`));
await run('table.insert (current)#2', (rows) => table.insert(rows, `t-${tag++}`));
const http = new UsageEventsTable({ ...handle, rawInsert: undefined });
await run('table.insert via exec (HTTP path)', (rows) => http.insert(rows, `h-${tag++}`));
// Same token twice: the second insert must be dropped by ClickHouse.
const again = batch();
await table.insert(again, 'same-token');
await table.insert(again, 'same-token');
clearInterval(probe);
const counts = await table.counts();
console.log(counts, 'expected', (3 * (inserts + 1) + 1) * perInsert);
await handle.close();
