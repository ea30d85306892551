import { sealDays, type ClickHouseHandle } from '@meterline/clickhouse';
import type { Logger } from '@meterline/platform';

const DAY_MS = 86_400_000;

export interface DaySealerOptions {
  intervalMs: number;
  /** A day is sealed once it ended this long ago (its hours have closed to cumulative updates). */
  allowedLatenessMs: number;
  clock?: () => number;
}

/**
 * Seals finished days into the daily rollups now and then, so long-range reads leave the hourly
 * rows. A failed round is logged and tried again next interval: until then the hourly rows answer,
 * exactly, only slower.
 */
export class DaySealer {
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> = Promise.resolve();
  readonly #clock: () => number;

  constructor(private readonly handle: ClickHouseHandle, private readonly options: DaySealerOptions, private readonly log: Logger) {
    this.#clock = options.clock ?? Date.now;
  }

  start(): void {
    if (this.options.intervalMs === 0) return;
    const tick = () => {
      this.#round = this.sealOnce().finally(() => {
        if (this.#timer !== undefined) this.#timer = setTimeout(tick, this.options.intervalMs).unref();
      });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  /** One round: every finished day that changed since its seal. */
  async sealOnce(): Promise<void> {
    const beforeMs = Math.floor((this.#clock() - this.options.allowedLatenessMs) / DAY_MS) * DAY_MS;
    try {
      const { sealed } = await sealDays(this.handle, { beforeMs });
      if (sealed.length > 0) this.log.info({ days: sealed.length, first: sealed[0], last: sealed.at(-1) }, 'sealed days into the daily rollups');
    } catch (error) {
      this.log.warn({ err: error }, 'sealing days failed; the hourly rollups answer for them until the next round');
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }
}
