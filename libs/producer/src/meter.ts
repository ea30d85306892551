import { CompressionTypes, Partitioners, type ICustomPartitioner, type Kafka, type Message, type Producer } from 'kafkajs';
import { defaultEventLimits, telemetryWarnings, validateUsageEvent, type EventLimits, type UsageEvent } from '@meterline/domain';
import { InvalidEventError, usageEventCodec, type AvroCodec } from '@meterline/contract';
import { createKafka } from '@meterline/kafka';
import { MeterlineError, errorMessage, silentLogger, type Logger } from '@meterline/platform';
import { Spool, type SpooledMessage } from './spool';
import { buildUsageEvent, type UsageRecord } from './usage-record';

export type BufferFullPolicy = 'spool' | 'throw';

export interface MeterConfig {
  /** Kafka brokers, or pass `kafka` to share a client. */
  brokers?: string[];
  kafka?: Kafka;
  clientId?: string;
  topic?: string;
  /** Where events go when Kafka cannot take them; replayed automatically. Required: no data loss. */
  spoolDir: string;
  /** Send a batch after this long, even if it is not full. */
  lingerMs?: number;
  /** Send as soon as this many events wait. */
  batchSize?: number;
  /**
   * Events held in memory before the buffer counts as full. When full, `spool` (default)
   * sends new events to the disk spool (record() stays synchronous and nothing is dropped):
   * they are appended together, with one fdatasync, as soon as the caller yields (or at once
   * every 5,000), not one synchronous disk flush per event, so a meter that fell behind Kafka
   * does not also starve the event loop that drains it. `throw` makes record() throw
   * BufferFullError so the caller can shed load.
   */
  maxBufferedEvents?: number;
  onBufferFull?: BufferFullPolicy;
  /** HMAC pepper for API key hashes (optional). */
  apiKeyPepper?: string;
  limits?: Partial<EventLimits>;
  /** How often to retry the spool while Kafka is unreachable. */
  replayIntervalMs?: number;
  clock?: () => number;
  log?: Logger;
  /** fdatasync after each spool append (default true). */
  spoolFsync?: boolean;
  /**
   * Called with a SpoolError when the spool cannot be written or read (disk full,
   * permissions). The meter never throws from its timers: the events it could not spool
   * stay in memory (`stats().held`) and are retried, to the spool and to Kafka.
   */
  onError?: (error: SpoolError) => void;
}

export class BufferFullError extends MeterlineError {
  constructor(limit: number) {
    super('BUFFER_FULL', `meter buffer full (${limit} events waiting for Kafka) and onBufferFull is "throw"`, { retriable: true });
  }
}

/** The spool failed (disk full, permissions): `events` of them are held in memory and retried. */
export class SpoolError extends MeterlineError {
  readonly events: number;
  constructor(message: string, events: number, cause: unknown) {
    super('SPOOL_FAILED', `${message}: ${errorMessage(cause)}`, { retriable: true, cause });
    this.events = events;
  }
}

/**
 * Events reached neither Kafka nor the spool: thrown by record() once the events held in
 * memory reach `maxBufferedEvents`, and by flush()/close() while any are held.
 */
export class SpoolUnavailableError extends MeterlineError {
  readonly held: number;
  constructor(held: number, lastError: string | undefined) {
    super('SPOOL_UNAVAILABLE', `${held} events reached neither Kafka nor the spool (last spool error: ${lastError ?? 'none'})`, { retriable: true });
    this.held = held;
  }
}

export class MeterClosedError extends MeterlineError {
  constructor() {
    super('METER_CLOSED', 'meter is closed: record() after close()', { retriable: false });
  }
}

export interface MeterStats {
  recorded: number;
  rejected: number;
  /** Events recorded with a bad latency/ttft/status code (the consumers drop those values): the usage is never refused for telemetry. */
  telemetryDropped: number;
  sent: number;
  spooled: number;
  replayed: number;
  buffered: number;
  /** Events neither Kafka nor the spool took yet (spool failing): kept in memory and retried. */
  held: number;
  /** record() calls refused with BufferFullError or SpoolUnavailableError (the caller kept the event). */
  refused: number;
  /** Events held when close() gave up on them (close() rejected with their count). */
  dropped: number;
  /** Failed spool appends and replays. */
  spoolFailures: number;
  /** The latest spool failure, until an append succeeds again. */
  spoolError: string | undefined;
  kafkaReachable: boolean;
}

