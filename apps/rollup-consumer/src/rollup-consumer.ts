import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import { createHash } from 'node:crypto';
import { defaultEventLimits, describeViolations, screenTelemetry, validateUsageEvent, type EventLimits, type EventMoney, type UsageEvent } from '@meterline/domain';
import { DecodeError, pricingAlertCodec, quotaAlertCodec, usageEventCodec, usageRollupCodec, type AvroCodec, type PricingAlertRecord, type QuotaAlertRecord, type UsageRollupRecord } from '@meterline/contract';
import { execChecked, redisKeys, type ScriptedRedis } from '@meterline/redis';
import { GroupMembership, toDeadLetterMessage, type DeadLetter } from '@meterline/kafka';
import { SampledWarnings, errorMessage, retry, type Logger } from '@meterline/platform';
import { decodeOutbox, markAlertsSending, trimOutboxes } from './outbox';
import { planTenantBatch, type OffsetEvent, type TenantBatchPlan } from './plan-batch';
import type { QuotaBook } from '@meterline/quotas';
import { findPublishedAlertIds } from './published-alerts';

export interface RollupConsumerConfig {
  groupId: string;
  topic: string;
  rollupsTopic: string;
  alertsTopic: string;
  /** Where a model without a price is announced, once per model. */
  pricingAlertsTopic: string;
  allowedLatenessMs: number;
  dedupWindowSeconds: number;
  limits?: Partial<EventLimits>;
  /**
   * Where events the consumer cannot count (undecodable, breaking the contract) are
   * dead-lettered with the reason (the usage events DLQ: the raw sink sends its own verdict
   * there too, told apart by the `meterline-dlq-app` header). Without one they are counted and
   * logged only.
   */
  deadLetterTopic?: string;
  sessionTimeoutMs?: number;
  /**
   * Rebuilds the Redis state when it is found missing (Redis restarted without persistence, or
   * flushed). Without one, the consumer refuses to continue on lost state.
   */
  rebuildState?: () => Promise<unknown>;
}

export interface RollupConsumerStats {
  applied: number;
  duplicates: number;
  replayed: number;
  corrections: number;
  late: number;
  /** Events skipped as undecodable or breaking the contract (each logged by sample, dead-lettered when a topic is set). */
  invalid: number;
  deadLettered: number;
  /** Events whose bad latency/ttft/status code was dropped (set to null); their usage is counted. */
  telemetryDropped: number;
  /** Events (replays included) that a price book could not price: counted, flagged, never $0 silently. */
  unpriced: number;
  rollupsPublished: number;
  pricingAlertsPublished: number;
  alertsPublished: number;
  batches: number;
  /** Sections applied: each takes the batches of one fetch (several partitions) together. */
  sections: number;
  rebuilds: number;
}

/** Prices events for the stream (the fleet's PriceBookStore; tests may give fixed books). */
export interface EventPricer {
  price(event: UsageEvent): EventMoney;
  /** Names the price books in force (a content hash), for alerts. */
  readonly books: { readonly id: string };
}

class StateLostError extends Error {}

/** A partition batch, planned, waiting for its section. */
interface SectionBatch {
  payload: EachBatchPayload;
  plans: TenantBatchPlan[];
  unpriced: Map<string, { event: UsageEvent; money: EventMoney }>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** One tenant's outbox of one partition. */
interface OutboxRef {
  partition: number;
  tenantId: string;
}

/** Attempts at a state rebuild before its error fails the section (retriable errors only). */
const REBUILD_ATTEMPTS = 5;

/** Events per script call: 8–25 ms of Redis time (docs/benchmarks.md), which bounds how long a call blocks checkQuota. */
const SCRIPT_CHUNK_EVENTS = 1_000;

/**
 * usage-events -> hourly rollups (usage-rollups), quota counters (Redis) and alerts (quota-alerts).
 *
 * For each partition batch, each tenant's events go through apply-usage-batch-2.lua, which
 * applies them exactly once (offset watermark + event-id dedup) and leaves what must be
 * published in an outbox. The outbox is published, then trimmed, then the offsets are
 * committed. A crash anywhere replays the batch: the script skips what it applied and the
 * outbox still holds what was not confirmed published.
 */
export class RollupConsumer {
  readonly #log: Logger;
  readonly #eventCodec: AvroCodec<UsageEvent>;
  readonly #rollupCodec: AvroCodec<UsageRollupRecord>;
  readonly #alertCodec: AvroCodec<QuotaAlertRecord>;
  readonly #pricingAlertCodec: AvroCodec<PricingAlertRecord>;
  /** Unpriced models this process has announced (or found announced), by provider/model. */
  readonly #unpricedAnnounced = new Set<string>();
  readonly #limits: EventLimits;
  readonly #stats: RollupConsumerStats = { applied: 0, duplicates: 0, replayed: 0, corrections: 0, late: 0, invalid: 0, deadLettered: 0, telemetryDropped: 0, unpriced: 0, rollupsPublished: 0, alertsPublished: 0, pricingAlertsPublished: 0, batches: 0, sections: 0, rebuilds: 0 };
  // Sections in flight (#shared); a rebuild waits for none to be left (#rebuild).
  #inFlight = 0;
  #drained: (() => void)[] = [];
  #rebuilding: Promise<void> | undefined;
  #membership: GroupMembership | undefined;
  #consumer: Consumer | undefined;
  #producer: Producer | undefined;
  /** Planned batches waiting for the next section; one section runs at a time. */
  #waiting: SectionBatch[] = [];
  #sectionScheduled = false;
  #sectionRunning = false;
  readonly #skipped: SampledWarnings;

