/**
 * Coalesces calls made in the same turn of the event loop into one batch call: many invoice jobs
 * run at once, and one ClickHouse query or insert for 64 tenants costs about what one for a
 * single tenant costs. A batch goes out on the next macrotask, or at once when it is full.
 */
export class Coalescer<K, V> {
  #keys: K[] = [];
  #waiters: { resolve: (value: V) => void; reject: (error: unknown) => void }[] = [];
  #scheduled = false;

  constructor(
    private readonly run: (keys: readonly K[]) => Promise<readonly V[]>,
    private readonly maxBatch = 256,
  ) {}

  /** Resolves with this key's value from the batch it joins (`run` returns values in key order). */
  call(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.#keys.push(key);
      this.#waiters.push({ resolve, reject });
      if (this.#keys.length >= this.maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#keys.length === 0) return;
    const keys = this.#keys;
    const waiters = this.#waiters;
    this.#keys = [];
    this.#waiters = [];
    this.run(keys).then(
      (values) => {
        if (values.length !== keys.length) {
          const error = new Error(`batch returned ${values.length} values for ${keys.length} keys`);
          for (const w of waiters) w.reject(error);
          return;
        }
        waiters.forEach((w, i) => w.resolve(values[i] as V));
      },
      (error: unknown) => {
        for (const w of waiters) w.reject(error);
      },
    );
  }
}
