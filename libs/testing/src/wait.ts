/**
 * Polls `probe` until it returns a value `done` accepts, or throws with the last value seen
 * (so a failing test says how far it got, not just "timeout").
 */
export async function waitFor<T>(probe: () => T | Promise<T>, done: (value: T) => boolean, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await probe();
      if (done(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const seen = lastError === undefined ? JSON.stringify(last) : lastError instanceof Error ? lastError.message : JSON.stringify(lastError);
      throw new Error(`timed out after ${options.timeoutMs ?? 60_000} ms waiting for ${options.what ?? 'condition'}; last seen: ${seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}
