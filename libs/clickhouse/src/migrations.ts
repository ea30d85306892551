import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MeterlineError, type Logger } from '@meterline/platform';
import { ensureDatabase, quoteIdentifier, type ClickHouseHandle } from './client';

export interface Migration {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

export function defaultMigrationsDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../infra/clickhouse/migrations');
}

/**
 * `NNNN_name.sql` files in version order. Statements name tables as `${database}.table`;
 * the runner substitutes the configured database (the embedded engine has no per-connection
 * default database, so every statement is qualified).
 */
export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  return readdirSync(dir)
    .flatMap((file) => {
      const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
      if (!match) return [];
      const sql = readFileSync(join(dir, file), 'utf8');
      return [{ version: Number(match[1]), name: match[2] as string, file, sql, checksum: createHash('sha256').update(sql).digest('hex').slice(0, 16) }];
    })
    .sort((a, b) => a.version - b.version);
}

/** Statements split on `;` at line ends; comments dropped. */
export function splitStatements(sql: string): string[] {
  return sql
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
}

/**
 * Applies migrations not yet recorded in `schema_migrations`, in order, and records each.
 * Running it twice changes nothing. A recorded migration whose file changed is an error:
 * write a new migration instead of editing an applied one.
 */
export async function migrate(handle: ClickHouseHandle, log: Logger, options: { dir?: string; rawTtlMonths?: number } = {}): Promise<MigrateResult> {
  await ensureDatabase(handle);
  const db = quoteIdentifier(handle.database);
  const client = handle.client;
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version`,
  });
  const rows = await (await client.query({ query: `SELECT version, name, checksum FROM ${db}.schema_migrations ORDER BY version`, format: 'JSONEachRow' })).json<{ version: number; name: string; checksum: string }>();
  const recorded = new Map(rows.map((r) => [Number(r.version), r]));
  const result: MigrateResult = { applied: [], alreadyApplied: [] };
  for (const migration of loadMigrations(options.dir)) {
    const previous = recorded.get(migration.version);
    if (previous) {
      if (previous.checksum !== migration.checksum) {
        throw new MeterlineError('MIGRATION_CHANGED', `migration ${migration.file} was applied with checksum ${previous.checksum} but the file now has ${migration.checksum}: add a new migration instead of editing an applied one`);
      }
      result.alreadyApplied.push(migration.file);
      continue;
    }
    for (const statement of splitStatements(migration.sql.replaceAll('${database}', db))) {
      await client.command({ query: statement });
    }
    await client.insert({ table: `${db}.schema_migrations`, values: [{ version: migration.version, name: migration.name, checksum: migration.checksum }], format: 'JSONEachRow' });
    log.info({ migration: migration.file, database: handle.database }, 'applied migration');
    result.applied.push(migration.file);
  }
  if (options.rawTtlMonths !== undefined) {
    // Idempotent: re-applying the same TTL is a no-op; a changed setting takes effect.
    await client.command({ query: `ALTER TABLE ${db}.usage_events MODIFY TTL toDateTime(occurred_at) + INTERVAL ${Math.trunc(options.rawTtlMonths)} MONTH` });
  }
  return result;
}
