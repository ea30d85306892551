import type { Logger } from 'pino';

export type StopFn = () => Promise<void>;

/**
 * Runs stop functions in reverse order of registration (last started, first stopped), so
 * producers drain before the broker they write to goes away. Each runs once.
 */
export class Lifecycle {
  readonly #stops: { name: string; stop: StopFn }[] = [];
  #stopping: Promise<void> | undefined;

  constructor(private readonly log?: Logger) {}

  onStop(name: string, stop: StopFn): void {
    this.#stops.push({ name, stop });
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#runStops();
    return this.#stopping;
  }

  async #runStops(): Promise<void> {
    for (const { name, stop } of [...this.#stops].reverse()) {
      try {
        this.log?.info({ component: name }, 'stopping');
        await stop();
      } catch (error) {
        this.log?.error({ component: name, err: error }, 'stop failed');
      }
    }
  }

  /** SIGINT/SIGTERM drain once; a second signal exits at once. */
  stopOnSignals(onStopped: () => void = () => process.exit(0)): void {
    let signalled = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (signalled) {
        this.log?.warn({ signal }, 'second signal: exiting without draining');
        process.exit(130);
      }
      signalled = true;
      this.log?.info({ signal }, 'draining');
      void this.stop().then(onStopped);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  }
}
