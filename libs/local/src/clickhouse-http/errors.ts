// Errors as ClickHouse's HTTP interface sends them: a text body `Code: N. DB::Exception: ...
// (NAME) (version V)`, the code in `X-ClickHouse-Exception-Code`, and an HTTP status chosen from
// the code. Clients (clickhouse-js's ClickHouseError among them) parse the body, so its shape
// matters more than the status.

/** The ClickHouse error codes this front raises or maps to a status (numbers from the engine's errorCodeToName). */
export const ErrorCode = {
  CANNOT_PARSE_TEXT: 6,
  THERE_IS_NO_COLUMN: 8,
  DUPLICATE_COLUMN: 15,
  CANNOT_PARSE_ESCAPE_SEQUENCE: 25,
  CANNOT_PARSE_QUOTED_STRING: 26,
  CANNOT_PARSE_INPUT_ASSERTION_FAILED: 27,
  BAD_ARGUMENTS: 36,
  UNKNOWN_ELEMENT_IN_AST: 37,
  CANNOT_PARSE_DATE: 38,
  CANNOT_PARSE_DATETIME: 41,
  ILLEGAL_COLUMN: 44,
  UNKNOWN_FUNCTION: 46,
  UNKNOWN_IDENTIFIER: 47,
  NOT_IMPLEMENTED: 48,
  UNKNOWN_TYPE: 50,
  TYPE_MISMATCH: 53,
  UNKNOWN_STORAGE: 56,
  UNKNOWN_TABLE: 60,
  SYNTAX_ERROR: 62,
  UNKNOWN_AGGREGATE_FUNCTION: 63,
  CANNOT_PARSE_NUMBER: 72,
  UNKNOWN_FORMAT: 73,
  CANNOT_OPEN_FILE: 76,
  UNKNOWN_TYPE_OF_QUERY: 78,
  UNKNOWN_DATABASE: 81,
  UNKNOWN_SETTING: 115,
  INCORRECT_DATA: 117,
  UNKNOWN_TYPE_OF_AST_NODE: 123,
  UNKNOWN_DIRECTION_OF_SORTING: 152,
  TIMEOUT_EXCEEDED: 159,
  READONLY: 164,
  TOO_DEEP_AST: 167,
  TOO_BIG_AST: 168,
  UNKNOWN_USER: 192,
  WRONG_PASSWORD: 193,
  REQUIRED_PASSWORD: 194,
  SOCKET_TIMEOUT: 209,
  UNEXPECTED_AST_STRUCTURE: 223,
  QUERY_IS_TOO_LARGE: 229,
  CANNOT_DECOMPRESS: 271,
  VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE: 321,
  UNKNOWN_DATABASE_ENGINE: 336,
  INTO_OUTFILE_NOT_ALLOWED: 358,
  CANNOT_PARSE_UUID: 376,
  HTTP_LENGTH_REQUIRED: 381,
  CANNOT_COMPILE_REGEXP: 427,
  CANNOT_SCHEDULE_TASK: 439,
  CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING: 441,
  ACCESS_DENIED: 497,
  UNKNOWN_ROLE: 511,
  SET_NON_GRANTED_ROLE: 512,
  AUTHENTICATION_FAILED: 516,
  CANNOT_PARSE_IPV4: 675,
  CANNOT_PARSE_IPV6: 676,
  UNSUPPORTED_MEDIA_TYPE: 779,
  UNKNOWN_EXCEPTION: 1002,
} as const;

export type ErrorName = keyof typeof ErrorCode;

const nameOf = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

