import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InfrastructureError, sleep } from '@meterline/platform';

/**
 * Runs one period-close decision at a time across the fleet: which months are closed, whether
 * this one may close, and recording its cut. Without it two workers closing different months as
 * the very first close could both start the chain. The section is short (a few ClickHouse reads
 * and one insert); the lock expires on its own if its holder dies.
 *
 * A Redis SET NX with a token and an expiry, released only by its holder (compare and delete in
 * one script): one key on one Redis, so Redlock's multi-node protocol buys nothing here.
 */
export interface CloseLock {
  run<T>(section: () => Promise<T>): Promise<T>;
}

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export function redisCloseLock(redis: Redis, key: string, options: { ttlMs?: number; waitMs?: number } = {}): CloseLock {
  const ttlMs = options.ttlMs ?? 60_000;
  const waitMs = options.waitMs ?? 2 * ttlMs;
  return {
    async run<T>(section: () => Promise<T>): Promise<T> {
      const token = randomUUID();
      const giveUpAt = Date.now() + waitMs;
      while ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') {
        if (Date.now() > giveUpAt) throw new InfrastructureError('CLOSE_LOCK_TIMEOUT', `the period-close lock ${key} was held for over ${waitMs} ms; the close is retried`);
        await sleep(50);
      }
      try {
        return await section();
      } finally {
        await redis.eval(RELEASE, 1, key, token);
      }
    },
  };
}