export interface Meter {
  /** Validates, fills event_id, hashes the API key, encodes and buffers. Never waits on the network. Returns the event_id. */
  record(record: UsageRecord): string;
  /**
   * Resolves when every event recorded so far is in Kafka or in the spool on disk; rejects
   * with SpoolUnavailableError while some reached neither (they stay held and are retried).
   */
  flush(): Promise<void>;
  /** Flushes, tries one last spool replay, disconnects; rejects with SpoolUnavailableError if events had to be dropped. */
  close(): Promise<void>;
  stats(): MeterStats;
}

const MAX_SEND_BATCH = 10_000;
/** Events past a full buffer that are appended to the spool in one go (one fdatasync). */
const SPILL_BATCH = 5_000;
/** Distinct message keys (tenants) whose bytes are kept for reuse. */
const MAX_CACHED_KEYS = 10_000;

/**
 * KafkaJS's default partitioner (murmur2 of the key over all partitions), remembered per key
 * Buffer: the meter reuses one Buffer per tenant, so a batch hashes each tenant once, not
 * every message (the default also filters the partition list per message).
 */
const cachingPartitioner: ICustomPartitioner = () => {
  const partition = Partitioners.DefaultPartitioner();
  const known = new WeakMap<Buffer, { partitions: number; partition: number }>();
  return (args) => {
    const { message, partitionMetadata } = args;
    const key = message.key;
    if ((message.partition !== undefined && message.partition !== null) || !Buffer.isBuffer(key)) return partition(args);
    const hit = known.get(key);
    if (hit !== undefined && hit.partitions === partitionMetadata.length) return hit.partition;
    const chosen = partition(args);
    known.set(key, { partitions: partitionMetadata.length, partition: chosen });
    return chosen;
  };
};

/**
 * Recorded messages waiting for a send, held as parallel columns (key, value, timestamp),
 * not one object each: the objects would outlive a scavenge, V8 would then allocate them
 * straight into old space (allocation-site pretenuring), and record() would pay for the first
 * touch of fresh old-space pages. The Kafka message objects are built when a batch leaves.
 */
class PendingMessages {
  #keys: Buffer[] = [];
  #values: Buffer[] = [];
  #timestamps: string[] = [];

  get length(): number {
    return this.#values.length;
  }

  push(key: Buffer, value: Buffer, timestamp: string): void {
    this.#keys.push(key);
    this.#values.push(value);
    this.#timestamps.push(timestamp);
  }

