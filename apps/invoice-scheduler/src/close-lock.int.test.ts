import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniqueName, type RedisServer } from '@meterline/testing';
import { redisCloseLock } from './close-lock';

// The period-close lock against a real redis-server: sections never overlap, a holder's lock is
// released only by its holder, a lock whose holder died expires.
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

/** A promise and the function that settles it: a section that ends when the test says so. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('redisCloseLock', () => {
  it('runs one section at a time: 20 sections on two connections never overlap, each runs once', async () => {
    const key = uniqueName('close-lock');
    const other = new Redis(server.url);
    try {
      const locks = [redisCloseLock(redis, key), redisCloseLock(other, key)];
      let inside = 0;
      let most = 0;
      const ran: number[] = [];
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          locks[i % 2]!.run(async () => {
            most = Math.max(most, ++inside);
            await redis.incr(`${key}:work`); // a round trip inside the section
            ran.push(i);
            inside--;
          }),
        ),
      );
      expect(most).toBe(1);
      expect(ran.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(await redis.exists(key)).toBe(0); // released
    } finally {
      await other.quit();
    }
  });

  it('a section that throws releases the lock; a waiting section runs only after the holder is done', async () => {
    const key = uniqueName('close-lock');
    const lock = redisCloseLock(redis, key);
    await expect(lock.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await redis.exists(key)).toBe(0);
    const first = gate();
    const order: string[] = [];
    const holding = lock.run(async () => {
      order.push('first in');
      await first.opened;
      order.push('first out');
    });
    await waitUntil(async () => (await redis.exists(key)) === 1);
    const second = lock.run(() => Promise.resolve(void order.push('second')));
    // The second tries the held key (a few round trips pass) and waits: it cannot run before the first lets go.
    for (let i = 0; i < 5; i++) await redis.ping();
    expect(order).toEqual(['first in']);
    first.open();
    await Promise.all([holding, second]);
    expect(order).toEqual(['first in', 'first out', 'second']);
  });

  it("a lock whose holder died expires and is taken; the dead holder's token cannot release the new holder's lock", async () => {
    const key = uniqueName('close-lock');
    await redis.set(key, 'a-holder-that-died', 'PX', 300);
    const lock = redisCloseLock(redis, key, { ttlMs: 60_000 });
    const value = await lock.run(async () => {
      const holder = await redis.get(key);
      expect(holder).not.toBe('a-holder-that-died');
      // The dead holder's release (compare and delete) does nothing to this holder's lock.
      await redis.eval(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`, 1, key, 'a-holder-that-died');
      return redis.get(key);
    });
    expect(value).not.toBeNull();
    expect(await redis.exists(key)).toBe(0);
  });

  it('gives up with a retriable error when the lock stays held', async () => {
    const key = uniqueName('close-lock');
    await redis.set(key, 'someone-else', 'PX', 60_000);
    await expect(redisCloseLock(redis, key, { ttlMs: 60_000, waitMs: 200 }).run(() => Promise.resolve('never'))).rejects.toMatchObject({ code: 'CLOSE_LOCK_TIMEOUT', retriable: true });
    expect(await redis.get(key)).toBe('someone-else');
  });
});

async function waitUntil(fact: () => Promise<boolean>): Promise<void> {
  while (!(await fact())) await new Promise<void>((resolve) => setImmediate(resolve));
}
