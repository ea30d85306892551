import { createHash } from 'node:crypto';
import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import { GroupMembership, toDeadLetterMessage, type DeadLetter } from '@meterline/kafka';
import { UnrecoverableError, errorMessage, retry, sleep, type Logger } from '@meterline/platform';
import { FlushBuffer } from './flush-buffer';
import { insertIsolatingRejected, type RejectedRows } from './isolate-rejected';
import type { SinkStream } from './sink-stream';

export interface ClickHouseSinkConfig {
  groupId: string;
  /** The topic (or topics: the alert history reads three) the group reads. */
  topic: string | readonly string[];
  dlqTopic: string;
  flushRows: number;
  flushMs: number;
  /** Consumer session timeout; a crashed member's partitions move after this long. */
  sessionTimeoutMs?: number;
  /** How long stop() keeps retrying a failing write before giving up (the batch is then re-read after restart). */
  stopGraceMs?: number;
  /**
   * Rows read from Kafka and not yet written that the sink may hold (default: 4 x flushRows, at
   * least 40,000). Below it the consumer keeps fetching while an insert runs; at it, it waits.
   */
  maxBacklogRows?: number;
  /**
   * When ClickHouse rejects rows (a non-retriable insert error: parse, type, constraint):
   * `dead-letter` (default) isolates the rejected rows and sends them to the DLQ with the
   * reason, writing the rest; `halt` stops the sink (nothing more is written or committed,
   * readiness fails with the reason) until an operator fixes the rows or the table.
   */
  rejectedRows?: RejectedRowsPolicy;
}

export type RejectedRowsPolicy = 'dead-letter' | 'halt';

/** The sink stopped on rows ClickHouse rejects (policy `halt`). */
export class SinkHaltedError extends UnrecoverableError {
  constructor(message: string, cause?: unknown) {
    super('SINK_HALTED', message, cause);
  }
}

