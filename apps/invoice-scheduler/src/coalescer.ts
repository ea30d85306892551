/**
 * Coalesces calls into batch calls: many invoice jobs run at once, and one ClickHouse query or
 * insert for 64 tenants costs about what one for a single tenant costs. A batch goes out on the
 * next macrotask, or at once when it is full; while `maxInFlight` batches are out, calls wait and
 * go out together when one returns. BullMQ starts jobs one at a time as others finish, so without
 * that wait the calls hardly ever meet in one turn of the event loop (batches of 1-2 keys, each
 * query queueing behind dozens of others); with it, batches grow with the load.
 */
export class Coalescer<K, V> {
  #keys: K[] = [];
  #waiters: { resolve: (value: V) => void; reject: (error: unknown) => void }[] = [];
  #scheduled = false;
  #inFlight = 0;

  constructor(
    private readonly run: (keys: readonly K[]) => Promise<readonly V[]>,
    private readonly maxBatch = 256,
    private readonly maxInFlight = 1,
  ) {}

  /** Resolves with this key's value from the batch it joins (`run` returns values in key order). */
  call(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.#keys.push(key);
      this.#waiters.push({ resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#keys.length >= this.maxBatch) {
      this.#send();
      return;
    }
    if (this.#scheduled || this.#keys.length === 0 || this.#inFlight >= this.maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#keys.length > 0 && this.#inFlight < this.maxInFlight) this.#send();
    });
  }

  #send(): void {
    const keys = this.#keys.splice(0, this.maxBatch);
    const waiters = this.#waiters.splice(0, this.maxBatch);
    this.#inFlight++;
    const done = (): void => {
      this.#inFlight--;
      this.#schedule();
    };
    this.run(keys).then(
      (values) => {
        done();
        if (values.length !== keys.length) {
          const error = new Error(`batch returned ${values.length} values for ${keys.length} keys`);
          for (const w of waiters) w.reject(error);
          return;
        }
        waiters.forEach((w, i) => w.resolve(values[i] as V));
      },
      (error: unknown) => {
        done();
        for (const w of waiters) w.reject(error);
      },
    );
  }
}
