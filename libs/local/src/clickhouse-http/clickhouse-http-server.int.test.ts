import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageEventsTable, loadMigrations, migrate, openClickHouse, type TenantUsageTotals, type UsageEventRow } from '@meterline/clickhouse';
import { silentLogger } from '@meterline/platform';
import { usageGenerator } from '../usage-generator';
import { startClickHouseHttpServer, type ClickHouseHttpServer } from './server';

const users = [{ name: 'default' }, { name: 'writer', password: 's3cret' }, { name: 'reader', password: 'r3ad', readonly: true }];
const MAX_BODY_BYTES = 4 * 1024 * 1024;

let dir: string;
let server: ClickHouseHttpServer;
const clients: ClickHouseClient[] = [];

// libchdb binds one data directory per process: each test's server is closed (and its
// directory released) before the next test opens a fresh one.
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meterline-ch-http-test-'));
  server = await startClickHouseHttpServer({ chdbPath: dir, users, maxBodyBytes: MAX_BODY_BYTES, log: silentLogger() });
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function clientFor(options: ClickHouseClientConfigOptions = {}): ClickHouseClient {
  const client = createClient({ url: server.url, log: { level: ClickHouseLogLevel.OFF }, ...options });
  clients.push(client);
  return client;
}

async function rejection(promise: Promise<unknown>): Promise<ClickHouseError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ClickHouseError);
  return error as ClickHouseError;
}

