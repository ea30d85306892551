import type { ClickHouseHttpUser } from './auth';
import { clickHouseError } from './errors';
import type { QueryInput } from './request';
import { scanStatement, type StatementInfo } from './sql-scan';

export type ReadonlyLevel = 0 | 1 | 2;

/** What runs on the engine for one request. */
export interface PlannedQuery {
  /** The statement's SQL, without inline INSERT data. */
  sql: string;
  info: StatementInfo;
  /** Data of `INSERT ... FORMAT X`, from the body (or from the query text itself). */
  data?: Buffer;
  database: string;
  settings: [string, string][];
  queryParams: [string, string][];
  readonly: ReadonlyLevel;
  /** The engine's default output format; a FORMAT clause in the query wins over it. */
  defaultFormat: string;
  /** The format the response is in (FORMAT clause, else the default). */
  outputFormat: string;
}

interface Split {
  sql: string;
  info: StatementInfo;
  data?: Buffer;
}

// ClickHouse reads at most max_query_size (256 KiB) of SQL before inline data; a FORMAT clause
// further in than this is not looked for, and the body is taken as one SQL text.
const SQL_HEAD_BYTES = 1024 * 1024;

function fromText(text: string, info: StatementInfo): Split {
  if (info.dataStart === undefined) return { sql: text, info };
  return { sql: text.slice(0, info.sqlEnd), info, data: Buffer.from(text.slice(info.dataStart)) };
}

/** A body holding the query: `INSERT ... FORMAT X` data stays bytes (it may be binary). */
function splitBody(body: Buffer): Split {
  // latin1 keeps one character per byte, so offsets found in the text are byte offsets.
  const head = scanStatement(body.subarray(0, SQL_HEAD_BYTES).toString('latin1'));
  if (head.dataStart !== undefined) {
    const sql = body.subarray(0, head.sqlEnd).toString('utf8');
    return { sql, info: scanStatement(sql), data: body.subarray(head.dataStart) };
  }
  const text = body.toString('utf8');
  return fromText(text, scanStatement(text));
}

/**
 * ClickHouse's rule: the query is the `query` parameter, a line break and the body. When the
 * parameter is an `INSERT ... FORMAT X` the body is its data, passed on without a copy.
 */
export function splitQuery(input: QueryInput): Split {
  if (input.query === '') return splitBody(input.body);
  const info = scanStatement(input.query);
  if (info.dataStart !== undefined && input.query.length === info.dataStart) {
    return { sql: input.query.slice(0, info.sqlEnd), info, data: input.body };
  }
  if (input.body.length === 0) return fromText(input.query, info);
  return splitBody(Buffer.concat([Buffer.from(`${input.query}\n`), input.body]));
}

// 1 (reads only, no settings changes) is stricter than 2 (reads only).
function stricter(a: ReadonlyLevel, b: ReadonlyLevel): ReadonlyLevel {
  if (a === 1 || b === 1) return 1;
  return a === 2 || b === 2 ? 2 : 0;
}

function parseReadonly(value: string): ReadonlyLevel {
  if (value === '0' || value === '1' || value === '2') return Number(value) as ReadonlyLevel;
  throw clickHouseError('CANNOT_PARSE_INPUT_ASSERTION_FAILED', `Cannot parse readonly setting value '${value}': expected 0, 1 or 2`);
}

/**
 * The readonly level of a query: a readonly user's, and (as ClickHouse does) 2 for anything but
 * POST. A client may ask for stricter, never for less.
 */
function readonlyLevel(settings: [string, string][], user: ClickHouseHttpUser, method: string): { level: ReadonlyLevel; settings: [string, string][] } {
  const enforced: ReadonlyLevel = user.readonly === true || method !== 'POST' ? 2 : 0;
  const asked = settings.filter(([key]) => key === 'readonly').map(([, value]) => parseReadonly(value)).at(-1);
  if (enforced !== 0 && asked === 0) throw clickHouseError('READONLY', "Cannot modify 'readonly' setting in readonly mode");
  return { level: stricter(enforced, asked ?? 0), settings: settings.filter(([key]) => key !== 'readonly') };
}

function check(info: StatementInfo, readonly: ReadonlyLevel, user: ClickHouseHttpUser): void {
  if (info.statements > 1) throw clickHouseError('SYNTAX_ERROR', 'Syntax error (Multi-statements are not allowed)');
  if (info.intoOutfile) throw clickHouseError('INTO_OUTFILE_NOT_ALLOWED', 'INTO OUTFILE is not allowed');
  if (info.fromInfile) throw clickHouseError('UNKNOWN_TYPE_OF_QUERY', 'Query has infile and was send directly to server');
  // readonly=2 makes the engine refuse writes, but not INSERT INTO FUNCTION file(...): refuse every INSERT here.
  if (readonly !== 0 && info.keyword === 'INSERT') throw clickHouseError('READONLY', `${user.name}: Cannot execute query in readonly mode`);
}

/** The query to run, or undefined for a request without one (GET / answers `Ok.`). */
export function planQuery(input: QueryInput, user: ClickHouseHttpUser, method: string): PlannedQuery | undefined {
  const split = splitQuery(input);
  if (split.info.statements === 0) {
    if (method === 'GET' || method === 'HEAD') return undefined;
    throw clickHouseError('SYNTAX_ERROR', 'Empty query');
  }
  const { level, settings } = readonlyLevel(input.settings, user, method);
  check(split.info, level, user);
  const defaultFormat = input.defaultFormat || 'TabSeparated';
  return {
    ...split,
    database: input.database,
    settings,
    queryParams: input.queryParams,
    readonly: level,
    defaultFormat,
    outputFormat: split.info.outputFormat ?? defaultFormat,
  };
}
