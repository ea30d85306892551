import { usageEventsInsertBody, type UsageEventRow } from '../libs/clickhouse/src/usage-events-table';
import { usageGenerator } from '../libs/testing/src/usage-generator';
if (process.argv[2] === 'ioredis') await import('ioredis');
const next = usageGenerator({ seed: 3 });
let off = 0;
const rows: UsageEventRow[] = Array.from({ length: 10_000 }, () => ({ ...next(), source_partition: 3, source_offset: String(1_000_000 + off++) }));
const cols = (r: UsageEventRow): unknown[] => [r.event_id, r.occurred_at, r.tenant_id, r.project_id, r.user_id, r.provider, r.model, r.operation, r.input_tokens, r.cache_read_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, r.latency_ms, r.ttft_ms, r.status_code, r.error_type, r.source_partition, r.source_offset];
function viaStringifyJoin(): Buffer {
  const lines = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) lines[i] = JSON.stringify(cols(rows[i]!));
  return Buffer.from(lines.join('\n') + '\n');
}
function viaStringifyWrite(): Buffer {
  let buf = Buffer.allocUnsafe(rows.length * 300);
  let pos = 0;
  for (const r of rows) {
    const line = JSON.stringify(cols(r));
    if (pos + line.length * 3 + 1 > buf.length) { const b = Buffer.allocUnsafe(buf.length * 2); buf.copy(b, 0, 0, pos); buf = b; }
    pos += buf.write(line, pos);
    buf[pos++] = 10;
  }
  return buf.subarray(0, pos);
}
function viaStringifyAll(): Buffer {
  const text = JSON.stringify(rows.map(cols));
  return Buffer.from(text);
}
for (let round = 0; round < 4; round++) {
  for (const [name, fn] of [['current', () => usageEventsInsertBody(rows).body], ['stringify+join', viaStringifyJoin], ['stringify+write', viaStringifyWrite], ['stringify all (not valid format, bound)', viaStringifyAll]] as const) {
    const t = performance.now();
    for (let k = 0; k < 5; k++) fn();
    console.log(name.padEnd(40), ((performance.now() - t) / 5 / 10).toFixed(2), 'us/row');
  }
}
console.log(usageEventsInsertBody(rows.slice(0, 1)).body.toString(), viaStringifyJoin().toString().split('\n')[0]);
