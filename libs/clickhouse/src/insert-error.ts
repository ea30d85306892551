import { InfrastructureError, UnrecoverableError, errorMessage, type MeterlineError } from '@meterline/platform';

/**
 * ClickHouse error codes (ErrorCodes.cpp) that reject the rows themselves: the same rows fail
 * the same way on every attempt, so retrying stalls the partition. Anything else (network,
 * timeouts, TOO_MANY_PARTS, memory, a missing table or a permission an operator must fix) may
 * pass later and is retried.
 */
const ROWS_REJECTED: ReadonlyMap<number, string> = new Map([
  [6, 'CANNOT_PARSE_TEXT'],
  [8, 'THERE_IS_NO_COLUMN'],
  [10, 'NOT_FOUND_COLUMN_IN_BLOCK'],
  [16, 'NO_SUCH_COLUMN_IN_TABLE'],
  [20, 'NUMBER_OF_COLUMNS_DOESNT_MATCH'],
  [25, 'CANNOT_PARSE_ESCAPE_SEQUENCE'],
  [26, 'CANNOT_PARSE_QUOTED_STRING'],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
  [38, 'CANNOT_PARSE_DATE'],
  [41, 'CANNOT_PARSE_DATETIME'],
  [43, 'ILLEGAL_TYPE_OF_ARGUMENT'],
  [44, 'ILLEGAL_COLUMN'],
  [47, 'UNKNOWN_IDENTIFIER'],
  [53, 'TYPE_MISMATCH'],
  [69, 'ARGUMENT_OUT_OF_BOUND'],
  [70, 'CANNOT_CONVERT_TYPE'],
  [72, 'CANNOT_PARSE_NUMBER'],
  [117, 'INCORRECT_DATA'],
  [130, 'CANNOT_READ_ARRAY_FROM_TEXT'],
  [131, 'TOO_LARGE_STRING_SIZE'],
  [190, 'SIZES_OF_ARRAYS_DONT_MATCH'],
  [321, 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE'],
  [349, 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN'],
  [407, 'DECIMAL_OVERFLOW'],
  [469, 'VIOLATED_CONSTRAINT'],
]);

/**
 * The ClickHouse error code of an error or of one of its causes: chdb's `clickhouseCode`,
 * clickhouse-js's `code` (digits), or the `Code: N.` every server message starts with.
 */
export function clickhouseErrorCode(error: unknown): number | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (typeof e !== 'object') break;
    const { clickhouseCode, code } = e as { clickhouseCode?: unknown; code?: unknown };
    if (typeof clickhouseCode === 'number') return clickhouseCode;
    if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
    const stated = /\bCode: (\d+)\./.exec(errorMessage(e));
    if (stated) return Number(stated[1]);
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A failed insert as the fleet's error: UnrecoverableError CLICKHOUSE_ROWS_REJECTED when
 * ClickHouse rejected the rows (parse, type, constraint: see ROWS_REJECTED), otherwise a
 * retriable InfrastructureError CLICKHOUSE_INSERT_FAILED.
 */
export function insertError(what: string, error: unknown): MeterlineError {
  const code = clickhouseErrorCode(error);
  const rejected = code === undefined ? undefined : ROWS_REJECTED.get(code);
  if (rejected !== undefined) return new UnrecoverableError('CLICKHOUSE_ROWS_REJECTED', `ClickHouse rejected the ${what} (${rejected}): ${errorMessage(error)}`, error);
  return new InfrastructureError('CLICKHOUSE_INSERT_FAILED', `${what} failed: ${errorMessage(error)}`, error);
}
