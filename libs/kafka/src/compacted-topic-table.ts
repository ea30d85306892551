import type { Consumer, Kafka } from 'kafkajs';
import { errorMessage, type Logger } from '@meterline/platform';

/**
 * A compacted topic read into memory and kept current: key -> latest value (a null value is a
 * tombstone and removes the key). Every process reads the whole topic (its own consumer group,
 * nothing committed), so all see the same table. `ready()` resolves once the end offsets seen at
 * start were reached.
 */
export class CompactedTopicTable {
  readonly #entries = new Map<string, Buffer>();
  readonly #listeners: ((key: string, value: Buffer | null) => void)[] = [];
  #consumer: Consumer | undefined;
  #ready: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly log: Logger,
  ) {}

  onChange(listener: (key: string, value: Buffer | null) => void): void {
    this.#listeners.push(listener);
  }

  entries(): ReadonlyMap<string, Buffer> {
    return this.#entries;
  }

  start(): Promise<void> {
    this.#ready ??= this.#start();
    return this.#ready;
  }

  async #start(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    const ends = new Map<number, bigint>();
    try {
      for (const { partition, offset, low } of await admin.fetchTopicOffsets(this.topic)) {
        if (BigInt(offset) > BigInt(low)) ends.set(partition, BigInt(offset));
      }
    } finally {
      await admin.disconnect();
    }
    const consumer = this.kafka.consumer({ groupId: `meterline-table-${this.topic}-${process.pid}-${Date.now().toString(36)}`, maxWaitTimeInMs: 200 });
    this.#consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    let caughtUp: () => void = () => undefined;
    const caughtUpPromise = new Promise<void>((resolve) => {
      caughtUp = resolve;
      if (ends.size === 0) resolve();
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ partition, message }) => {
        const key = message.key?.toString();
        if (key !== undefined) {
          if (message.value === null) this.#entries.delete(key);
          else this.#entries.set(key, message.value);
          for (const listener of this.#listeners) {
            try {
              listener(key, message.value);
            } catch (error) {
              this.log.error({ topic: this.topic, key, err: errorMessage(error) }, 'table listener failed');
            }
          }
        }
        const end = ends.get(partition);
        if (end !== undefined && BigInt(message.offset) + 1n >= end) {
          ends.delete(partition);
          if (ends.size === 0) caughtUp();
        }
        return Promise.resolve();
      },
    });
    await caughtUpPromise;
  }

  async stop(): Promise<void> {
    await this.#consumer?.disconnect();
  }
}