function post(body: string | Uint8Array, search = '', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}/${search}`, { method: 'POST', body, headers });
}

describe('ClickHouse HTTP front for chdb, as curl uses it', () => {
  it('answers health checks, GET and POST queries, with ClickHouse headers', async () => {
    for (const path of ['/ping', '/', '/replicas_status']) {
      const health = await fetch(`${server.url}${path}`);
      expect([health.status, await health.text()]).toEqual([200, 'Ok.\n']);
    }
    const get = await fetch(`${server.url}/?query=${encodeURIComponent('SELECT 1')}&query_id=q-1`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('1\n');
    expect(get.headers.get('x-clickhouse-query-id')).toBe('q-1');
    expect(get.headers.get('x-clickhouse-format')).toBe('TabSeparated');
    expect(get.headers.get('content-type')).toBe('text/tab-separated-values; charset=UTF-8');
    expect(JSON.parse(get.headers.get('x-clickhouse-summary') ?? '{}')).toMatchObject({ read_rows: '1', written_rows: '0' });

    const body = await post('SELECT number FROM numbers(3)');
    expect(await body.text()).toBe('0\n1\n2\n');
    expect(body.headers.get('x-clickhouse-query-id')).toMatch(/^[0-9a-f-]{36}$/);

    // Settings ride as URL parameters; ClickHouse 26 no longer quotes 64-bit integers by default.
    const byParam = await post('SELECT number AS n FROM numbers(2)', '?default_format=JSONEachRow&output_format_json_quote_64bit_integers=1');
    expect(byParam.headers.get('content-type')).toBe('application/json; charset=UTF-8');
    expect(await byParam.text()).toBe('{"n":"0"}\n{"n":"1"}\n');
    expect(await (await post('SELECT toUInt64(5) AS n FORMAT JSONEachRow')).text()).toBe('{"n":5}\n');
    const byHeader = await post('SELECT 1 AS n', '', { 'X-ClickHouse-Format': 'CSVWithNames' });
    expect([byHeader.headers.get('x-clickhouse-format'), await byHeader.text()]).toEqual(['CSVWithNames', '"n"\n1\n']);

    const unknown = await fetch(`${server.url}/play`);
    expect(unknown.status).toBe(404);
  });

  it('takes the URL query plus body data, in any format, binary included', async () => {
    await post('CREATE TABLE blobs (id UInt32, payload String) ENGINE = MergeTree ORDER BY id');
    const csv = await post('1,"a,b"\n2,c\n', `?query=${encodeURIComponent('INSERT INTO blobs FORMAT CSV')}`);
    expect(csv.status).toBe(200);
    expect(JSON.parse(csv.headers.get('x-clickhouse-summary') ?? '{}')).toMatchObject({ written_rows: '2' });
    // RowBinary: UInt32 little-endian, then a length-prefixed string holding a NUL byte.
    const row = Buffer.concat([Buffer.from([3, 0, 0, 0]), Buffer.from([3]), Buffer.from([0x78, 0x00, 0x79])]);
    const binary = await post(row, `?query=${encodeURIComponent('INSERT INTO blobs (id, payload) FORMAT RowBinary')}`);
    expect(binary.status).toBe(200);
    // The query in the body, the data after it.
    const inBody = await post('INSERT INTO blobs FORMAT JSONEachRow\n{"id":4,"payload":"d;e"}\n');
    expect(inBody.status).toBe(200);
    // A SETTINGS clause and an EXCEPT column list, which chdb's raw insert cannot take.
    const except = await post('5\n', `?query=${encodeURIComponent('INSERT INTO blobs (* EXCEPT (payload)) SETTINGS async_insert = 0 FORMAT CSV')}`);
    expect(except.status).toBe(200);
    const rows = await post('SELECT id, hex(payload) FROM blobs ORDER BY id FORMAT TSV');
    expect(await rows.text()).toBe('1\t612C62\n2\t63\n3\t780079\n4\t643B65\n5\t\n');
  });

  it('compresses a response on request and reads a gzipped body', async () => {
    const plain = await post('SELECT number FROM numbers(1000) FORMAT CSV');
    const compressed = await fetch(`${server.url}/?enable_http_compression=1&query=${encodeURIComponent('SELECT number FROM numbers(1000) FORMAT CSV')}`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(compressed.headers.get('content-encoding')).toBe('gzip');
    // fetch decodes gzip itself; the length on the wire is the compressed one.
    expect(Number(compressed.headers.get('content-length'))).toBeLessThan(Number(plain.headers.get('content-length')));
    expect(await compressed.text()).toBe(await plain.text());
    const gzipped = await post(gzipSync('SELECT 40 + 2'), '', { 'Content-Encoding': 'gzip' });
    expect(await gzipped.text()).toBe('42\n');
  });

  it('sends errors as ClickHouse does: text, code header, status from the code', async () => {
    const cases: [string, number, string][] = [
      ['SELECT * FROM missing_table', 404, '60'],
      ['SELEC 1', 400, '62'],
      ['SELECT 1; SELECT 2', 400, '62'],
      ['SELECT * FROM missing_db.t', 404, '81'],
      ["SELECT 1 INTO OUTFILE '/tmp/x'", 500, '358'],
    ];
    for (const [query, status, code] of cases) {
      const response = await post(query);
      const text = await response.text();
      expect([response.status, response.headers.get('x-clickhouse-exception-code')]).toEqual([status, code]);
      expect(text).toMatch(new RegExp(`^Code: ${code}\\. DB::Exception: .*\\([A-Z_]+\\) \\(version \\d+\\.\\d+\\.\\d+\\.\\d+\\)\\n$`, 's'));
    }
    // GET is readonly, as in ClickHouse.
    const write = await fetch(`${server.url}/?query=${encodeURIComponent('CREATE TABLE t (a UInt8) ENGINE = Memory')}`);
    expect([write.status, write.headers.get('x-clickhouse-exception-code')]).toEqual([500, '164']);
  });

  it('refuses a body over maxBodyBytes with a 413 and keeps serving', async () => {
    await post('CREATE TABLE wide (s String) ENGINE = MergeTree ORDER BY tuple()');
    const row = `{"s":"${'x'.repeat(1000)}"}\n`;
    const insert = `?query=${encodeURIComponent('INSERT INTO wide FORMAT JSONEachRow')}`;
    const accepted = await post(row.repeat(3_000), insert);
    expect(accepted.status).toBe(200);
    const refused = await post(row.repeat(5_000), insert);
    expect([refused.status, refused.headers.get('x-clickhouse-exception-code')]).toEqual([413, '229']);
    await refused.text();
    expect(await (await post('SELECT count() FROM wide')).text()).toBe('3000\n');
  });

  it('stays responsive while a slow query runs', async () => {
    let slowDone = false;
    const slow = post('SELECT sum(sleepEachRow(0.1)) FROM numbers(10)').then(async (response) => {
      slowDone = true;
      return response.text();
    });
    expect(await (await fetch(`${server.url}/ping`)).text()).toBe('Ok.\n');
    expect(await (await post('SELECT 7')).text()).toBe('7\n');
    expect(slowDone).toBe(false);
    expect(await slow).toBe('0\n');
  });
});

describe('ClickHouse HTTP front for chdb, with @clickhouse/client', () => {
  it('runs DDL, deduplicated inserts and parameterised queries in several formats', async () => {
    // As openClickHouse configures it: 64-bit integers as JSON strings.
    const client = clientFor({ clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } });
    await client.command({ query: 'CREATE DATABASE shop' });
    await client.command({ query: 'CREATE TABLE shop.orders (id UInt64, who String, amount Int64) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100' });
    const rows = [{ id: 1, who: "o'hara\t\\x", amount: -5 }, { id: 2, who: 'line\nbreak', amount: '9007199254740993' }];
    const first = await client.insert({ table: 'shop.orders', values: rows, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: 'batch-1' } });
    expect(first.summary?.written_rows).toBe('2');
    await client.insert({ table: 'shop.orders', values: rows, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: 'batch-1' } });
    const count = async (): Promise<unknown> => (await (await client.query({ query: 'SELECT count() AS n FROM shop.orders', format: 'JSONEachRow' })).json<{ n: string }>())[0]?.n;
    expect(await count()).toBe('2');
    await client.insert({ table: 'shop.orders', values: rows.map((r) => ({ ...r, id: r.id + 10 })), format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: 'batch-2' } });
    expect(await count()).toBe('4');

    const byParams = await client.query({
      query: 'SELECT id, who, amount FROM shop.orders WHERE who IN {names:Array(String)} AND id < {limit:UInt64} ORDER BY id',
      query_params: { names: ["o'hara\t\\x", 'line\nbreak'], limit: 10 },
      format: 'JSONEachRow',
    });
    expect(await byParams.json()).toEqual([{ id: '1', who: "o'hara\t\\x", amount: '-5' }, { id: '2', who: 'line\nbreak', amount: '9007199254740993' }]);

    const json = await (await client.query({ query: 'SELECT who FROM shop.orders WHERE id = {id:UInt64}', query_params: { id: 2 }, format: 'JSON' })).json<{ who: string }>();
    expect(json).toMatchObject({ meta: [{ name: 'who', type: 'String' }], data: [{ who: 'line\nbreak' }], rows: 1 });
    const csv = await (await client.query({ query: 'SELECT id, amount FROM shop.orders WHERE id < 10 ORDER BY id', format: 'CSV' })).text();
    expect(csv).toBe('1,-5\n2,9007199254740993\n');
    const tsv = await (await client.query({ query: "SELECT id, who FROM shop.orders WHERE who LIKE 'o%' AND id < 10", format: 'TabSeparated' })).text();
    expect(tsv).toBe("1\to\\'hara\\t\\\\x\n");
    const unquoted = await client.query({ query: 'SELECT toUInt64(3) AS small', format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
    expect(await unquoted.json()).toEqual([{ small: 3 }]);

    // The client's database applies to unqualified names; long parameters travel as multipart/form-data.
    const inShop = clientFor({ database: 'shop', use_multipart_params: true });
    const long = 'z'.repeat(20_000);
    const multipart = await inShop.query({ query: 'SELECT count() AS n, length({long:String}) AS len FROM orders', query_params: { long }, format: 'JSONEachRow' });
    expect(await multipart.json()).toEqual([{ n: 4, len: 20_000 }]);
  });

  it('compresses requests and responses', async () => {
    const client = clientFor({ compression: { request: true, response: true } });
    await client.command({ query: 'CREATE TABLE nums (n UInt32, s String) ENGINE = MergeTree ORDER BY n' });
    await client.insert({ table: 'nums', values: Array.from({ length: 5_000 }, (_, n) => ({ n, s: `row ${n}` })), format: 'JSONEachRow' });
    const result = await client.query({ query: 'SELECT count() AS c, sum(n) AS total, max(s) AS top FROM nums', format: 'JSONEachRow' });
    expect(result.response_headers['content-encoding']).toBe('gzip');
    expect(await result.json()).toEqual([{ c: 5000, total: 12497500, top: 'row 999' }]);
  });

  it('maps engine errors onto ClickHouseError codes', async () => {
    const client = clientFor();
    const unknownTable = await rejection(client.query({ query: 'SELECT * FROM nowhere' }));
    expect([unknownTable.code, unknownTable.type]).toEqual(['60', 'UNKNOWN_TABLE']);
    const syntax = await rejection(client.command({ query: 'CREATE TABEL x' }));
    expect([syntax.code, syntax.type]).toEqual(['62', 'SYNTAX_ERROR']);
    const badSetting = await rejection(client.query({ query: 'SELECT 1', clickhouse_settings: { no_such_setting: 1 } }));
    expect(badSetting.code).toBe('115');
  });

  it('authenticates users and keeps a readonly user to reads', async () => {
    await clientFor().command({ query: 'CREATE TABLE notes (n UInt8) ENGINE = MergeTree ORDER BY n' });
    const writer = clientFor({ username: 'writer', password: 's3cret' });
    await writer.insert({ table: 'notes', values: [{ n: 1 }], format: 'JSONEachRow' });

    const wrong = await rejection(clientFor({ username: 'writer', password: 'guess' }).query({ query: 'SELECT 1' }));
    expect([wrong.code, wrong.type]).toEqual(['516', 'AUTHENTICATION_FAILED']);
    const nobody = await fetch(`${server.url}/?query=SELECT%201`, { headers: { 'X-ClickHouse-User': 'nobody', 'X-ClickHouse-Key': '' } });
    expect([nobody.status, nobody.headers.get('x-clickhouse-exception-code')]).toEqual([403, '516']);
    const viaHeaders = await fetch(`${server.url}/?query=SELECT%20currentDatabase()`, { headers: { 'X-ClickHouse-User': 'writer', 'X-ClickHouse-Key': 's3cret' } });
    expect(await viaHeaders.text()).toBe('default\n');
    const viaParams = await fetch(`${server.url}/?user=writer&password=s3cret&query=SELECT%202`);
    expect(await viaParams.text()).toBe('2\n');

    const reader = clientFor({ username: 'reader', password: 'r3ad' });
    const refusedInsert = await rejection(reader.insert({ table: 'notes', values: [{ n: 2 }], format: 'JSONEachRow' }));
    expect([refusedInsert.code, refusedInsert.type]).toEqual(['164', 'READONLY']);
    const refusedDdl = await rejection(reader.command({ query: 'DROP TABLE notes' }));
    expect(refusedDdl.code).toBe('164');
    const unlock = await rejection(reader.query({ query: 'SELECT 1', clickhouse_settings: { readonly: '0' } }));
    expect(unlock.code).toBe('164');
    expect(await (await reader.query({ query: 'SELECT n FROM notes', format: 'JSONEachRow' })).json()).toEqual([{ n: 1 }]);
  });
});

function usageRows(count: number): UsageEventRow[] {
  const next = usageGenerator({ seed: 11, occurredAt: () => Date.UTC(2026, 4, 2, 10, 30) });
  return Array.from({ length: count }, (_, i) => ({ ...next(), source_partition: i % 3, source_offset: String(2 ** 60 + i) }));
}

/** Per-tenant totals computed in JS, as tenantTotals() reports them. */
function expectedTotals(rows: readonly UsageEventRow[]): Pick<TenantUsageTotals, 'tenant_id' | 'events' | 'input_tokens' | 'output_tokens' | 'errors'>[] {
  const byTenant = new Map<string, { events: number; input: number; output: number; errors: number }>();
  for (const row of rows) {
    const t = byTenant.get(row.tenant_id) ?? { events: 0, input: 0, output: 0, errors: 0 };
    byTenant.set(row.tenant_id, { events: t.events + 1, input: t.input + row.input_tokens, output: t.output + row.output_tokens, errors: t.errors + (row.error_type === null ? 0 : 1) });
  }
  return [...byTenant.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([tenant_id, t]) => ({ tenant_id, events: String(t.events), input_tokens: String(t.input), output_tokens: String(t.output), errors: String(t.errors) }));
}

describe("meterline's ClickHouse code over the HTTP front", () => {
  it('migrates, inserts usage events (deduplicated on retry) and reads them back', async () => {
    const handle = openClickHouse({ url: server.url, database: 'metering', chdbPath: dir });
    try {
      const result = await migrate(handle, silentLogger(), { rawTtlMonths: 36 });
      expect(result.applied).toEqual(loadMigrations().map((m) => m.file));
      expect((await migrate(handle, silentLogger())).applied).toEqual([]);
      const table = new UsageEventsTable(handle);
      const rows = usageRows(2_000);
      await table.insert(rows.slice(0, 1_200), 'offsets-0-1199');
      await table.insert(rows.slice(0, 1_200), 'offsets-0-1199');
      await table.insert(rows.slice(1_200), 'offsets-1200-1999');
      expect(await table.counts()).toEqual({ rows: 2_000, distinctEvents: 2_000, finalRows: 2_000 });
      const totals = await table.tenantTotals();
      expect(totals.map(({ tenant_id, events, input_tokens, output_tokens, errors }) => ({ tenant_id, events, input_tokens, output_tokens, errors }))).toEqual(expectedTotals(rows));
      const acme = await table.tenantTotals('acme');
      expect(acme.map((t) => t.tenant_id)).toEqual(['acme']);
    } finally {
      await handle.close();
    }
  });
});

describe('sharing the process with openClickHouse on the same directory', () => {
  it('sees writes through either handle', async () => {
    const embedded = openClickHouse({ database: 'shared', chdbPath: dir });
    const http = openClickHouse({ url: server.url, database: 'shared', chdbPath: dir });
    try {
      await embedded.client.command({ query: 'CREATE DATABASE shared' });
      await embedded.client.command({ query: 'CREATE TABLE shared.events (id UInt32, via String) ENGINE = MergeTree ORDER BY id' });
      await embedded.client.insert({ table: 'shared.events', values: [{ id: 1, via: 'embedded' }], format: 'JSONEachRow' });
      await http.client.insert({ table: 'shared.events', values: [{ id: 2, via: 'http' }], format: 'JSONEachRow' });
      const read = async (handle: typeof embedded): Promise<unknown> => (await handle.client.query({ query: 'SELECT id, via FROM shared.events ORDER BY id', format: 'JSONEachRow' })).json();
      const expected = [{ id: 1, via: 'embedded' }, { id: 2, via: 'http' }];
      expect(await read(embedded)).toEqual(expected);
      expect(await read(http)).toEqual(expected);
      // Concurrent traffic on both: parameterised queries through chdb's binding and over HTTP.
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? embedded : http).client
        .query({ query: 'SELECT {i:UInt32} AS i, count() AS n FROM shared.events', query_params: { i }, format: 'JSONEachRow' })
        .then((r) => r.json<{ i: number; n: string }>())));
      expect(answers.map(([row]) => row)).toEqual(Array.from({ length: 40 }, (_, i) => ({ i, n: '2' })));
    } finally {
      await http.close();
      await embedded.close();
    }
  });

  it('refuses to start on a second directory while the process holds one', async () => {
    const other = mkdtempSync(join(tmpdir(), 'meterline-ch-http-other-'));
    try {
      await expect(startClickHouseHttpServer({ chdbPath: other })).rejects.toThrow(/one directory per process/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