  constructor(
    private readonly kafka: Kafka,
    private readonly redis: ScriptedRedis,
    private readonly quotas: QuotaBook,
    private readonly pricer: EventPricer,
    private readonly config: RollupConsumerConfig,
    log: Logger,
  ) {
    this.#log = log.child({ component: 'rollup-consumer' });
    this.#eventCodec = usageEventCodec();
    this.#rollupCodec = usageRollupCodec();
    this.#alertCodec = quotaAlertCodec();
    this.#pricingAlertCodec = pricingAlertCodec();
    this.#limits = { ...defaultEventLimits, ...config.limits };
    this.#skipped = new SampledWarnings(this.#log, 'event skipped: it cannot be counted');
  }

  async start(): Promise<void> {
    this.#producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await this.#producer.connect();
    const consumer = this.kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: this.config.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: 2 * 1024 * 1024,
      allowAutoTopicCreation: false,
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
    await consumer.connect();
    await consumer.subscribe({ topics: [this.config.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Every partition of a fetch at once: they are applied together as one section.
      partitionsConsumedConcurrently: 64,
      eachBatch: (payload) => this.#onBatch(payload),
    });
    this.#log.info({ topic: this.config.topic, group: this.config.groupId }, 'rollup consumer started');
  }

  /** Readiness: a member of its group. Throws why not. */
  assertReady(): void {
    if (this.#membership === undefined) throw new Error('rollup consumer: not started');
    this.#membership.assertJoined();
  }

  stats(): RollupConsumerStats {
    return { ...this.#stats };
  }

  async stop(): Promise<void> {
    await this.#consumer?.disconnect();
    await this.#producer?.disconnect().catch(() => undefined);
    this.#log.info(this.#stats, 'rollup consumer stopped');
  }

  /**
   * Plans a partition batch and waits for the section that applies it. KafkaJS hands over the
   * batches of one fetch together and fetches again only when all are done, so they are
   * applied as one section (see #applySection): one Redis pipeline, one outbox publish, one
   * offset commit per fetch, not one of each per partition.
   */
  async #onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    const byTenant = new Map<string, OffsetEvent[]>();
    const skipped: DeadLetter[] = [];
    for (const message of batch.messages) {
      const event = this.#decode(message.value, Number(message.timestamp));
      if (!('event_id' in event)) {
        skipped.push({ ...event, detail: `${batch.topic}[${batch.partition}]@${message.offset}: ${event.detail}`, topic: batch.topic, partition: batch.partition, message });
        continue;
      }
      let list = byTenant.get(event.tenant_id);
      if (!list) byTenant.set(event.tenant_id, (list = []));
      list.push({ offset: message.offset, event });
    }
    if (skipped.length > 0) await this.#deadLetter(skipped);
    const unpriced = new Map<string, { event: UsageEvent; money: EventMoney }>();
    const price = (event: UsageEvent): EventMoney => {
      const money = this.pricer.price(event);
      if (money.unpriced !== null) {
        this.#stats.unpriced++;
        const key = `${event.provider}/${event.model}`;
        if (!this.#unpricedAnnounced.has(key) && !unpriced.has(key)) unpriced.set(key, { event, money });
      }
      return money;
    };
    const options = { allowedLatenessMs: this.config.allowedLatenessMs, dedupWindowSeconds: this.config.dedupWindowSeconds, price };
    // Chunks keep each script short, so Redis stays responsive to checkQuota meanwhile; chunks
    // of a tenant run in offset order, each atomic with its watermark.
    const plans = [...byTenant.entries()].flatMap(([tenantId, events]) => {
      const chunks = [];
      for (let i = 0; i < events.length; i += SCRIPT_CHUNK_EVENTS) chunks.push(planTenantBatch(tenantId, batch.partition, events.slice(i, i + SCRIPT_CHUNK_EVENTS), this.quotas.forTenant(tenantId), options));
      return chunks;
    });
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ payload, plans, unpriced, resolve, reject });
      this.#scheduleSection();
    });
  }