  /** Removes and returns the oldest `count` messages (all when fewer wait). */
  take(count: number = this.#values.length): Message[] {
    const n = Math.min(count, this.#values.length);
    const messages: Message[] = new Array<Message>(n);
    for (let i = 0; i < n; i++) messages[i] = { key: this.#keys[i], value: this.#values[i] as Buffer, timestamp: this.#timestamps[i] };
    if (n === this.#values.length) {
      this.#keys = [];
      this.#values = [];
      this.#timestamps = [];
    } else {
      this.#keys = this.#keys.slice(n);
      this.#values = this.#values.slice(n);
      this.#timestamps = this.#timestamps.slice(n);
    }
    return messages;
  }
}

export function createMeter(config: MeterConfig): Meter {
  return new KafkaMeter(config);
}

class KafkaMeter implements Meter {
  readonly #topic: string;
  readonly #kafka: Kafka;
  readonly #codec: AvroCodec<UsageEvent>;
  readonly #limits: EventLimits;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #spool: Spool;
  readonly #lingerMs: number;
  readonly #batchSize: number;
  readonly #maxBuffered: number;
  readonly #onBufferFull: BufferFullPolicy;
  readonly #replayIntervalMs: number;
  readonly #pepper: string | undefined;
  readonly #onError: ((error: SpoolError) => void) | undefined;

  #pending = new PendingMessages();
  /** Events recorded while the buffer was full, on their way to the spool. */
  #overflow = new PendingMessages();
  /** Events the spool failed to take (disk full, permissions), retried on the replay timer. */
  #held = new PendingMessages();
  #spoolError: string | undefined;
  #spillTimer: NodeJS.Immediate | undefined;
  /** tenant_id -> its UTF-8 bytes, the message key (one Buffer per tenant, reused). */
  readonly #keys = new Map<string, Buffer>();
  #lastNow = Number.NaN;
  #lastNowText = '';
  #producer: Producer | undefined;
  #connected: Promise<void> | undefined;
  #online = true;
  #lingerTimer: NodeJS.Timeout | undefined;
  #replayTimer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #replaying: Promise<void> | undefined;
  #closed = false;
  readonly #stats = { recorded: 0, rejected: 0, telemetryDropped: 0, sent: 0, spooled: 0, replayed: 0, refused: 0, dropped: 0, spoolFailures: 0 };

  constructor(config: MeterConfig) {
    this.#log = (config.log ?? silentLogger()).child({ component: 'meter' });
    if (!config.kafka && (!config.brokers || config.brokers.length === 0)) {
      throw new MeterlineError('CONFIG_INVALID', 'createMeter: give `brokers` (host:port list) or a `kafka` client');
    }
    this.#kafka = config.kafka ?? createKafka({ brokers: config.brokers ?? [], clientId: config.clientId ?? 'meterline-producer' }, this.#log);
    this.#topic = config.topic ?? 'usage-events';
    this.#codec = usageEventCodec();
    this.#limits = { ...defaultEventLimits, ...config.limits };
    this.#clock = config.clock ?? Date.now;
    this.#lingerMs = config.lingerMs ?? 20;
    this.#batchSize = config.batchSize ?? 2_000;
    this.#maxBuffered = config.maxBufferedEvents ?? 200_000;
    this.#onBufferFull = config.onBufferFull ?? 'spool';
    this.#replayIntervalMs = config.replayIntervalMs ?? 2_000;
    this.#pepper = config.apiKeyPepper;
    this.#onError = config.onError;
    this.#spool = openSpool(config.spoolDir, this.#log, config.spoolFsync ?? true);
    // Events a previous run could not send are replayed as soon as Kafka answers.
    if (this.#spool.hasSegments()) this.#scheduleReplay(0);
  }

  record(record: UsageRecord): string {
    if (this.#closed) throw new MeterClosedError();
    const now = this.#clock();
    const event = buildUsageEvent(record, now, this.#pepper);
    const violations = validateUsageEvent(event, now, this.#limits);
    if (violations.length > 0) {
      this.#stats.rejected++;
      throw new InvalidEventError(violations);
    }
    // Counted here, sent as given: the consumers drop the values and the raw store records why.
    if (telemetryWarnings(event, this.#limits).length > 0) this.#stats.telemetryDropped++;
    const value = this.#codec.encode(event);
    if (now !== this.#lastNow) {
      this.#lastNow = now;
      this.#lastNowText = String(now);
    }
    const key = this.#keyFor(event.tenant_id);
    if (this.#held.length >= this.#maxBuffered) {
      this.#stats.refused++;
      throw new SpoolUnavailableError(this.#held.length, this.#spoolError);
    }
    if (this.#pending.length >= this.#maxBuffered) {
      if (this.#onBufferFull === 'throw') {
        this.#stats.refused++;
        throw new BufferFullError(this.#maxBuffered);
      }
      this.#overflow.push(key, value, this.#lastNowText);
      if (this.#overflow.length >= SPILL_BATCH) this.#spill();
      else this.#spillTimer ??= setImmediate(() => this.#spill());
    } else {
      this.#pending.push(key, value, this.#lastNowText);
      if (this.#pending.length >= this.#batchSize) this.#startDrain();
      else this.#lingerTimer ??= setTimeout(() => this.#startDrain(), this.#lingerMs);
    }
    this.#stats.recorded++;
    return event.event_id;
  }

  #keyFor(tenant: string): Buffer {
    let key = this.#keys.get(tenant);
    if (key === undefined) {
      if (this.#keys.size >= MAX_CACHED_KEYS) this.#keys.clear();
      key = Buffer.from(tenant, 'utf8');
      this.#keys.set(tenant, key);
    }
    return key;
  }

  /** Appends the events recorded past a full buffer to the spool (one append, one fdatasync). */
  #spill(): void {
    clearImmediate(this.#spillTimer);
    this.#spillTimer = undefined;
    if (this.#overflow.length === 0) return;
    this.#spoolMessages(this.#overflow.take());
  }

  async flush(): Promise<void> {
    await this.#drainAll();
    if (this.#held.length > 0) await this.#replayNow();
    if (this.#held.length > 0) throw new SpoolUnavailableError(this.#held.length, this.#spoolError);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#drainAll();
    clearTimeout(this.#replayTimer);
    await this.#replaying;
    if (this.#held.length > 0 || this.#spoolHasSegments()) await this.#replayOnce();
    this.#closeSpool();
    await this.#producer?.disconnect().catch(() => undefined);
    const held = this.#held.take().length;
    if (held > 0) {
      this.#stats.dropped += held;
      const error = new SpoolUnavailableError(held, this.#spoolError);
      this.#log.error({ dropped: held, err: this.#spoolError }, 'meter closed with events neither Kafka nor the spool took: they are dropped');
      throw error;
    }
  }

  stats(): MeterStats {
    return {
      ...this.#stats,
      buffered: this.#pending.length + this.#overflow.length,
      held: this.#held.length,
      spoolError: this.#spoolError,
      kafkaReachable: this.#online,
    };
  }

  async #drainAll(): Promise<void> {
    this.#spill();
    while (this.#pending.length > 0 || this.#draining) {
      this.#startDrain();
      await this.#draining;
    }
  }

  #spoolHasSegments(): boolean {
    try {
      return this.#spool.hasSegments();
    } catch (error) {
      this.#spoolFailed('spool unreadable', 0, error);
      return false;
    }
  }

  #closeSpool(): void {
    try {
      this.#spool.close();
    } catch (error) {
      this.#spoolFailed('spool segment could not be closed', 0, error);
    }
    if (this.#spoolHasSegments()) {
      this.#log.warn({ dir: this.#spool.dir }, 'events remain in the spool: they are replayed at the next start or with `meterline spool replay`');
    }
  }

  #startDrain(): void {
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    // #drain spools what Kafka refuses and never rejects; the catch keeps a bug out of the
    // embedding service's unhandled rejections.
    this.#draining ??= this.#drain().catch((error: unknown) => this.#log.error({ err: errorMessage(error) }, 'meter drain failed')).finally(() => {
      this.#draining = undefined;
      if (this.#pending.length > 0) this.#startDrain();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.take(MAX_SEND_BATCH);
      if (!this.#online) {
        this.#spoolMessages(batch);
        continue;
      }
      try {
        await this.#send(batch);
        this.#stats.sent += batch.length;
      } catch (error) {
        this.#goOffline(error);
        this.#spoolMessages(batch);
      }
    }
  }

  async #send(messages: Message[]): Promise<void> {
    this.#connected ??= this.#connect();
    await this.#connected;
    await (this.#producer as Producer).send({ topic: this.#topic, messages, acks: -1, compression: CompressionTypes.None });
  }

  async #connect(): Promise<void> {
    const producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: cachingPartitioner,
      // Few, quick retries: past them the spool takes the batch, so a dead broker never
      // blocks flush() for long.
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
    this.#producer = producer;
    await producer.connect();
  }

  #goOffline(error: unknown): void {
    if (this.#online) this.#log.warn({ err: errorMessage(error) }, 'Kafka unreachable: spooling events to disk until it returns');
    this.#online = false;
    // A producer that lost its broker is rebuilt on the next attempt.
    const producer = this.#producer;
    this.#producer = undefined;
    this.#connected = undefined;
    void producer?.disconnect().catch(() => undefined);
    this.#scheduleReplay(this.#replayIntervalMs);
  }

  /** Never throws: what the spool refuses is held in memory and retried. */
  #spoolMessages(messages: Message[]): void {
    if (messages.length === 0) return;
    const spooled: SpooledMessage[] = messages.map((m) => ({
      key: Buffer.isBuffer(m.key) ? m.key : Buffer.from(m.key ?? ''),
      value: m.value as Buffer,
      timestamp: Number(m.timestamp),
    }));
    try {
      this.#spool.append(spooled);
      this.#stats.spooled += spooled.length;
      if (this.#spoolError !== undefined) this.#log.info({ dir: this.#spool.dir }, 'spool writable again');
      this.#spoolError = undefined;
    } catch (error) {
      for (const m of messages) this.#held.push(m.key as Buffer, m.value as Buffer, m.timestamp as string);
      this.#spoolFailed('spool append failed', messages.length, error);
    }
    this.#scheduleReplay(this.#replayIntervalMs);
  }

  #spoolFailed(what: string, events: number, cause: unknown): void {
    const error = new SpoolError(`${what} (${this.#spool.dir})${events > 0 ? `, ${events} events held in memory` : ''}`, events, cause);
    this.#stats.spoolFailures++;
    if (this.#spoolError === undefined) this.#log.error({ err: error.message, held: this.#held.length }, 'spool failing: events are held in memory and retried');
    this.#spoolError = error.message;
    try {
      this.#onError?.(error);
    } catch (callbackError) {
      this.#log.error({ err: errorMessage(callbackError) }, 'meter onError callback threw');
    }
  }

  /** Held events go to the spool again, or straight to Kafka while the spool still fails. */
  async #placeHeld(send: (messages: Message[]) => Promise<void>): Promise<void> {
    if (this.#held.length === 0) return;
    this.#spoolMessages(this.#held.take());
    while (this.#held.length > 0) {
      const batch = this.#held.take(MAX_SEND_BATCH);
      try {
        await send(batch);
      } catch (error) {
        for (const m of batch) this.#held.push(m.key as Buffer, m.value as Buffer, m.timestamp as string);
        throw error;
      }
      this.#stats.sent += batch.length;
    }
  }

  #scheduleReplay(delayMs: number): void {
    if (this.#replayTimer || this.#closed) return;
    this.#replayTimer = setTimeout(() => {
      this.#replayTimer = undefined;
      void this.#replayNow();
    }, delayMs);
    this.#replayTimer.unref();
  }

  /** One replay at a time; #replayOnce never rejects. */
  #replayNow(): Promise<void> {
    this.#replaying ??= this.#replayOnce().finally(() => {
      this.#replaying = undefined;
    });
    return this.#replaying;
  }

  async #replayOnce(): Promise<void> {
    // Only a failed send means Kafka is away; anything else came from the spool's disk.
    let kafkaFailed = false;
    const send = async (messages: Message[]): Promise<void> => {
      try {
        await this.#send(messages);
      } catch (error) {
        kafkaFailed = true;
        throw error;
      }
    };
    try {
      await this.#placeHeld(send);
      const replayed = await this.#spool.replay((messages) => send(messages.map((m) => ({ key: m.key, value: m.value, timestamp: String(m.timestamp) }))));
      this.#stats.replayed += replayed;
      if (!this.#online) this.#log.info({ replayed }, 'Kafka reachable again: spool replayed');
      this.#online = true;
      // Events spooled while the replay ran sit in a new segment: take them too.
      if (this.#spoolHasSegments()) this.#scheduleReplay(0);
    } catch (error) {
      if (kafkaFailed) this.#goOffline(error);
      else {
        this.#spoolFailed('spool replay failed', 0, error);
        this.#scheduleReplay(this.#replayIntervalMs);
      }
    }
  }
}

function openSpool(dir: string, log: Logger, fsync: boolean): Spool {
  try {
    return new Spool(dir, log, { fsync });
  } catch (error) {
    throw new MeterlineError('SPOOL_UNAVAILABLE', `spool directory ${dir} is unusable: ${errorMessage(error)}`, { retriable: false, cause: error });
  }
}
