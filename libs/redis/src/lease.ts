import { randomUUID } from 'node:crypto';
import { MeterlineError, errorMessage } from '@meterline/platform';
import type { ScriptedRedis } from './scripts';

export interface LeaseOptions {
  /** How long the lease lasts without renewal: a holder that dies frees it after this. */
  ttlMs: number;
  /** How often the holder renews it (default a third of the TTL: two renewals may fail). */
  renewEveryMs?: number;
  /** Called once when the lease is lost (another holder took it, or renewals failed past the TTL). */
  onLost?: (error: LeaseLostError) => void;
}

/** The lease lapsed while its holder worked: whatever it was doing must stop (another may hold it now). */
export class LeaseLostError extends MeterlineError {
  constructor(key: string, why: string, cause?: unknown) {
    super('LEASE_LOST', `lease ${key} lost: ${why}`, { retriable: true, cause });
  }
}

/**
 * A lease on one Redis key: SET NX PX with a random token, renewed by its holder while it works
 * (renew-lease-1.lua, compare and expire), released only by its holder (release-lease-1.lua).
 * A holder that dies stops renewing, so the key expires and a waiter takes over.
 */
export class Lease {
  readonly token = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #lost: LeaseLostError | undefined;
  /** When the lease last reached Redis renewed (or was acquired): it holds until this + TTL. */
  #heldSince = 0;

  private constructor(
    private readonly redis: ScriptedRedis,
    readonly key: string,
    private readonly options: LeaseOptions,
  ) {}

  /** The lease when it was free, else undefined (someone else holds it). */
  static async tryAcquire(redis: ScriptedRedis, key: string, options: LeaseOptions): Promise<Lease | undefined> {
    const lease = new Lease(redis, key, options);
    const startedAt = Date.now();
    if ((await redis.set(key, lease.token, 'PX', options.ttlMs, 'NX')) !== 'OK') return undefined;
    lease.#heldSince = startedAt;
    lease.#startRenewing();
    return lease;
  }

  /** Throws LeaseLostError once the lease is known lost. */
  assertHeld(): void {
    if (this.#lost) throw this.#lost;
  }

  /**
   * Renews now and throws LeaseLostError if the lease is no longer this holder's: called right
   * before writes that only the holder may make.
   */
  async confirm(): Promise<void> {
    this.assertHeld();
    await this.#renew();
    this.assertHeld();
  }

  /** Stops renewing (what a holder's death does): the lease lapses after its TTL. */
  stopRenewing(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops renewing and frees the lease if this holder still holds it. */
  async release(): Promise<void> {
    this.stopRenewing();
    if (this.#lost) return;
    await this.redis.releaseLease(this.key, this.token);
  }

  #startRenewing(): void {
    const every = this.options.renewEveryMs ?? Math.max(1, Math.floor(this.options.ttlMs / 3));
    this.#timer = setInterval(() => void this.#renew(), every);
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    if (this.#lost) return;
    const startedAt = Date.now();
    try {
      if ((await this.redis.renewLease(this.key, this.token, this.options.ttlMs)) === 1) {
        this.#heldSince = startedAt;
        return;
      }
      this.#lose(new LeaseLostError(this.key, 'another holder has it, or it expired'));
    } catch (error) {
      // Redis unreachable: the lease may still hold until its TTL runs out from the last renewal.
      if (Date.now() - this.#heldSince >= this.options.ttlMs) this.#lose(new LeaseLostError(this.key, `renewals failed for longer than its ${this.options.ttlMs} ms TTL: ${errorMessage(error)}`, error));
    }
  }

  #lose(error: LeaseLostError): void {
    this.#lost = error;
    this.stopRenewing();
    this.options.onLost?.(error);
  }
}