// exceptionCodeToHTTPStatus.cpp of ClickHouse, grouped the same way. READONLY is not in it, so
// a write refused in readonly mode answers 500, as ClickHouse does; ACCESS_DENIED is 403.
const statusGroups: readonly [number, readonly number[]][] = [
  [403, [ErrorCode.UNKNOWN_USER, ErrorCode.WRONG_PASSWORD, ErrorCode.AUTHENTICATION_FAILED, ErrorCode.SET_NON_GRANTED_ROLE, ErrorCode.ACCESS_DENIED]],
  [400, [ErrorCode.BAD_ARGUMENTS, ErrorCode.CANNOT_COMPILE_REGEXP, ErrorCode.CANNOT_PARSE_TEXT, ErrorCode.CANNOT_PARSE_ESCAPE_SEQUENCE,
    ErrorCode.CANNOT_PARSE_QUOTED_STRING, ErrorCode.CANNOT_PARSE_DATE, ErrorCode.CANNOT_PARSE_DATETIME, ErrorCode.CANNOT_PARSE_NUMBER,
    ErrorCode.CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING, ErrorCode.CANNOT_PARSE_IPV4, ErrorCode.CANNOT_PARSE_IPV6,
    ErrorCode.CANNOT_PARSE_INPUT_ASSERTION_FAILED, ErrorCode.CANNOT_PARSE_UUID, ErrorCode.DUPLICATE_COLUMN, ErrorCode.ILLEGAL_COLUMN,
    ErrorCode.UNKNOWN_ELEMENT_IN_AST, ErrorCode.UNKNOWN_TYPE_OF_AST_NODE, ErrorCode.THERE_IS_NO_COLUMN, ErrorCode.TOO_DEEP_AST,
    ErrorCode.TOO_BIG_AST, ErrorCode.UNEXPECTED_AST_STRUCTURE, ErrorCode.SYNTAX_ERROR, ErrorCode.INCORRECT_DATA,
    ErrorCode.TYPE_MISMATCH, ErrorCode.VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE]],
  [404, [ErrorCode.UNKNOWN_TABLE, ErrorCode.UNKNOWN_FUNCTION, ErrorCode.UNKNOWN_IDENTIFIER, ErrorCode.UNKNOWN_TYPE,
    ErrorCode.UNKNOWN_STORAGE, ErrorCode.UNKNOWN_DATABASE, ErrorCode.UNKNOWN_SETTING, ErrorCode.UNKNOWN_DIRECTION_OF_SORTING,
    ErrorCode.UNKNOWN_AGGREGATE_FUNCTION, ErrorCode.UNKNOWN_FORMAT, ErrorCode.UNKNOWN_DATABASE_ENGINE,
    ErrorCode.UNKNOWN_TYPE_OF_QUERY, ErrorCode.UNKNOWN_ROLE]],
  [413, [ErrorCode.QUERY_IS_TOO_LARGE]],
  [501, [ErrorCode.NOT_IMPLEMENTED]],
  [503, [ErrorCode.SOCKET_TIMEOUT, ErrorCode.CANNOT_OPEN_FILE, ErrorCode.CANNOT_SCHEDULE_TASK]],
  [411, [ErrorCode.HTTP_LENGTH_REQUIRED]],
  [408, [ErrorCode.TIMEOUT_EXCEEDED]],
  [415, [ErrorCode.UNSUPPORTED_MEDIA_TYPE]],
];
const statusOf = new Map<number, number>(statusGroups.flatMap(([status, codes]) => codes.map((code) => [code, status] as const)));

/** The HTTP status ClickHouse answers an exception code with. */
export function httpStatusFor(code: number): number {
  if (code === ErrorCode.REQUIRED_PASSWORD) return 401;
  return statusOf.get(code) ?? 500;
}

/** An error to answer with: the code and the text after which the body carries the version. */
export class ClickHouseHttpError extends Error {
  readonly code: number;
  constructor(code: number, text: string) {
    super(text);
    this.name = 'ClickHouseHttpError';
    this.code = code;
  }
}

/** An error this front raises itself, worded as the engine words its own. */
export function clickHouseError(name: ErrorName, message: string): ClickHouseHttpError {
  const code = ErrorCode[name];
  return new ClickHouseHttpError(code, `Code: ${code}. DB::Exception: ${message}. (${name})`);
}

const CODE_IN_MESSAGE = /Code: (\d+)\. /;

function numericProperty(value: unknown, key: string): number | undefined {
  if (typeof value !== 'object' || value === null || !(key in value)) return undefined;
  const found: unknown = (value as Record<string, unknown>)[key];
  return typeof found === 'number' ? found : undefined;
}

/**
 * Whatever chdb threw, as ClickHouse would send it. chdb's messages already are
 * `Code: N. DB::Exception: ... (NAME)`, sometimes nested; the outermost code is the one.
 */
export function toClickHouseError(error: unknown): ClickHouseHttpError {
  if (error instanceof ClickHouseHttpError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const match = CODE_IN_MESSAGE.exec(message);
  if (match?.[1] !== undefined) return new ClickHouseHttpError(Number(match[1]), message.slice(match.index).trim());
  const code = numericProperty(error, 'clickhouseCode') ?? ErrorCode.UNKNOWN_EXCEPTION;
  const name = nameOf.get(code) ?? 'UNKNOWN_EXCEPTION';
  return new ClickHouseHttpError(code, `Code: ${code}. DB::Exception: ${message.replace(/\.$/, '')}. (${name})`);
}

/** The response body: the text, the engine version as ClickHouse appends it, a line break. */
export function errorBody(error: ClickHouseHttpError, version: string): string {
  const versioned = /\(version [^)]*\)$/.test(error.message) ? error.message : `${error.message} (version ${version})`;
  return `${versioned}\n`;
}
