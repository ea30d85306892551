import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { AccessError, parseApiKey, secretMatches, verifyTenantToken, type Principal } from '@meterline/domain';
import { CompactedTopicTable } from '@meterline/kafka';
import { errorMessage, type Logger } from '@meterline/platform';
import { redisKeys } from '@meterline/redis';
import { decodeKeyRecord, type ApiKeyRecord } from './key-record';

export interface KeyBookConfig {
  topic: string;
  pepper: string;
  /** Verifies tenant read tokens; undefined: they are refused. */
  tokenSecret: string | undefined;
  /** A key's last use is written to Redis at most this often per process. */
  touchEveryMs?: number;
}

/**
 * The keys every API process knows: the `api-keys` topic tailed into memory, so a request is
 * authenticated without a store round trip and a revocation applies within the tail's delay.
 * Keys are looked up by id; the secret is compared with the stored HMAC in constant time.
 */
export class KeyBook {
  readonly #table: CompactedTopicTable;
  readonly #keys = new Map<string, ApiKeyRecord>();
  readonly #touched = new Map<string, number>();

  constructor(
    kafka: Kafka,
    private readonly redis: Redis,
    private readonly config: KeyBookConfig,
    private readonly log: Logger,
  ) {
    this.#table = new CompactedTopicTable(kafka, config.topic, log);
    this.#table.onChange((id, value) => {
      if (value === null) this.#keys.delete(id);
      else this.#keys.set(id, decodeKeyRecord(value));
    });
  }

  async start(): Promise<void> {
    await this.#table.start();
  }

  async stop(): Promise<void> {
    await this.#table.stop();
  }

  /** The principal of an `Authorization: Bearer` credential: an API key or a tenant read token. */
  resolve(credential: string | undefined, now: number): Principal {
    if (credential === undefined || credential === '') throw new AccessError('KEY_MISSING', 'this route needs an API key: send "Authorization: Bearer <key>"');
    if (credential.startsWith('mlt_')) return this.#resolveToken(credential, now);
    const parsed = parseApiKey(credential);
    const record = parsed === undefined ? undefined : this.#keys.get(parsed.id);
    if (parsed === undefined || record === undefined || !secretMatches(parsed.secret, record.secret_hash, this.config.pepper)) {
      throw new AccessError('KEY_INVALID', 'the API key is not valid');
    }
    this.#assertLive(record, now);
    this.#touch(record.id, now);
    return { keyId: record.id, kind: 'api-key', scopes: record.scopes, tenantId: record.tenant_id ?? undefined, expiresAt: record.expires_at ?? undefined };
  }

  /** Last use per key id (epoch ms), as recorded in Redis. */
  lastUsed(ids: readonly string[]): Promise<Map<string, number>> {
    return keysLastUsed(this.redis, ids);
  }

  #resolveToken(token: string, now: number): Principal {
    if (this.config.tokenSecret === undefined) throw new AccessError('TOKEN_INVALID', 'tenant read tokens are not enabled on this server (METERLINE_TOKEN_SECRET)');
    const principal = verifyTenantToken(token, this.config.tokenSecret, now);
    const issuer = this.#keys.get(principal.keyId);
    if (issuer === undefined) throw new AccessError('TOKEN_INVALID', 'the key that issued this token no longer exists');
    this.#assertLive(issuer, now);
    return principal;
  }

  #assertLive(record: ApiKeyRecord, now: number): void {
    if (record.revoked_at !== null) throw new AccessError('KEY_REVOKED', `the API key ${record.id} was revoked at ${new Date(record.revoked_at).toISOString()}`);
    if (record.expires_at !== null && now >= record.expires_at) throw new AccessError('KEY_EXPIRED', `the API key ${record.id} expired at ${new Date(record.expires_at).toISOString()}`);
  }

  #touch(id: string, now: number): void {
    const last = this.#touched.get(id) ?? 0;
    if (now - last < (this.config.touchEveryMs ?? 30_000)) return;
    this.#touched.set(id, now);
    this.redis.hset(redisKeys.apiKeysLastUsed(), id, String(now)).catch((error: unknown) => this.log.debug({ err: errorMessage(error), key: id }, 'last use of a key not recorded'));
  }
}

/** Last use per key id (epoch ms), as the API processes recorded it in Redis. */
export async function keysLastUsed(redis: Redis, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const values = await redis.hmget(redisKeys.apiKeysLastUsed(), ...ids);
  return new Map(ids.flatMap((id, i) => (values[i] ? [[id, Number(values[i])] as const] : [])));
}
