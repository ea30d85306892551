interface Waiter {
  limit: number;
  resolve: () => void;
}

/**
 * Collects batches from many partitions and writes them together when `maxRows` are waiting
 * or `maxWaitMs` passed since the first one, whichever comes first (OpenMeter's sink rule).
 * Each `submit` resolves only after the write that contains it succeeded, so the caller
 * commits its offsets after its rows are durable, never before. Writes never overlap.
 *
 * A write takes everything waiting when it starts: while one write runs, batches that arrive
 * meanwhile go into the next write together (larger inserts when the sink is behind, which
 * ClickHouse writes and merges more cheaply per row), never into several small queued ones.
 */
export class FlushBuffer<P extends { size: number }> {
  #parts: { part: P; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #size = 0;
  /** Rows submitted whose write has not finished yet (waiting or being written). */
  #backlog = 0;
  #drained: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** A write is chained behind the current one and has not taken its parts yet. */
  #queued = false;

  constructor(
    private readonly write: (parts: P[]) => Promise<void>,
    private readonly maxRows: number,
    private readonly maxWaitMs: number,
  ) {}

  submit(part: P): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.#parts.push({ part, resolve, reject });
    });
    this.#size += part.size;
    this.#backlog += part.size;
    if (this.#size >= this.maxRows) this.flushNow();
    else this.#timer ??= setTimeout(() => this.flushNow(), this.maxWaitMs);
    return done;
  }

  /** Starts a write of everything waiting (after any write in progress). */
  flushNow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#parts.length === 0 || this.#queued) return;
    this.#queued = true;
    this.#writing = this.#writing.then(async () => {
      this.#queued = false;
      // Everything waiting now, including batches that came while the previous write ran.
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const taken = this.#parts;
      const rows = this.#size;
      this.#parts = [];
      this.#size = 0;
      if (taken.length === 0) return;
      try {
        await this.write(taken.map((t) => t.part));
        for (const t of taken) t.resolve();
      } catch (error) {
        for (const t of taken) t.reject(error);
      } finally {
        this.#backlog -= rows;
        this.#wakeDrained();
      }
    });
  }

  get waitingRows(): number {
    return this.#size;
  }

  /** Rows submitted and not yet written (waiting plus in the write under way). */
  get backlogRows(): number {
    return this.#backlog;
  }

  /** Resolves once the backlog is below `limit` rows (at once if it already is). */
  drained(limit: number): Promise<void> {
    if (this.#backlog < limit) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push({ limit, resolve }));
  }

  /** Resolves when every write started so far has finished. */
  idle(): Promise<void> {
    return this.#writing;
  }

  #wakeDrained(): void {
    if (this.#drained.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.#drained) {
      if (this.#backlog < waiter.limit) waiter.resolve();
      else still.push(waiter);
    }
    this.#drained = still;
  }
}
