import { randomBytes } from 'node:crypto';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { AccessError, generateApiKey, parseScopes, type Scope } from '@meterline/domain';
import { CompactedTopicTable } from '@meterline/kafka';
import type { Logger } from '@meterline/platform';
import { decodeKeyRecord, encodeKeyRecord, type ApiKeyRecord } from './key-record';

export interface CreateKeyInput {
  name: string;
  scopes: string | readonly string[];
  tenantId?: string | undefined;
  /** Epoch ms. */
  expiresAt?: number | undefined;
}

/**
 * The durable store of API keys: a compacted Kafka topic every API process tails (KeyBook), so
 * keys survive restarts and a revocation reaches every process without a restart.
 */
export class KeyStore {
  #producer: Producer | undefined;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly pepper: string,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Stores a new key; the token is in the answer only (shown once, never stored). */
  async create(input: CreateKeyInput): Promise<{ token: string; record: ApiKeyRecord }> {
    const scopes: Scope[] = parseScopes(input.scopes);
    if (input.tenantId !== undefined && scopes.includes('admin')) throw new AccessError('ADMIN_NOT_TENANT_BOUND', 'a key bound to a tenant cannot have the admin scope');
    const name = input.name.trim();
    if (name === '' || name.length > 200) throw new AccessError('KEY_INVALID', 'a key needs a name of 1 to 200 characters');
    const now = this.clock();
    if (input.expiresAt !== undefined && input.expiresAt <= now) throw new AccessError('KEY_INVALID', `the expiry ${new Date(input.expiresAt).toISOString()} is in the past`);
    const key = generateApiKey(randomBytes, this.pepper);
    const record: ApiKeyRecord = { id: key.id, name, secret_hash: key.secretHash, scopes, tenant_id: input.tenantId ?? null, created_at: now, expires_at: input.expiresAt ?? null, revoked_at: null };
    await this.#send(record);
    this.log.info({ key: record.id, name, scopes, tenant: record.tenant_id }, 'api key created');
    return { token: key.token, record };
  }

  /** Marks a key revoked; false when no key has this id. */
  async revoke(id: string): Promise<boolean> {
    const record = (await this.list()).find((r) => r.id === id);
    if (record === undefined) return false;
    if (record.revoked_at === null) await this.#send({ ...record, revoked_at: this.clock() });
    this.log.info({ key: id }, 'api key revoked');
    return true;
  }

  /** Every key, revoked ones included, oldest first (a fresh read of the whole topic). */
  async list(): Promise<ApiKeyRecord[]> {
    const table = new CompactedTopicTable(this.kafka, this.topic, this.log);
    await table.start();
    await table.stop();
    return [...table.entries().values()].map(decodeKeyRecord).sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
  }

  async close(): Promise<void> {
    await this.#producer?.disconnect();
  }

  async #send(record: ApiKeyRecord): Promise<void> {
    if (!this.#producer) {
      this.#producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await this.#producer.connect();
    }
    await this.#producer.send({ topic: this.topic, acks: -1, messages: [{ key: record.id, value: encodeKeyRecord(record) }] });
  }
}
