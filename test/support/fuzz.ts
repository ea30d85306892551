import { Script, createContext } from 'node:vm';
import fc from 'fast-check';

/**
 * Property-based fuzzing (fast-check) with a seed that is printed before every property runs
 * and the number of cases each one ran. `FUZZ_SEED=<n>` replays a run (every property of it);
 * `FUZZ_RUNS=<n>` sets the cases per property (`npm run fuzz` runs many; `npm test` the defaults).
 */
export const fuzzSeed: number = process.env.FUZZ_SEED === undefined ? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0 : Number(process.env.FUZZ_SEED);
if (!Number.isSafeInteger(fuzzSeed)) throw new Error(`FUZZ_SEED must be an integer, got ${process.env.FUZZ_SEED}`);

const runsOverride = process.env.FUZZ_RUNS === undefined ? undefined : Number(process.env.FUZZ_RUNS);
if (runsOverride !== undefined && !(Number.isSafeInteger(runsOverride) && runsOverride > 0)) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);

/** A test's timeout: the suite's for the default runs; hours when FUZZ_RUNS asks for a long run. */
export const fuzzTimeoutMs = runsOverride === undefined ? 180_000 : 12 * 3_600_000;

/** What each case came to (`decoded`, `malformed_body`, `400 REQUEST_INVALID`, ...), counted for the summary line. */
export class Outcomes {
  readonly #counts = new Map<string, number>();

  add(outcome: string): void {
    this.#counts.set(outcome, (this.#counts.get(outcome) ?? 0) + 1);
  }

  get total(): number {
    return [...this.#counts.values()].reduce((a, b) => a + b, 0);
  }

  count(outcome: string): number {
    return this.#counts.get(outcome) ?? 0;
  }

  /** `malformed_body 812, decoded 120, ...`, most frequent first. */
  toString(): string {
    return [...this.#counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  }
}

export interface FuzzSummary {
  name: string;
  seed: number;
  /** Cases the property ran (fast-check's count, shrinking excluded). */
  cases: number;
  outcomes: Outcomes;
}

/**
 * Runs `property` for `defaultRuns` cases (FUZZ_RUNS overrides) from the printed seed and prints
 * one summary line: `fuzz <name>: <cases> cases, seed <seed>: <outcomes>`. A failure throws
 * fast-check's report (counterexample, seed and path to replay it).
 */
export async function fuzz<Ts extends [unknown, ...unknown[]]>(name: string, property: fc.IRawProperty<Ts>, defaultRuns: number, outcomes: Outcomes): Promise<FuzzSummary> {
  const numRuns = runsOverride ?? defaultRuns;
  console.log(`fuzz ${name}: starting ${numRuns} cases, seed ${fuzzSeed} (FUZZ_SEED=${fuzzSeed} replays it)`);
  const details = await fc.check(property, { seed: fuzzSeed, numRuns });
  if (details.failed) {
    const cause = details.errorInstance;
    const why = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
    throw new Error(`fuzz ${name} failed (FUZZ_SEED=${fuzzSeed}): ${why}\n${fc.defaultReportMessage(details)}`, { cause });
  }
  const summary = { name, seed: fuzzSeed, cases: details.numRuns, outcomes };
  console.log(`fuzz ${name}: ${summary.cases} cases, seed ${fuzzSeed}: ${outcomes.toString()}`);
  return summary;
}

/** A case that runs this long has stalled (a decode takes microseconds): it fails instead of hanging the suite. */
export const STALL_MS = 5_000;

// One context and one compiled call, reused: a new context per case costs milliseconds.
const guard = createContext({ fn: undefined as (() => unknown) | undefined });
const callFn = new Script('fn()');

/**
 * Calls `fn` under a watchdog (node:vm's timeout, which interrupts synchronous code too): past
 * STALL_MS it throws `<what> stalled`, so an endless loop on a poison input is a failed case
 * with its seed, not a hung run.
 */
export function withoutStall<T>(what: string, fn: () => T): T {
  guard.fn = fn;
  try {
    return callFn.runInContext(guard, { timeout: STALL_MS }) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new Error(`${what} stalled: still running after ${STALL_MS} ms`);
    throw error;
  }
}
