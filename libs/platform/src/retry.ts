import { isRetriable } from './errors';

export interface BackoffPolicy {
  /** First delay. */
  initialMs: number;
  /** Cap for any single delay. */
  maxMs: number;
  /** Growth per attempt. */
  multiplier: number;
}

export const defaultBackoff: BackoffPolicy = { initialMs: 100, maxMs: 10_000, multiplier: 2 };

/**
 * "Full jitter" exponential backoff: a uniform delay in [0, min(max, initial * m^attempt)].
 * Jitter keeps a fleet of sinks from hammering a recovering ClickHouse in lockstep.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = defaultBackoff, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** attempt);
  return Math.max(1, Math.floor(random() * ceiling));
}

export interface RetryOptions {
  policy?: BackoffPolicy;
  /** Give up after this many attempts (Infinity: until success or a non-retriable error). */
  maxAttempts?: number;
  /** Stops waiting between attempts; the last error is thrown. */
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  retriable?: (error: unknown) => boolean;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs `fn` until it succeeds; retries only errors the predicate calls retriable. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = options.policy ?? defaultBackoff;
  const maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
  const retriable = options.retriable ?? isRetriable;
  const wait = options.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (!retriable(error) || attempt + 1 >= maxAttempts || options.signal?.aborted) throw error;
      const delay = backoffDelay(attempt, policy);
      options.onRetry?.(error, attempt + 1, delay);
      await wait(delay, options.signal);
      if (options.signal?.aborted) throw error;
    }
  }
}
