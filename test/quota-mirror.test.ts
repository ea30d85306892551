import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createKafka, ensureTopics } from '@meterline/kafka';
import { redisKeys } from '@meterline/redis';
import { silentLogger } from '@meterline/platform';
import { startRedis, uniqueName, waitFor, type RedisServer } from '@meterline/testing';
import { QuotaBook, QuotaStore, serializeQuota } from '@meterline/quotas';

// A Redis of this file's own: the test makes it refuse writes (CONFIG SET min-replicas-to-write).
let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  await redis.quit();
  await server.stop();
});

it('a mirror update Redis refuses is counted, logged and repaired: the definition reaches the mirror once Redis takes writes again', async () => {
  const log = silentLogger();
  const kafka = createKafka({ brokers: inject('kafkaBrokers'), clientId: 'quota-book-test' }, log);
  const topic = uniqueName('quota-definitions');
  await ensureTopics(kafka, [{ topic, numPartitions: 1, configs: { 'cleanup.policy': 'compact' } }], log);
  const store = new QuotaStore(kafka, topic, log);
  const book = new QuotaBook(kafka, topic, redis, log);
  await book.start();
  try {
    // A real write failure: with no replica attached, Redis answers NOREPLICAS to every write.
    await redis.config('SET', 'min-replicas-to-write', '1');
    const definition = await store.set({ tenant_id: 'acme', quota_id: 'monthly-tokens', metric: 'total_tokens', period: 'month', limit: '1000000', enforcement: 'hard' });
    await waitFor(() => book.mirrorFailures, (n) => n >= 1, { what: 'the mirror update to fail', timeoutMs: 30_000, intervalMs: 50 });
    expect(book.forTenant('acme').map((d) => d.quota_id)).toEqual(['monthly-tokens']);
    expect(await redis.hget(redisKeys.quotaDefinitions('acme'), 'monthly-tokens')).toBeNull();

    await redis.config('SET', 'min-replicas-to-write', '0');
    await book.mirrored();
    expect(await redis.hget(redisKeys.quotaDefinitions('acme'), 'monthly-tokens')).toBe(serializeQuota(definition));
  } finally {
    await redis.config('SET', 'min-replicas-to-write', '0');
    await book.stop();
    await store.close();
  }
});
