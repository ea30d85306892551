import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { parseQuotaDefinition, type QuotaDefinition } from '@meterline/domain';
import { CompactedTopicTable } from '@meterline/kafka';
import type { Logger } from '@meterline/platform';

/** A definition as stored: JSON with the limit as a decimal string (no float, no BigInt in JSON). */
export function serializeQuota(definition: QuotaDefinition): string {
  return JSON.stringify({ ...definition, limit: definition.limit.toString() });
}

export function quotaKey(tenantId: string, quotaId: string): string {
  return JSON.stringify([tenantId, quotaId]);
}

/**
 * The durable store of quota definitions: a compacted Kafka topic keyed by (tenant, quota);
 * a tombstone removes one. Every consumer tails it, so a change takes effect without restarts.
 */
export class QuotaStore {
  #producer: Producer | undefined;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Validates (every problem listed), stamps updated_at, stores. Returns what was stored. */
  async set(input: unknown): Promise<QuotaDefinition> {
    const definition = parseQuotaDefinition({ ...(input as object), updated_at: this.clock() });
    await this.#send(quotaKey(definition.tenant_id, definition.quota_id), serializeQuota(definition));
    this.log.info({ tenant: definition.tenant_id, quota: definition.quota_id }, 'quota set');
    return definition;
  }

  async remove(tenantId: string, quotaId: string): Promise<void> {
    await this.#send(quotaKey(tenantId, quotaId), null);
    this.log.info({ tenant: tenantId, quota: quotaId }, 'quota removed');
  }

  /** Reads the whole topic (a fresh table) and returns the live definitions. */
  async list(tenantId?: string): Promise<QuotaDefinition[]> {
    const table = new CompactedTopicTable(this.kafka, this.topic, this.log);
    await table.start();
    await table.stop();
    return [...table.entries().values()]
      .map((value) => parseQuotaDefinition(JSON.parse(value.toString())))
      .filter((d) => tenantId === undefined || d.tenant_id === tenantId)
      .sort((a, b) => (a.tenant_id + a.quota_id < b.tenant_id + b.quota_id ? -1 : 1));
  }

  async close(): Promise<void> {
    await this.#producer?.disconnect();
  }

  async #send(key: string, value: string | null): Promise<void> {
    if (!this.#producer) {
      this.#producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await this.#producer.connect();
    }
    await this.#producer.send({ topic: this.topic, acks: -1, messages: [{ key, value }] });
  }
}
