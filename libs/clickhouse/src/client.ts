import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

export type { ClickHouseClient } from '@clickhouse/client';

export interface ClickHouseConfig {
  /** A ClickHouse server over HTTP; when unset, the embedded engine (chdb) in `chdbPath`. */
  url?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  database: string;
  chdbPath: string;
  /**
   * How long a request to a server may take before it is abandoned (default 5 min). Some
   * fronts answer only once the whole result is ready, so this bounds a query's run time.
   */
  requestTimeoutMs?: number | undefined;
}

/** Rows already serialised in `format`, for {@link insertFormatted}. */
export interface FormattedInsert {
  /** `db.table`, plain identifiers (no quotes). */
  table: string;
  columns: readonly string[];
  format: 'JSONCompactEachRow' | 'JSONEachRow';
  /** One row per line, newline-terminated. */
  body: Buffer;
  settings: Record<string, string | number>;
}

export interface ClickHouseHandle {
  client: ClickHouseClient;
  database: string;
  embedded: boolean;
  /**
   * Embedded only: hands a pre-serialised body to chdb as it is (zero-copy, parsed off the
   * event loop), instead of clickhouse-js re-encoding rows and chdb splicing them into the SQL.
   */
  rawInsert?: ((insert: FormattedInsert) => Promise<void>) | undefined;
  close(): Promise<void>;
}

/**
 * Inserts a pre-serialised body: chdb's raw path when embedded, otherwise the body streamed
 * as-is over HTTP (`exec` with values, so clickhouse-js does not re-encode it).
 */
export async function insertFormatted(handle: ClickHouseHandle, insert: FormattedInsert): Promise<void> {
  if (handle.rawInsert) return handle.rawInsert(insert);
  const result = await handle.client.exec({
    query: `INSERT INTO ${insert.table} (${insert.columns.join(', ')}) FORMAT ${insert.format}`,
    values: Readable.from([insert.body], { objectMode: false }),
    clickhouse_settings: insert.settings,
  });
  result.stream.resume();
}

// 64-bit and 128-bit integers as JSON strings: sums of tokens and pico-dollars must not pass
// through a float on the way out.
const readSettings = { output_format_json_quote_64bit_integers: 1 } as const;

/**
 * One client API and one SQL dialect for both: `@clickhouse/client` over HTTP, or over chdb's
 * in-process connection. libchdb binds one data directory per process, so a process opens
 * one embedded handle and shares it.
 */
export function openClickHouse(config: ClickHouseConfig): ClickHouseHandle {
  if (config.url !== undefined) {
    const client = createClient({
      url: config.url,
      ...(config.username === undefined ? {} : { username: config.username }),
      ...(config.password === undefined ? {} : { password: config.password }),
      clickhouse_settings: readSettings,
      request_timeout: config.requestTimeoutMs ?? 300_000,
      // Its own logger writes unstructured ERROR text to stderr for every failed request; the
      // callers report failures (retries, readiness, the sink's pause) in the fleet's log.
      log: { level: ClickHouseLogLevel.OFF },
    });
    return { client, database: config.database, embedded: false, close: () => client.close() };
  }
  const path = resolve(config.chdbPath);
  mkdirSync(path, { recursive: true });
  const connection = createChdbConnection({ path });
  const client = createClient({ connection, clickhouse_settings: readSettings } as Parameters<typeof createClient>[0]);
  const rawInsert = async ({ table, columns, format, body, settings }: FormattedInsert): Promise<void> => {
    await connection.chdb.rawInsert({ table, columns, format, values: body, settings });
  };
  return { client, database: config.database, embedded: true, rawInsert, close: () => client.close() };
}

/** Creates the database if needed (the only statement that runs outside it). */
export async function ensureDatabase(handle: ClickHouseHandle): Promise<void> {
  await handle.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(handle.database)}` });
}

export function quoteIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a plain identifier: ${name}`);
  return `\`${name}\``;
}
