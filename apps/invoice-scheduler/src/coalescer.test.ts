import { describe, expect, it } from 'vitest';
import { Coalescer } from './coalescer';

interface Pending<K> {
  keys: readonly K[];
  answer: (values: readonly string[]) => void;
  fail: (error: Error) => void;
}

/** A batch function that records each batch and answers when the test says so. */
function controlledBatches<K>() {
  const batches: Pending<K>[] = [];
  const run = (keys: readonly K[]): Promise<readonly string[]> =>
    new Promise((resolve, reject) => {
      batches.push({ keys: [...keys], answer: resolve, fail: reject });
    });
  return { batches, run };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer', () => {
  it('sends the calls of one event-loop turn as one batch and gives each caller its own value', async () => {
    const { batches, run } = controlledBatches<string>();
    const coalescer = new Coalescer(run);
    const calls = ['acme', 'globex', 'initech'].map((key) => coalescer.call(key));
    expect(batches).toHaveLength(0); // not before the next macrotask
    await nextTurn();
    expect(batches.map((b) => b.keys)).toEqual([['acme', 'globex', 'initech']]);
    batches[0]!.answer(['A', 'G', 'I']);
    expect(await Promise.all(calls)).toEqual(['A', 'G', 'I']);
  });

  it('holds calls while a batch is in flight (maxInFlight 1), then sends them together', async () => {
    const { batches, run } = controlledBatches<number>();
    const coalescer = new Coalescer(run);
    const first = coalescer.call(1);
    await nextTurn();
    const later = [coalescer.call(2), coalescer.call(3)];
    await nextTurn();
    const evenLater = coalescer.call(4);
    await nextTurn();
    expect(batches.map((b) => b.keys)).toEqual([[1]]);
    batches[0]!.answer(['one']);
    await first;
    await nextTurn();
    expect(batches.map((b) => b.keys)).toEqual([[1], [2, 3, 4]]);
    batches[1]!.answer(['two', 'three', 'four']);
    expect(await Promise.all([...later, evenLater])).toEqual(['two', 'three', 'four']);
  });

  it('sends a full batch at once, without waiting for the next turn or the batch in flight', async () => {
    const { batches, run } = controlledBatches<number>();
    const coalescer = new Coalescer(run, 3);
    const calls = [1, 2, 3, 4].map((key) => coalescer.call(key));
    expect(batches.map((b) => b.keys)).toEqual([[1, 2, 3]]);
    await nextTurn();
    expect(batches.map((b) => b.keys)).toEqual([[1, 2, 3]]); // 4 waits: one batch is out
    batches[0]!.answer(['a', 'b', 'c']);
    await Promise.all(calls.slice(0, 3));
    await nextTurn();
    expect(batches.map((b) => b.keys)).toEqual([[1, 2, 3], [4]]);
    batches[1]!.answer(['d']);
    expect(await Promise.all(calls)).toEqual(['a', 'b', 'c', 'd']);
  });

  it.each([
    { case: 'the batch fails', settle: (b: Pending<string>) => b.fail(new Error('ClickHouse down')), error: 'ClickHouse down' },
    { case: 'the batch answers too few values', settle: (b: Pending<string>) => b.answer(['only one']), error: 'batch returned 1 values for 2 keys' },
  ])('rejects every caller of a batch when $case, and the next batch still goes out', async ({ settle, error }) => {
    const { batches, run } = controlledBatches<string>();
    const coalescer = new Coalescer(run);
    const failed = [coalescer.call('a'), coalescer.call('b')];
    await nextTurn();
    settle(batches[0]!);
    for (const call of failed) await expect(call).rejects.toThrow(error);
    const next = coalescer.call('c');
    await nextTurn();
    expect(batches.map((b) => b.keys)).toEqual([['a', 'b'], ['c']]);
    batches[1]!.answer(['C']);
    expect(await next).toBe('C');
  });
});
