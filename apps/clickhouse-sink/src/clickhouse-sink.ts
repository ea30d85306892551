import { createHash } from 'node:crypto';
import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import { toDeadLetterMessage, type DeadLetter } from '@meterline/kafka';
import { errorMessage, retry, sleep, type Logger } from '@meterline/platform';
import { FlushBuffer } from './flush-buffer';
import type { SinkStream } from './sink-stream';

export interface ClickHouseSinkConfig {
  groupId: string;
  topic: string;
  dlqTopic: string;
  flushRows: number;
  flushMs: number;
  /** Consumer session timeout; a crashed member's partitions move after this long. */
  sessionTimeoutMs?: number;
  /** How long stop() keeps retrying a failing write before giving up (the batch is then re-read after restart). */
  stopGraceMs?: number;
}

export interface ClickHouseSinkStats {
  rowsWritten: number;
  deadLettered: number;
  flushes: number;
  writeRetries: number;
  paused: boolean;
}

/** One partition's share of a flush. */
interface PartitionBatch<Row> {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  rows: Row[];
  deadLetters: DeadLetter[];
  size: number;
}

/**
 * A Kafka topic -> a ClickHouse table (+ poison -> the DLQ), for any SinkStream: raw usage
 * events (usage-events -> usage_events) and hourly rollups (usage-rollups -> usage_rollups_hourly).
 *
 * Each partition batch is decoded, handed to a shared FlushBuffer, and its offsets are
 * committed only after the flush holding it wrote its rows and its dead letters. A crash at
 * any point re-reads from the last commit; the replay is absorbed by the insert
 * deduplication token and by ReplacingMergeTree on event_id.
 */
export class ClickHouseSink<Row = unknown> {
  readonly #log: Logger;
  readonly #buffer: FlushBuffer<PartitionBatch<Row>>;
  readonly #stopping = new AbortController();
  readonly #stats: ClickHouseSinkStats = { rowsWritten: 0, deadLettered: 0, flushes: 0, writeRetries: 0, paused: false };
  #consumer: Consumer | undefined;
  #dlqProducer: Producer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly stream: SinkStream<Row>,
    private readonly config: ClickHouseSinkConfig,
    log: Logger,
  ) {
    this.#log = log.child({ component: 'clickhouse-sink', stream: stream.name });
    this.#buffer = new FlushBuffer((parts) => this.#write(parts), config.flushRows, config.flushMs);
  }

  async start(): Promise<void> {
    this.#dlqProducer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await this.#dlqProducer.connect();
    const consumer = this.kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: this.config.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: Math.min(250, this.config.flushMs),
      maxBytesPerPartition: 4 * 1024 * 1024,
      allowAutoTopicCreation: false,
      // KafkaJS gives up on errors it calls non-retriable (e.g. the broker refusing connections
      // for a while). A sink must outlive a broker restart, so it always rejoins; nothing was
      // committed for unwritten batches, so they are read again.
      retry: {
        retries: 10,
        restartOnFailure: (error) => {
          this.#log.warn({ err: errorMessage(error) }, 'consumer failed; restarting it');
          return Promise.resolve(true);
        },
      },
    });
    this.#consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.config.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Every partition's batch joins the same flush, so one insert carries many partitions.
      partitionsConsumedConcurrently: 64,
      eachBatch: (payload) => this.#onBatch(payload),
    });
    this.#log.info({ topic: this.config.topic, group: this.config.groupId, flushRows: this.config.flushRows, flushMs: this.config.flushMs }, 'sink started');
  }

  async #onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    const { rows, deadLetters } = this.stream.decode(batch.topic, batch.partition, batch.messages);
    const part: PartitionBatch<Row> = {
      topic: batch.topic,
      partition: batch.partition,
      firstOffset: batch.firstOffset() ?? batch.messages[0]?.offset ?? '0',
      lastOffset: batch.lastOffset(),
      rows,
      deadLetters,
      size: rows.length + deadLetters.length,
    };
    const written = this.#buffer.submit(part);
    // Keep the group membership alive while the flush (or a ClickHouse outage) takes time.
    let done = false;
    const markDone = (): void => {
      done = true;
    };
    void written.then(markDone, markDone);
    while (!done) {
      await Promise.race([written.catch(() => undefined), sleep(2_000)]);
      if (!done) await payload.heartbeat().catch((error: unknown) => this.#log.debug({ err: errorMessage(error) }, 'heartbeat during flush failed'));
    }
    await written;
    payload.resolveOffset(part.lastOffset);
    await this.#consumer?.commitOffsets([{ topic: part.topic, partition: part.partition, offset: (BigInt(part.lastOffset) + 1n).toString() }]);
  }

  async #write(parts: PartitionBatch<Row>[]): Promise<void> {
    const rows = parts.flatMap((p) => p.rows);
    const letters = parts.flatMap((p) => p.deadLetters);
    const token = dedupToken(parts);
    const started = Date.now();
    await retry(
      async () => {
        await this.stream.write(rows, token);
        if (letters.length > 0) await this.#sendDeadLetters(letters);
      },
      {
        policy: { initialMs: 200, maxMs: 15_000, multiplier: 2 },
        signal: this.#stopping.signal,
        retriable: () => true,
        onRetry: (error, attempt, delayMs) => {
          this.#stats.writeRetries++;
          this.#stats.paused = true;
          this.#log.warn({ err: errorMessage(error), attempt, delayMs, rows: rows.length }, 'sink paused: write failed, retrying with backoff');
        },
      },
    );
    if (this.#stats.paused) this.#log.info({ rows: rows.length }, 'sink resumed: write succeeded');
    this.#stats.paused = false;
    this.#stats.rowsWritten += rows.length;
    this.#stats.deadLettered += letters.length;
    this.#stats.flushes++;
    for (const letter of letters) this.#log.warn({ reason: letter.reason, detail: letter.detail }, 'dead-lettered message');
    this.#log.debug({ rows: rows.length, deadLetters: letters.length, partitions: parts.length, ms: Date.now() - started }, 'flushed');
  }

  async #sendDeadLetters(letters: DeadLetter[]): Promise<void> {
    const now = Date.now();
    await (this.#dlqProducer as Producer).send({ topic: this.config.dlqTopic, acks: -1, messages: letters.map((l) => toDeadLetterMessage(l, `clickhouse-sink/${this.stream.name}`, now)) });
  }

  stats(): ClickHouseSinkStats {
    return { ...this.#stats };
  }

  /** Flushes what is buffered, commits, leaves the group. */
  async stop(): Promise<void> {
    this.#buffer.flushNow();
    const grace = setTimeout(() => this.#stopping.abort(), this.config.stopGraceMs ?? 15_000);
    try {
      await this.#consumer?.disconnect();
      await this.#buffer.idle();
    } finally {
      clearTimeout(grace);
      await this.#dlqProducer?.disconnect().catch(() => undefined);
    }
    this.#log.info(this.#stats, 'sink stopped');
  }
}

/** Same Kafka offset ranges, same token: ClickHouse drops a retried identical insert. */
export function dedupToken(parts: readonly { topic: string; partition: number; firstOffset: string; lastOffset: string }[]): string {
  const ranges = parts.map((p) => `${p.topic}:${p.partition}:${p.firstOffset}-${p.lastOffset}`).sort();
  return createHash('sha256').update(ranges.join(',')).digest('hex');
}
