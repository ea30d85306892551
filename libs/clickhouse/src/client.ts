import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

export type { ClickHouseClient } from '@clickhouse/client';

export interface ClickHouseConfig {
  /** A ClickHouse server over HTTP; when unset, the embedded engine (chdb) in `chdbPath`. */
  url?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  database: string;
  chdbPath: string;
}

export interface ClickHouseHandle {
  client: ClickHouseClient;
  database: string;
  embedded: boolean;
  close(): Promise<void>;
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
    });
    return { client, database: config.database, embedded: false, close: () => client.close() };
  }
  const path = resolve(config.chdbPath);
  mkdirSync(path, { recursive: true });
  const client = createClient({ connection: createChdbConnection({ path }), clickhouse_settings: readSettings } as Parameters<typeof createClient>[0]);
  return { client, database: config.database, embedded: true, close: () => client.close() };
}

/** Creates the database if needed (the only statement that runs outside it). */
export async function ensureDatabase(handle: ClickHouseHandle): Promise<void> {
  await handle.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(handle.database)}` });
}

export function quoteIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a plain identifier: ${name}`);
  return `\`${name}\``;
}
