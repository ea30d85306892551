import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Session, type ChdbResult, type RawInsertFormat } from 'chdb';
import { clickHouseError } from './errors';
import type { PlannedQuery } from './plan';
import { scanInsertTarget } from './sql-scan';

/** X-ClickHouse-Summary: counters as decimal strings, as ClickHouse sends them. */
export interface QuerySummary {
  read_rows: string;
  read_bytes: string;
  written_rows: string;
  written_bytes: string;
  total_rows_to_read: string;
  result_rows: string;
  result_bytes: string;
  elapsed_ns: string;
}

export interface QueryOutcome {
  body: Uint8Array;
  summary: QuerySummary;
}

interface Counters {
  rows: number;
  bytes: number;
  written: boolean;
  elapsedSeconds: number;
}

function summaryOf({ rows, bytes, written, elapsedSeconds }: Counters): QuerySummary {
  const r = String(rows);
  const b = String(bytes);
  return {
    // chdb reports the rows of the result (or of the insert), not the rows a scan touched.
    read_rows: r,
    read_bytes: b,
    written_rows: written ? r : '0',
    written_bytes: written ? b : '0',
    total_rows_to_read: '0',
    result_rows: written ? '0' : r,
    result_bytes: written ? '0' : b,
    elapsed_ns: String(Math.round(elapsedSeconds * 1e9)),
  };
}

function fromResult(result: ChdbResult, written: boolean): QueryOutcome {
  return { body: result.bytes(), summary: summaryOf({ rows: result.rowsRead, bytes: result.bytesRead, written, elapsedSeconds: result.elapsed }) };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A single-quoted SQL literal whose content the engine reads back byte for byte. */
export function quoteString(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'").replaceAll('\0', '\\0')}'`;
}

function quoteIdentifier(name: string): string {
  return `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
}

function settingAssignment([name, value]: [string, string]): string {
  if (!IDENTIFIER.test(name)) throw clickHouseError('UNKNOWN_SETTING', `Unknown setting '${name}'`);
  return `${name} = ${quoteString(value)}`;
}

// `SET param_x = '...'` hands the engine the parameter text exactly as the client sent it, so it
// is parsed the way ClickHouse parses `param_x` from a URL (chdb's queryBind would escape it again).
function parameterAssignment([name, value]: [string, string]): string {
  if (!IDENTIFIER.test(name)) throw clickHouseError('BAD_ARGUMENTS', `Invalid query parameter name '${name}'`);
  return `param_${name} = ${quoteString(value)}`;
}

/** Database, settings, parameters and readonly go onto the request's own connection, which dies with it. */
async function prepareSession(session: Session, query: PlannedQuery): Promise<void> {
  if (query.database !== '') await session.queryAsync(`USE ${quoteIdentifier(query.database)}`);
  const assignments = [
    ...query.settings.map(settingAssignment),
    ...query.queryParams.map(parameterAssignment),
    // Last, so the settings above still apply; readonly=2 blocks every later change of readonly.
    ...(query.readonly === 0 ? [] : [`readonly = ${query.readonly}`]),
  ];
  if (assignments.length > 0) await session.queryAsync(`SET ${assignments.join(', ')}`);
}

const RAW_FORMATS = new Set<string>(['JSONEachRow', 'JSONCompactEachRow', 'CSV', 'CSVWithNames', 'TSV', 'TabSeparated', 'TSVWithNames', 'TabSeparatedWithNames'] satisfies RawInsertFormat[]);

function isRawFormat(format: string | undefined): format is RawInsertFormat {
  return format !== undefined && RAW_FORMATS.has(format);
}

/** chdb's raw insert: the body goes to the engine's parser as bytes, without a copy. */
async function rawInsert(session: Session, table: string, columns: string[] | undefined, format: RawInsertFormat, data: Buffer): Promise<QueryOutcome> {
  const summary = await session.insert({ table, format, values: data, ...(columns === undefined ? {} : { columns }) });
  return { body: new Uint8Array(0), summary: summaryOf({ rows: summary.rowsWritten, bytes: summary.bytesWritten, written: true, elapsedSeconds: summary.elapsed }) };
}

/** Any other format (binary ones too): the data through a temporary file and `FROM INFILE`. */
async function infileInsert(session: Session, query: PlannedQuery, clauseAt: number, data: Buffer, tmpDir: string): Promise<QueryOutcome> {
  const file = join(tmpDir, `${randomUUID()}.data`);
  await writeFile(file, data);
  try {
    const sql = `${query.sql.slice(0, clauseAt)}FROM INFILE ${quoteString(file)} ${query.sql.slice(clauseAt)}`;
    return fromResult(await session.queryAsync(sql, { format: query.defaultFormat }), true);
  } finally {
    await rm(file, { force: true });
  }
}

async function insertWithData(session: Session, query: PlannedQuery, data: Buffer, tmpDir: string): Promise<QueryOutcome> {
  const target = scanInsertTarget(query.sql);
  const format = query.info.inputFormat;
  if (target.formatFollows && target.table !== undefined && isRawFormat(format)) return rawInsert(session, target.table, target.columns, format, data);
  if (target.clauseAt !== undefined) return infileInsert(session, query, target.clauseAt, data, tmpDir);
  // INSERT ... SELECT ... FROM input() FORMAT X: the engine takes the data inline, as text.
  return fromResult(await session.queryAsync(`${query.sql}\n${data.toString('utf8')}`, { format: query.defaultFormat }), true);
}

/**
 * Runs one query on a connection of its own to the data directory: chdb allows any number of
 * connections to the directory the process has bound, each with its own settings, parameters
 * and current database, so nothing a request sets outlives it. Queries run on libuv's pool.
 */
export async function runQuery(chdbPath: string, tmpDir: string, query: PlannedQuery): Promise<QueryOutcome> {
  const session = new Session(chdbPath);
  try {
    await prepareSession(session, query);
    if (query.data !== undefined) return await insertWithData(session, query, query.data, tmpDir);
    return fromResult(await session.queryAsync(query.sql, { format: query.defaultFormat }), query.info.keyword === 'INSERT');
  } finally {
    session.close();
  }
}
