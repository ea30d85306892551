import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { parseQuotaDefinition, type QuotaDefinition } from '@meterline/domain';
import { CompactedTopicTable } from '@meterline/kafka';
import { execChecked, redisKeys } from '@meterline/redis';
import { errorMessage, retry, type Logger } from '@meterline/platform';
import { serializeQuota } from './quota-store';

/**
 * Writes one definition to the Redis mirror that `checkQuota` reads (hash per tenant, field
 * per quota id, the serialized definition).
 */
export function mirrorQuota(redis: Redis, definition: QuotaDefinition): Promise<number> {
  return redis.hset(redisKeys.quotaDefinitions(definition.tenant_id), definition.quota_id, serializeQuota(definition));
}

/**
 * The quota definitions in force, tailed from the quota-definitions topic (a change applies to
 * the next batch, no restart) and mirrored into Redis, where checkQuota reads them.
 */
export class QuotaBook {
  readonly #byTenant = new Map<string, Map<string, QuotaDefinition>>();
  readonly #table: CompactedTopicTable;
  /** Mirror writes of single changes not yet settled. */
  readonly #updates = new Set<Promise<void>>();
  /** A full re-mirror after a failed update, retried until Redis takes it (or stop()). */
  #repair: Promise<void> | undefined;
  readonly #stopping = new AbortController();
  #mirrorFailures = 0;

  constructor(
    kafka: Kafka,
    topic: string,
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {
    this.#table = new CompactedTopicTable(kafka, topic, log);
    this.#table.onChange((key, value) => this.#apply(key, value));
  }

  /** Resolves once every definition stored before the call is loaded and mirrored. */
  async start(): Promise<void> {
    await this.#table.start();
    await this.mirrorAll();
  }

  async stop(): Promise<void> {
    await this.#table.stop();
    this.#stopping.abort();
    await this.mirrored();
  }

  /** Mirror updates that failed (each one starts a full re-mirror, retried until it succeeds). */
  get mirrorFailures(): number {
    return this.#mirrorFailures;
  }

  /** Resolves when every change seen so far is in the mirror (or stop() gave up on a repair). */
  async mirrored(): Promise<void> {
    while (this.#updates.size > 0 || this.#repair !== undefined) {
      await Promise.all(this.#updates);
      await this.#repair;
    }
  }

  forTenant(tenantId: string): readonly QuotaDefinition[] {
    const definitions = this.#byTenant.get(tenantId);
    return definitions === undefined ? [] : [...definitions.values()];
  }

  all(): QuotaDefinition[] {
    return [...this.#byTenant.values()].flatMap((m) => [...m.values()]);
  }

  /** Writes every definition to Redis (after start, and after Redis lost its data). */
  async mirrorAll(): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const [tenantId, definitions] of this.#byTenant) {
      pipeline.del(redisKeys.quotaDefinitions(tenantId));
      if (definitions.size > 0) pipeline.hset(redisKeys.quotaDefinitions(tenantId), Object.fromEntries([...definitions].map(([id, d]) => [id, serializeQuota(d)])));
    }
    await execChecked(pipeline, 'mirroring quota definitions');
  }

  #apply(key: string, value: Buffer | null): void {
    const [tenantId, quotaId] = JSON.parse(key) as [string, string];
    let definitions = this.#byTenant.get(tenantId);
    if (!definitions) this.#byTenant.set(tenantId, (definitions = new Map<string, QuotaDefinition>()));
    if (value === null) {
      definitions.delete(quotaId);
      this.#mirror(() => this.redis.hdel(redisKeys.quotaDefinitions(tenantId), quotaId), tenantId, quotaId);
      return;
    }
    try {
      const definition = parseQuotaDefinition(JSON.parse(value.toString()));
      definitions.set(quotaId, definition);
      this.#mirror(() => mirrorQuota(this.redis, definition), tenantId, quotaId);
    } catch (error) {
      this.log.error({ tenant: tenantId, quota: quotaId, err: errorMessage(error) }, 'stored quota definition is invalid; ignored');
    }
  }

  /**
   * Writes one change to the mirror without holding up the topic's tail. A failed write is not
   * dropped: checkQuota would read a stale definition until the next restart, so the whole book
   * (the tail's state, which is authoritative) is mirrored again, retried until Redis takes it.
   */
  #mirror(write: () => Promise<unknown>, tenantId: string, quotaId: string): void {
    const update = write().then(
      () => undefined,
      (error: unknown) => {
        this.#mirrorFailures++;
        this.log.error({ tenant: tenantId, quota: quotaId, err: errorMessage(error), failures: this.#mirrorFailures }, 'quota mirror update failed; mirroring every definition again until Redis takes it');
        this.#repair ??= this.#remirror().finally(() => {
          this.#repair = undefined;
        });
      },
    );
    this.#updates.add(update);
    void update.finally(() => this.#updates.delete(update));
  }

  async #remirror(): Promise<void> {
    try {
      await retry(() => this.mirrorAll(), {
        policy: { initialMs: 200, maxMs: 10_000, multiplier: 2 },
        retriable: () => true,
        signal: this.#stopping.signal,
        onRetry: (error, attempt) => this.log.error({ err: errorMessage(error), attempt }, 'quota mirror repair failed; retrying'),
      });
      this.log.info({ failures: this.#mirrorFailures }, 'quota mirror repaired');
    } catch (error) {
      this.log.error({ err: errorMessage(error) }, 'quota mirror not repaired before stop: it is mirrored again at the next start');
    }
  }
}
