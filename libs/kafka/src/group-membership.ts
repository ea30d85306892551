import type { Consumer } from 'kafkajs';

/**
 * Whether a consumer is a member of its group right now, from KafkaJS's instrumentation
 * events: joined on GROUP_JOIN, out on CRASH (until it rejoins), STOP and DISCONNECT. Readiness
 * reports a worker that has not joined (or was thrown out) as not ready.
 */
export class GroupMembership {
  #state: 'joining' | 'joined' | 'crashed' | 'stopped' = 'joining';
  #lastError: string | undefined;

  constructor(consumer: Consumer, private readonly groupId: string) {
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.#state = 'joined';
      this.#lastError = undefined;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.#state = 'crashed';
      this.#lastError = payload.error.message;
    });
    consumer.on(consumer.events.STOP, () => {
      this.#state = 'stopped';
    });
    consumer.on(consumer.events.DISCONNECT, () => {
      this.#state = 'stopped';
    });
  }

  /** Throws unless joined; the message says why (a readiness check). */
  assertJoined(): void {
    if (this.#state === 'joined') return;
    const why = this.#state === 'crashed' ? `crashed (${this.#lastError ?? 'unknown error'}), rejoining` : this.#state === 'joining' ? 'not joined yet' : 'stopped';
    throw new Error(`consumer group ${this.groupId}: ${why}`);
  }
}
