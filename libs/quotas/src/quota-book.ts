import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { parseQuotaDefinition, type QuotaDefinition } from '@meterline/domain';
import { CompactedTopicTable } from '@meterline/kafka';
import { execChecked, redisKeys } from '@meterline/redis';
import { errorMessage, type Logger } from '@meterline/platform';
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
      void this.redis.hdel(redisKeys.quotaDefinitions(tenantId), quotaId).catch((error: unknown) => this.log.warn({ err: errorMessage(error) }, 'quota mirror update failed'));
      return;
    }
    try {
      const definition = parseQuotaDefinition(JSON.parse(value.toString()));
      definitions.set(quotaId, definition);
      void mirrorQuota(this.redis, definition).catch((error: unknown) => this.log.warn({ err: errorMessage(error) }, 'quota mirror update failed'));
    } catch (error) {
      this.log.error({ tenant: tenantId, quota: quotaId, err: errorMessage(error) }, 'stored quota definition is invalid; ignored');
    }
  }
}
