import type { Logger } from './logging';

/**
 * Warnings about skipped or diverted records, rate-limited per reason: the first of a reason is
 * logged at once, then at most one sample every `intervalMs`, which says how many of that
 * reason went unlogged since the last sample (a poison flood must not flood the log too).
 */
export class SampledWarnings {
  readonly #last = new Map<string, { at: number; unlogged: number }>();

  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly intervalMs = 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Returns whether this one was logged. */
  note(reason: string, sample: Record<string, unknown>): boolean {
    const now = this.clock();
    const last = this.#last.get(reason);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.unlogged++;
      return false;
    }
    this.log.warn({ ...sample, reason, unloggedSinceLastSample: last?.unlogged ?? 0 }, this.message);
    this.#last.set(reason, { at: now, unlogged: 0 });
    return true;
  }
}