  /**
   * Starts a section with every batch waiting, once the current section (if any) is done.
   * Batches handed over in the same turn (one fetch) are waited for by one setImmediate.
   */
  #scheduleSection(): void {
    if (this.#sectionScheduled || this.#sectionRunning) return;
    this.#sectionScheduled = true;
    setImmediate(() => {
      this.#sectionScheduled = false;
      const members = this.#waiting.splice(0);
      if (members.length === 0) return;
      this.#sectionRunning = true;
      this.#applySection(members)
        .then(
          () => {
            for (const member of members) member.resolve();
          },
          (error: unknown) => {
            for (const member of members) member.reject(error);
          },
        )
        .finally(() => {
          this.#sectionRunning = false;
          if (this.#waiting.length > 0) this.#scheduleSection();
        });
    });
  }

  /**
   * Apply, publish and commit the batches of several partitions: one section that a rebuild
   * never cuts through (the rebuild reads its cut, the committed offsets, only between
   * sections). A loss noticed anywhere in the section redoes all of it on the rebuilt state.
   */
  async #applySection(members: readonly SectionBatch[]): Promise<void> {
    const plans = members.flatMap((member) => member.plans);
    const unpriced = new Map<string, { event: UsageEvent; money: EventMoney }>();
    for (const member of members) for (const [key, value] of member.unpriced) if (!unpriced.has(key)) unpriced.set(key, value);
    for (;;) {
      await this.#whileHeartbeating(members, this.#rebuilding);
      try {
        await this.#shared(async () => {
          const results = await this.#apply(plans);
          const withOutbox = new Map<string, OutboxRef>();
          results.forEach((reply, i) => {
            const [applied = 0, duplicates = 0, replayed = 0, corrections = 0, late = 0, outbox = 0] = reply;
            this.#stats.applied += applied;
            this.#stats.duplicates += duplicates;
            this.#stats.replayed += replayed;
            this.#stats.corrections += corrections;
            this.#stats.late += late;
            const plan = plans[i] as TenantBatchPlan;
            if (outbox > 0) withOutbox.set(`${plan.partition}/${plan.tenantId}`, { partition: plan.partition, tenantId: plan.tenantId });
          });
          if (withOutbox.size > 0) await retry(() => this.#drainOutboxes([...withOutbox.values()]), { retriable: (error) => !(error instanceof StateLostError), onRetry: (error) => this.#log.warn({ err: errorMessage(error) }, 'publishing the outbox failed; retrying') });
          // The state must still be there: if it vanished after the apply, what was applied
          // (and maybe its outbox) is gone, so these batches must not be committed.
          if ((await this.redis.exists(redisKeys.epoch())) === 0) throw new StateLostError('Redis stream state lost during the batch');
          if (unpriced.size > 0) await this.#announceUnpriced([...unpriced.values()]);
          const offsets = members.map(({ payload: { batch } }) => ({ topic: batch.topic, partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() }));
          for (const { payload } of members) payload.resolveOffset(payload.batch.lastOffset());
          await this.#consumer?.commitOffsets(offsets);
        });
        break;
      } catch (error) {
        if (!(error instanceof StateLostError)) throw error;
        this.#rebuilding ??= this.#rebuild().finally(() => {
          this.#rebuilding = undefined;
        });
      }
    }
    this.#stats.batches += members.length;
    this.#stats.sections++;
  }

  /**
   * Waits for a state rebuild (tens of seconds at scale) while the batches waiting on it keep
   * their group membership: without heartbeats the group would drop this member after its
   * session timeout and the section's commit would fail.
   */
  async #whileHeartbeating(members: readonly SectionBatch[], work: Promise<void> | undefined): Promise<void> {
    if (work === undefined) return;
    const beat = setInterval(() => {
      for (const { payload } of members) payload.heartbeat().catch(() => undefined); // a rebalance is noticed at commit
    }, 1_000);
    try {
      await work;
    } finally {
      clearInterval(beat);
    }
  }

  /** One round trip: every tenant's script. */
  async #apply(plans: readonly { keys: readonly string[]; args: readonly (string | number | Buffer)[] }[]): Promise<number[][]> {
    return retry(
      async () => {
        const pipeline = this.redis.pipeline() as unknown as { applyUsageBatch(args: (string | number | Buffer)[]): void; exec(): Promise<[Error | null, unknown][] | null> };
        // One array argument (ioredis flattens it): spreading ~10^5 arguments overflows the stack.
        for (const plan of plans) pipeline.applyUsageBatch([...plan.keys, ...plan.args]);
        const replies = (await execChecked(pipeline, 'applying usage batches')) as number[][];
        // The script refuses (-1) when the state epoch is gone: Redis lost its data. Tenants
        // applied before the loss in this pipeline are replayed after the rebuild (skipped by
        // their watermark or recomputed).
        if (replies.some((reply) => reply[0] === -1)) throw new StateLostError('Redis stream state missing');
        return replies;
      },
      {
        retriable: (error) => !(error instanceof StateLostError),
        onRetry: (error, attempt, delayMs) => (attempt > 3 ? this.#log.error.bind(this.#log) : this.#log.warn.bind(this.#log))({ err: errorMessage(error), attempt, delayMs }, 'applying to Redis failed; retrying'),
      },
    );
  }

  async #shared<T>(work: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await work();
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) for (const done of this.#drained.splice(0)) done();
    }
  }

  /** Waits for applies in flight (new ones wait on #rebuilding), then rebuilds. */
  async #rebuild(): Promise<void> {
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
    if (!this.config.rebuildState) throw new Error('Redis stream state is missing and no rebuild is configured: refusing to count on empty state');
    // A retriable failure (a sink behind, a lease lost, ClickHouse unreachable) is retried a few
    // times; past that, or on any other error, the section fails loudly and is replayed.
    await retry(() => this.config.rebuildState!(), {
      maxAttempts: REBUILD_ATTEMPTS,
      onRetry: (error, attempt) => this.#log.error({ err: errorMessage(error), attempt, of: REBUILD_ATTEMPTS }, 'state rebuild failed; retrying'),
    });
    this.#stats.rebuilds++;
  }

  /** The event, or why it cannot be counted (the raw sink's reasons, from the same checks). */
  #decode(value: Buffer | null, recordedAt: number): UsageEvent | { reason: string; detail: string } {
    if (value === null) return { reason: 'empty_value', detail: 'message has no value (tombstone?)' };
    let event: UsageEvent;
    try {
      event = this.#eventCodec.decode(value);
    } catch (error) {
      return { reason: error instanceof DecodeError ? error.reason : 'decode_failed', detail: errorMessage(error) };
    }
    const violations = validateUsageEvent(event, recordedAt > 0 ? recordedAt : Date.now(), this.#limits);
    if (violations.length > 0) return { reason: 'invalid_event', detail: `event ${event.event_id}: ${describeViolations(violations)}` };
    if (screenTelemetry(event, this.#limits).length > 0) this.#stats.telemetryDropped++;
    return event;
  }

  /** Counts, samples to the log and dead-letters (before the batch is committed) what cannot be counted. */
  async #deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    this.#stats.invalid += letters.length;
    for (const letter of letters) this.#skipped.note(letter.reason, { detail: letter.detail });
    const topic = this.config.deadLetterTopic;
    if (topic === undefined) return;
    const now = Date.now();
    const messages = letters.map((letter) => toDeadLetterMessage(letter, 'rollup-consumer', now));
    await retry(() => (this.#producer as Producer).send({ topic, acks: -1, messages }), { onRetry: (error) => this.#log.warn({ err: errorMessage(error), topic }, 'dead-lettering failed; retrying') });
    this.#stats.deadLettered += letters.length;
  }

  /**
   * One alert per model without a price, fleet-wide: published unless the marker says it was,
   * then marked. A crash between the two publishes it again with the same alert_id (at least
   * once, never silently none).
   */
  async #announceUnpriced(models: readonly { event: UsageEvent; money: EventMoney }[]): Promise<void> {
    const messages = [];
    const marks: string[] = [];
    for (const { event, money } of models) {
      const key = `${event.provider}/${event.model}`;
      const marker = redisKeys.unpricedAnnounced(event.provider, event.model);
      if ((await this.redis.exists(marker)) === 1) {
        this.#unpricedAnnounced.add(key);
        continue;
      }
      const alert: PricingAlertRecord = {
        alert_id: createHash('sha256').update(JSON.stringify(['meterline.pricing-alert/v1', event.provider, event.model])).digest('hex').slice(0, 32),
        kind: 'unpriced_model',
        provider: event.provider,
        model: event.model,
        reason: money.unpriced?.reason ?? 'unknown_model',
        message: money.unpriced?.message ?? '',
        first_tenant_id: event.tenant_id,
        first_seen_at: event.occurred_at,
        price_books_id: this.pricer.books.id,
      };
      this.#log.error({ provider: event.provider, model: event.model, reason: alert.reason, detail: alert.message }, 'events of a model without a price: counted as unpriced (cost 0, flagged); add a price, then re-rate with `meterline rerate`');
      messages.push({ key, value: this.#pricingAlertCodec.encode(alert), headers: { 'meterline-alert-id': alert.alert_id } });
      marks.push(marker, key);
    }
    if (messages.length === 0) return;
    await (this.#producer as Producer).send({ topic: this.config.pricingAlertsTopic, messages, acks: -1 });
    const mark = this.redis.pipeline();
    for (let i = 0; i < marks.length; i += 2) mark.set(marks[i] as string, String(Date.now()));
    await execChecked(mark, 'marking unpriced-model alerts published');
    for (let i = 1; i < marks.length; i += 2) this.#unpricedAnnounced.add(marks[i] as string);
    this.#stats.pricingAlertsPublished += messages.length;
  }

  /** Publishes every pending outbox entry of these tenants, then trims what was published. */
  async #drainOutboxes(outboxes: readonly OutboxRef[]): Promise<void> {
    const read = this.redis.pipeline();
    for (const { tenantId, partition } of outboxes) read.lrange(redisKeys.outbox(tenantId, partition), 0, -1);
    const lists = (await execChecked(read, 'reading outboxes')) as string[][];
    const rollups = [];
    const alerts = [];
    for (const [i, { tenantId }] of outboxes.entries()) {
      const decoded = decodeOutbox(tenantId, lists[i] ?? [], this.#rollupCodec, this.#alertCodec);
      rollups.push(...decoded.rollups);
      alerts.push(...decoded.alerts);
    }

    // An alert marked "sending" by an earlier attempt may already be in the topic (the
    // process died between Kafka's ack and the trim): look before publishing it again.
    let toPublish = alerts;
    if (alerts.length > 0) {
      const marks = await Promise.all(alerts.map(({ alert }) => this.redis.hget(redisKeys.alertsSending(alert.tenant_id), alert.alert_id)));
      const ambiguous = marks.filter((m): m is string => m !== null).map(Number);
      if (ambiguous.length > 0) {
        const published = await findPublishedAlertIds(this.kafka, this.config.alertsTopic, Math.min(...ambiguous) - 60_000);
        toPublish = alerts.filter(({ alert }) => !published.has(alert.alert_id));
        this.#log.warn({ ambiguous: ambiguous.length, alreadyPublished: alerts.length - toPublish.length }, 'resolved alerts of an interrupted publish');
      }
      await markAlertsSending(this.redis, toPublish.map(({ alert }) => alert), Date.now());
    }

    const topicMessages = [];
    if (rollups.length > 0) topicMessages.push({ topic: this.config.rollupsTopic, messages: rollups });
    if (toPublish.length > 0) topicMessages.push({ topic: this.config.alertsTopic, messages: toPublish.map((a) => a.message) });
    if (topicMessages.length > 0) await (this.#producer as Producer).sendBatch({ topicMessages, acks: -1 });

    await trimOutboxes(this.redis, outboxes.map((ref, i) => ({ ...ref, published: (lists[i] ?? []).length })), alerts.map(({ alert }) => alert));
    this.#stats.rollupsPublished += rollups.length;
    this.#stats.alertsPublished += toPublish.length;
    for (const { alert } of toPublish) this.#log.info({ alert }, 'quota alert published');
  }
}
