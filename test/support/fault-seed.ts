import { onTestFailed } from 'vitest';
import { seededRandom } from '@meterline/testing';

/**
 * Random fault timing that can be replayed: seeded from METERLINE_TEST_SEED when set, else a
 * fresh seed, printed when the test fails (rerun with METERLINE_TEST_SEED=<seed>). Call inside
 * the test (onTestFailed binds to the running test).
 */
export function faultRandom(what: string): { seed: number; random: () => number; between: (minMs: number, maxMs: number) => number } {
  const fromEnv = process.env.METERLINE_TEST_SEED;
  const seed = fromEnv === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(fromEnv);
  if (!Number.isSafeInteger(seed)) throw new Error(`METERLINE_TEST_SEED must be an integer, got ${JSON.stringify(fromEnv)}`);
  onTestFailed(() => console.error(`[${what}] fault timing seed ${seed}: rerun with METERLINE_TEST_SEED=${seed}`));
  const random = seededRandom(seed);
  return { seed, random, between: (minMs, maxMs) => minMs + Math.floor(random() * (maxMs - minMs)) };
}
