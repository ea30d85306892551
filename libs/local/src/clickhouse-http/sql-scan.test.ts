import { describe, expect, it } from 'vitest';
import { scanInsertTarget, scanStatement } from './sql-scan';

describe('scanStatement', () => {
  it('finds the output FORMAT clause, not a column or function named format', () => {
    expect(scanStatement('SELECT 1 FORMAT JSONEachRow').outputFormat).toBe('JSONEachRow');
    expect(scanStatement('SELECT x SETTINGS a = 1 \nFORMAT CSVWithNames').outputFormat).toBe('CSVWithNames');
    expect(scanStatement('SELECT 1 FORMAT JSON SETTINGS max_threads = 1').outputFormat).toBe('JSON');
    expect(scanStatement('SELECT format FROM t').outputFormat).toBeUndefined();
    expect(scanStatement("SELECT format('{}', 'a')").outputFormat).toBeUndefined();
    expect(scanStatement('SELECT (SELECT 1 FORMAT CSV)').outputFormat).toBeUndefined();
  });

  it('counts statements, ignoring semicolons in strings, identifiers and comments', () => {
    expect(scanStatement('SELECT 1;').statements).toBe(1);
    expect(scanStatement('SELECT 1; SELECT 2').statements).toBe(2);
    expect(scanStatement("SELECT 'a;b', `c;d`, $$e;f$$ -- g;h\n/* i; /* nested; */ j; */").statements).toBe(1);
    expect(scanStatement('  -- only a comment\n').statements).toBe(0);
    expect(scanStatement("INSERT INTO t VALUES ('x;y'); DROP TABLE t").statements).toBe(2);
  });

  it('splits INSERT ... FORMAT X from its data by ClickHouse rule: blanks, then one line break', () => {
    const text = 'INSERT INTO db.t (a, b) FORMAT JSONEachRow \n{"a":";"}\n';
    const info = scanStatement(text);
    expect(info).toMatchObject({ keyword: 'INSERT', statements: 1, inputFormat: 'JSONEachRow', sqlEnd: text.indexOf(' \n') });
    expect(text.slice(info.dataStart)).toBe('{"a":";"}\n');
    expect(scanStatement('INSERT INTO t FORMAT CSV').dataStart).toBe('INSERT INTO t FORMAT CSV'.length);
    expect(scanStatement("INSERT INTO t VALUES (1, 'FORMAT')").dataStart).toBeUndefined();
  });

  it('notices INTO OUTFILE and FROM INFILE', () => {
    expect(scanStatement("SELECT 1 INTO OUTFILE '/tmp/x'").intoOutfile).toBe(true);
    expect(scanStatement("INSERT INTO t FROM INFILE '/etc/passwd' FORMAT CSV").fromInfile).toBe(true);
    expect(scanStatement("SELECT 'INTO OUTFILE'").intoOutfile).toBe(false);
  });

  it('takes a parenthesised query for a SELECT', () => {
    expect(scanStatement('(SELECT 1) UNION ALL (SELECT 2)').keyword).toBe('SELECT');
    expect(scanStatement('with x as (select 1) select * from x').keyword).toBe('WITH');
  });
});

describe('scanInsertTarget', () => {
  it('reads plain targets as chdb raw insert takes them', () => {
    const sql = 'INSERT INTO `db`.events (event_id, Occurred_At) FORMAT JSONCompactEachRow';
    expect(scanInsertTarget(sql)).toEqual({ table: 'db.events', columns: ['event_id', 'Occurred_At'], clauseAt: sql.indexOf('FORMAT'), formatFollows: true });
    expect(scanInsertTarget('insert into table t format CSV')).toMatchObject({ table: 't', formatFollows: true });
  });

  it('marks where FROM INFILE fits when raw insert cannot take the target', () => {
    const withSettings = 'INSERT INTO t SETTINGS async_insert = 0 FORMAT RowBinary';
    expect(scanInsertTarget(withSettings)).toEqual({ table: 't', columns: undefined, clauseAt: withSettings.indexOf('SETTINGS'), formatFollows: false });
    const except = 'INSERT INTO t (* EXCEPT (b)) FORMAT CSV';
    expect(scanInsertTarget(except)).toEqual({ clauseAt: except.indexOf('FORMAT'), formatFollows: false });
    expect(scanInsertTarget('INSERT INTO `odd-name` FORMAT CSV')).toMatchObject({ table: undefined, formatFollows: true });
    expect(scanInsertTarget("INSERT INTO FUNCTION file('x.csv') FORMAT CSV")).toEqual({ formatFollows: false });
  });
});
