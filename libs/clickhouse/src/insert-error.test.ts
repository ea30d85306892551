import { ClickHouseError } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { clickhouseErrorCode, insertError } from './insert-error';

const withCode = (message: string, fields: Record<string, unknown>): Error => Object.assign(new Error(message), fields);

describe('insertError', () => {
  const cases: { name: string; error: unknown; code: number | undefined; retriable: boolean }[] = [
    { name: 'chdb constraint violation (clickhouseCode)', error: withCode('Constraint `c` is violated at row 1', { clickhouseCode: 469, code: 'CHDB_INSERT' }), code: 469, retriable: false },
    { name: 'server TYPE_MISMATCH (clickhouse-js code)', error: new ClickHouseError({ message: 'Type mismatch', code: '53', type: 'TYPE_MISMATCH' }), code: 53, retriable: false },
    { name: 'parse error stated in the message', error: new Error('Code: 27. DB::Exception: Cannot parse input: expected \'"\' (CANNOT_PARSE_INPUT_ASSERTION_FAILED)'), code: 27, retriable: false },
    { name: 'NULL in an ordinary column', error: new ClickHouseError({ message: 'Cannot insert NULL', code: '349', type: 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN' }), code: 349, retriable: false },
    { name: 'rejection nested as the cause', error: new Error('wrapped', { cause: new ClickHouseError({ message: 'x', code: '6', type: 'CANNOT_PARSE_TEXT' }) }), code: 6, retriable: false },
    { name: 'too many parts', error: new ClickHouseError({ message: 'Too many parts (300)', code: '252', type: 'TOO_MANY_PARTS' }), code: 252, retriable: true },
    { name: 'timeout', error: new Error('Code: 159. DB::Exception: Timeout exceeded (TIMEOUT_EXCEEDED)'), code: 159, retriable: true },
    { name: 'memory limit', error: new ClickHouseError({ message: 'Memory limit', code: '241', type: 'MEMORY_LIMIT_EXCEEDED' }), code: 241, retriable: true },
    { name: 'missing table: an operator fixes it, the rows are fine', error: new ClickHouseError({ message: 'Table x does not exist', code: '60', type: 'UNKNOWN_TABLE' }), code: 60, retriable: true },
    { name: 'connection refused', error: withCode('connect ECONNREFUSED 127.0.0.1:8123', { code: 'ECONNREFUSED' }), code: undefined, retriable: true },
    { name: 'client timeout', error: new Error('Timeout error.'), code: undefined, retriable: true },
  ];
  it.each(cases)('$name', ({ error, code, retriable }) => {
    expect(clickhouseErrorCode(error)).toBe(code);
    const classified = insertError('insert of 3 rows', error);
    expect(classified.retriable).toBe(retriable);
    expect(classified.code).toBe(retriable ? 'CLICKHOUSE_INSERT_FAILED' : 'CLICKHOUSE_ROWS_REJECTED');
    expect(classified.cause).toBe(error);
  });
});
