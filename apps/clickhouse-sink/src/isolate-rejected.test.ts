import { describe, expect, it } from 'vitest';
import { InfrastructureError, UnrecoverableError } from '@meterline/platform';
import { insertIsolatingRejected, isolatingInsertBudget } from './isolate-rejected';

/** A table that rejects the rows in `bad` (every insert holding one fails) and records what it kept. */
function table(bad: ReadonlySet<number>, options: { failOnceAt?: number } = {}) {
  const written: number[] = [];
  const tokens: string[] = [];
  let inserts = 0;
  const write = (start: number, end: number, token: string): Promise<void> => {
    inserts++;
    if (options.failOnceAt === inserts) return Promise.reject(new InfrastructureError('CLICKHOUSE_INSERT_FAILED', 'timeout'));
    for (let row = start; row < end; row++) if (bad.has(row)) return Promise.reject(new UnrecoverableError('CLICKHOUSE_ROWS_REJECTED', `row ${row}`));
    for (let row = start; row < end; row++) written.push(row);
    tokens.push(token);
    return Promise.resolve();
  };
  return { write, written, tokens, inserts: () => inserts };
}

describe('insertIsolatingRejected', () => {
  const cases = [
    { rows: 1, bad: [] as number[] },
    { rows: 1, bad: [0] },
    { rows: 10_000, bad: [] },
    { rows: 10_000, bad: [0] },
    { rows: 10_000, bad: [9_999] },
    { rows: 10_000, bad: [17, 4_242, 4_243, 9_000] },
    { rows: 3_000, bad: Array.from({ length: 16 }, (_, i) => i * 187 + 5) },
  ];
  it.each(cases)('$rows rows, bad $bad: the bad rows alone are rejected, every other row written once', async ({ rows, bad }) => {
    const t = table(new Set(bad));
    const rejected = await insertIsolatingRejected(rows, 'tok', t.write);
    expect(rejected.flatMap((r) => Array.from({ length: r.end - r.start }, (_, i) => r.start + i))).toEqual(bad);
    expect(t.written.sort((a, b) => a - b)).toEqual(Array.from({ length: rows }, (_, i) => i).filter((i) => !bad.includes(i)));
    expect(t.inserts()).toBeLessThanOrEqual(isolatingInsertBudget(rows));
  });

  it('a table that rejects every row: stops at the budget and rejects the remaining ranges whole', async () => {
    const rows = 10_000;
    const t = table(new Set(Array.from({ length: rows }, (_, i) => i)));
    const rejected = await insertIsolatingRejected(rows, 'tok', t.write);
    expect(rejected.reduce((n, r) => n + r.end - r.start, 0)).toBe(rows);
    expect(t.inserts()).toBeLessThanOrEqual(isolatingInsertBudget(rows));
    expect(rejected.every((r) => r.error instanceof UnrecoverableError)).toBe(true);
  });

  it('a retriable error is thrown; the retry re-sends the same range tokens, so halves already written are ClickHouse no-ops', async () => {
    const first = table(new Set([700]), { failOnceAt: 6 });
    await expect(insertIsolatingRejected(1_000, 'tok', first.write)).rejects.toBeInstanceOf(InfrastructureError);
    const again = table(new Set([700]));
    await insertIsolatingRejected(1_000, 'tok', again.write);
    for (const token of first.tokens) expect(again.tokens).toContain(token);
  });

  it('maxInserts 1 (halt): the first rejection comes back whole', async () => {
    const t = table(new Set([3]));
    expect(await insertIsolatingRejected(10, 'tok', t.write, 1)).toMatchObject([{ start: 0, end: 10, isolated: false }]);
    expect(t.inserts()).toBe(1);
  });
});