export interface ClickHouseSinkStats {
  rowsWritten: number;
  deadLettered: number;
  /** Of the dead letters, rows ClickHouse rejected at insert. */
  rowsRejected: number;
  /** Why the sink halted (policy `halt`), if it did. */
  halted: string | undefined;
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
  /** The message each row was read from (rows[i] from rowMessages[i]), to dead-letter a rejected row. */
  rowMessages: KafkaMessage[];
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
 *
 * The consumer does not wait for the insert before it fetches again: a batch handed to the
 * buffer moves the fetch position on (nothing is committed), so the next batches are fetched
 * and decoded while ClickHouse writes, up to `maxBacklogRows` unwritten rows. Commits follow
 * the writes, in write order, and only for partitions this member still owns.
 */
export class ClickHouseSink<Row = unknown> {
  readonly #log: Logger;
  readonly #buffer: FlushBuffer<PartitionBatch<Row>>;
  readonly #stopping = new AbortController();
  readonly #stats: ClickHouseSinkStats = { rowsWritten: 0, deadLettered: 0, rowsRejected: 0, halted: undefined, flushes: 0, writeRetries: 0, paused: false };
  #consumer: Consumer | undefined;
  #membership: GroupMembership | undefined;
  #dlqProducer: Producer | undefined;
  /** Commits of written flushes, one after another. */
  #commits: Promise<void> = Promise.resolve();
  readonly #topics: readonly string[];
  /** `topic:partition` of the partitions assigned to this member (from the last group join). */
  #assigned = new Set<string>();
  /** Highest offset committed per `topic:partition` since the last join: commits never go backwards. */
  #committed = new Map<string, bigint>();
  /** Batch handlers that have not returned yet. */
  #handlers = 0;
  #stopped = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly stream: SinkStream<Row>,
    private readonly config: ClickHouseSinkConfig,
    log: Logger,
  ) {
    this.#log = log.child({ component: 'clickhouse-sink', stream: stream.name });
    this.#topics = typeof config.topic === 'string' ? [config.topic] : config.topic;
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
    this.#membership = new GroupMembership(consumer, this.config.groupId);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.#assigned = new Set(this.#topics.flatMap((topic) => (payload.memberAssignment[topic] ?? []).map((partition) => partitionKey(topic, partition))));
      this.#committed.clear();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.#topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Every partition's batch joins the same flush, so one insert carries many partitions.
      partitionsConsumedConcurrently: 64,
      eachBatch: (payload) => this.#onBatch(payload),
    });
    this.#log.info({ topics: this.#topics, group: this.config.groupId, flushRows: this.config.flushRows, flushMs: this.config.flushMs }, 'sink started');
  }

  async #onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    this.#handlers++;
    try {
      const { rows, deadLetters } = this.stream.decode(batch.topic, batch.partition, batch.messages);
      const part: PartitionBatch<Row> = {
        topic: batch.topic,
        partition: batch.partition,
        firstOffset: batch.firstOffset() ?? batch.messages[0]?.offset ?? '0',
        lastOffset: batch.lastOffset(),
        rows,
        rowMessages: rowMessagesOf(batch.messages, rows.length, deadLetters),
        deadLetters,
        size: rows.length + deadLetters.length,
      };
      // The write commits the offsets once the rows are in (see #write); a failed write is
      // retried there until stop(), whose batches are then read again after a restart.
      this.#buffer.submit(part).catch((error: unknown) => this.#log.warn({ err: errorMessage(error), partition: part.partition }, 'batch not written (stopped or halted); it is read again after restart'));
      // Moves the fetch position only: nothing is committed before the write.
      payload.resolveOffset(part.lastOffset);
      // Backpressure: wait (keeping the group membership alive) while too much is unwritten.
      const limit = this.config.maxBacklogRows ?? Math.max(40_000, 4 * this.config.flushRows);
      let drained = false;
      const markDrained = (): void => {
        drained = true;
      };
      void this.#buffer.drained(limit).then(markDrained);
      while (!drained && !this.#stopping.signal.aborted) {
        await Promise.race([this.#buffer.drained(limit), sleep(2_000)]);
        if (!drained) await payload.heartbeat().catch((error: unknown) => this.#log.debug({ err: errorMessage(error) }, 'heartbeat during flush failed'));
      }
    } finally {
      this.#handlers--;
    }
  }

  /** Queues the commit of a written flush: per partition, the offset after its last message. */
  #commitWritten(parts: readonly PartitionBatch<Row>[]): void {
    const next = new Map<string, { topic: string; partition: number; offset: bigint }>();
    for (const part of parts) {
      const offset = BigInt(part.lastOffset) + 1n;
      const key = partitionKey(part.topic, part.partition);
      const seen = next.get(key);
      if (seen === undefined || seen.offset < offset) next.set(key, { topic: part.topic, partition: part.partition, offset });
    }
    this.#commits = this.#commits.then(async () => {
      // Partitions that moved to another member are theirs to commit (they read them again).
      const offsets = [...next.entries()].filter(([key, o]) => this.#assigned.has(key) && (this.#committed.get(key) ?? -1n) < o.offset);
      if (offsets.length === 0 || !this.#consumer) return;
      try {
        await this.#consumer.commitOffsets(offsets.map(([, o]) => ({ topic: o.topic, partition: o.partition, offset: o.offset.toString() })));
        for (const [key, o] of offsets) this.#committed.set(key, o.offset);
      } catch (error) {
        // The rows are written; a later commit covers them, or a restart reads them again
        // (the dedup token and ReplacingMergeTree absorb the replay).
        this.#log.warn({ err: errorMessage(error) }, 'offset commit failed after a write');
      }
    });
  }

  async #write(parts: PartitionBatch<Row>[]): Promise<void> {
    if (this.#stats.halted !== undefined) throw new SinkHaltedError(this.#stats.halted);
    const rows = parts.flatMap((p) => p.rows);
    const sources = parts.flatMap((p) => p.rowMessages.map((message) => ({ topic: p.topic, partition: p.partition, message })));
    const decodeLetters = parts.flatMap((p) => p.deadLetters);
    const token = dedupToken(parts);
    const started = Date.now();
    let letters = decodeLetters;
    let rejectedRows = 0;
    await retry(
      async () => {
        const rejected = await this.#insert(rows, token, parts);
        const rejectedLetters = rejected.flatMap((r) => sources.slice(r.start, r.end).map((source) => rejectedLetter(source, r)));
        rejectedRows = rejectedLetters.length;
        letters = [...decodeLetters, ...rejectedLetters];
        if (letters.length > 0) await this.#sendDeadLetters(letters);
      },
      {
        policy: { initialMs: 200, maxMs: 15_000, multiplier: 2 },
        signal: this.#stopping.signal,
        // Only a halt ends the retries: any other failure that escapes is retried, since a
        // later flush committing past an unwritten batch would lose it.
        retriable: (error) => !(error instanceof SinkHaltedError),
        onRetry: (error, attempt, delayMs) => {
          this.#stats.writeRetries++;
          this.#stats.paused = true;
          this.#log.warn({ err: errorMessage(error), attempt, delayMs, rows: rows.length }, 'sink paused: write failed, retrying with backoff');
        },
      },
    );
    this.#commitWritten(parts);
    if (this.#stats.paused) this.#log.info({ rows: rows.length }, 'sink resumed: write succeeded');
    this.#stats.paused = false;
    this.#stats.rowsWritten += rows.length - rejectedRows;
    this.#stats.deadLettered += letters.length;
    this.#stats.rowsRejected += rejectedRows;
    this.#stats.flushes++;
    if (letters.length > 0) this.#log.warn({ deadLetters: letters.length, reasons: countReasons(letters), sample: { reason: letters[0]?.reason, detail: letters[0]?.detail } }, 'dead-lettered messages');
    this.#log.debug({ rows: rows.length, deadLetters: letters.length, partitions: parts.length, ms: Date.now() - started }, 'flushed');
  }

  /** Writes the rows; returns the ranges ClickHouse rejected (dead-letter policy) or halts. */
  async #insert(rows: Row[], token: string, parts: readonly PartitionBatch<Row>[]): Promise<RejectedRows[]> {
    const halt = this.config.rejectedRows === 'halt';
    // Halting needs no isolation: one insert, and its rejection stops the sink.
    const rejected = await insertIsolatingRejected(rows.length, token, (start, end, rangeToken) => this.stream.write(start === 0 && end === rows.length ? rows : rows.slice(start, end), rangeToken), halt ? 1 : undefined);
    if (rejected.length > 0 && halt) throw this.#halt(rejected[0]?.error, parts);
    return rejected;
  }

  #halt(error: unknown, parts: readonly PartitionBatch<Row>[]): SinkHaltedError {
    const ranges = parts.map((p) => `${p.topic}[${p.partition}]@${p.firstOffset}-${p.lastOffset}`).join(', ');
    const message = `sink ${this.stream.name} halted: ClickHouse rejects rows of ${ranges} (${errorMessage(error)}). Nothing after them is written or committed. Fix the rows or the table, or set METERLINE_SINK_REJECTED_ROWS=dead-letter, and restart`;
    this.#stats.halted = message;
    this.#consumer?.pause(this.#topics.map((topic) => ({ topic })));
    this.#log.error({ err: errorMessage(error) }, message);
    return new SinkHaltedError(message, error);
  }

  async #sendDeadLetters(letters: DeadLetter[]): Promise<void> {
    const now = Date.now();
    await (this.#dlqProducer as Producer).send({ topic: this.config.dlqTopic, acks: -1, messages: letters.map((l) => toDeadLetterMessage(l, `clickhouse-sink/${this.stream.name}`, now)) });
  }

  /** Readiness: a member of its group, and not paused by failing writes. Throws why not. */
  assertReady(): void {
    if (this.#membership === undefined) throw new Error(`sink ${this.stream.name}: not started`);
    if (this.#stats.halted !== undefined) throw new Error(this.#stats.halted);
    this.#membership.assertJoined();
    if (this.#stats.paused) throw new Error(`sink ${this.stream.name}: paused, ClickHouse writes failing (retrying with backoff)`);
  }

  stats(): ClickHouseSinkStats {
    return { ...this.#stats };
  }

  /** Stops fetching, writes and commits what was read, leaves the group. Once: a second call returns. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const grace = setTimeout(() => this.#stopping.abort(), this.config.stopGraceMs ?? 15_000);
    try {
      const consumer = this.#consumer;
      if (consumer) {
        consumer.pause(this.#topics.map((topic) => ({ topic })));
        // Batches already read (and any a fetch under way still hands over) are written and
        // committed while the consumer is still in the group.
        do {
          this.#buffer.flushNow();
          await this.#buffer.idle();
          await this.#commits;
          if (this.#handlers > 0) await sleep(10);
        } while ((this.#handlers > 0 || this.#buffer.backlogRows > 0) && !this.#stopping.signal.aborted);
        await consumer.disconnect();
      }
      this.#buffer.flushNow();
      await this.#buffer.idle();
      await this.#commits;
    } finally {
      clearTimeout(grace);
      await this.#dlqProducer?.disconnect().catch(() => undefined);
    }
    this.#log.info(this.#stats, 'sink stopped');
  }
}

const partitionKey = (topic: string, partition: number): string => `${topic}:${partition}`;

/**
 * The messages that became rows, in order: a stream's decode turns each message into one row
 * or one dead letter, keeping their order.
 */
function rowMessagesOf(messages: readonly KafkaMessage[], rows: number, deadLetters: readonly DeadLetter[]): KafkaMessage[] {
  const dead = new Set(deadLetters.map((letter) => letter.message));
  const rowMessages = dead.size === 0 ? [...messages] : messages.filter((message) => !dead.has(message));
  if (rowMessages.length !== rows) throw new Error(`decode returned ${rows} rows and ${deadLetters.length} dead letters for ${messages.length} messages: each message must give one or the other`);
  return rowMessages;
}

function rejectedLetter(source: { topic: string; partition: number; message: KafkaMessage }, rejected: RejectedRows): DeadLetter {
  const scope = rejected.isolated ? '' : ` (one of ${rejected.end - rejected.start} rows rejected together: the insert budget ran out before they were isolated)`;
  return { reason: 'insert_rejected', detail: `${source.topic}[${source.partition}]@${source.message.offset}${scope}: ${errorMessage(rejected.error)}`, ...source };
}

function countReasons(letters: readonly DeadLetter[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const letter of letters) counts[letter.reason] = (counts[letter.reason] ?? 0) + 1;
  return counts;
}

/** Same Kafka offset ranges, same token: ClickHouse drops a retried identical insert. */
export function dedupToken(parts: readonly { topic: string; partition: number; firstOffset: string; lastOffset: string }[]): string {
  const ranges = parts.map((p) => `${p.topic}:${p.partition}:${p.firstOffset}-${p.lastOffset}`).sort();
  return createHash('sha256').update(ranges.join(',')).digest('hex');
}
