import { MeterlineError } from '@meterline/platform';

/** Rows `[start, end)` of a flush that ClickHouse rejected, and its error. */
export interface RejectedRows {
  start: number;
  end: number;
  error: unknown;
  /** One row, rejected by its own insert (else a range the budget left unsplit: some rows may be good). */
  isolated: boolean;
}

/**
 * Inserts one flush of `rows` may spend isolating rejected rows before a range still failing is
 * rejected whole: enough to isolate 16 bad rows (about 2·log2(n) inserts each), bounded for a
 * flush whose every row fails (a table that rejects everything).
 */
export function isolatingInsertBudget(rows: number): number {
  return 32 * Math.max(1, Math.ceil(Math.log2(rows + 1)));
}

/**
 * Inserts rows `[0, count)` through `write`, isolating the rows ClickHouse rejects (a
 * non-retriable error: parse, type, constraint): a rejected range is split in halves, each
 * inserted on its own, down to single rows, so one bad row does not take its flush with it
 * (about 2·log2(n) inserts for one bad row). Once `maxInserts` are spent, a range that still
 * fails is rejected whole. A retriable error is thrown: the caller retries the flush, and a
 * range's token (`token` plus its bounds, the same on every attempt) makes the halves already
 * written no-ops.
 */
export async function insertIsolatingRejected(
  count: number,
  token: string,
  write: (start: number, end: number, token: string) => Promise<void>,
  maxInserts = isolatingInsertBudget(count),
): Promise<RejectedRows[]> {
  const rejected: RejectedRows[] = [];
  let inserts = 0;
  // `rejection`: the error of the enclosing range, this range's verdict if the budget is spent.
  const insert = async (start: number, end: number, rangeToken: string, rejection?: unknown): Promise<void> => {
    if (rejection !== undefined && inserts >= maxInserts) {
      rejected.push({ start, end, error: rejection, isolated: false });
      return;
    }
    inserts++;
    try {
      await write(start, end, rangeToken);
    } catch (error) {
      // Only the fleet's non-retriable errors reject rows; anything else (unclassified) is retried.
      if (!(error instanceof MeterlineError) || error.retriable) throw error;
      if (end - start === 1 || inserts >= maxInserts) {
        rejected.push({ start, end, error, isolated: end - start === 1 });
        return;
      }
      const middle = start + Math.floor((end - start) / 2);
      await insert(start, middle, `${token}:${start}-${middle}`, error);
      await insert(middle, end, `${token}:${middle}-${end}`, error);
    }
  };
  if (count > 0) await insert(0, count, token);
  return rejected;
}
