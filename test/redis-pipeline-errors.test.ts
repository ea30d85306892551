import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRetriable } from '@meterline/platform';
import { execChecked, RedisPipelineError } from '@meterline/redis';
import { startRedis, uniqueName, type RedisServer } from '@meterline/testing';

// execChecked against a real redis-server: ioredis resolves exec() even when a command
// failed, so the helper must read every result and throw naming the failed command.

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

async function caught(work: Promise<unknown>): Promise<RedisPipelineError> {
  const error = await work.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(RedisPipelineError);
  return error as RedisPipelineError;
}

describe('execChecked', () => {
  it('returns every reply of a clean pipeline', async () => {
    const key = uniqueName('clean');
    const replies = await execChecked(redis.pipeline().set(key, 'a').hset(`${key}:h`, 'f', '1').get(key), 'clean pipeline');
    expect(replies).toEqual(['OK', 1, 'a']);
    expect(await redis.hget(`${key}:h`, 'f')).toBe('1');
  });

  it('throws naming the failed command when one command of a pipeline fails (WRONGTYPE), not retriable', async () => {
    const key = uniqueName('wrongtype');
    await redis.set(key, 'a string');
    const error = await caught(execChecked(redis.pipeline().set(`${key}:ok`, '1').hset(key, 'f', '1').get(key), 'marking things'));
    expect(error.failures.map((f) => [f.index, f.command])).toEqual([[1, 'hset']]);
    expect(error.message).toMatch(/^marking things: 1 command\(s\) failed \(hset\); first: hset #1: WRONGTYPE/);
    expect(error.code).toBe('REDIS_PIPELINE_FAILED');
    expect(isRetriable(error)).toBe(false);
    // The other commands of the pipeline still ran: the error is per command, not per pipeline.
    expect(await redis.get(`${key}:ok`)).toBe('1');
  });

  it('throws when a command of a MULTI fails at run time', async () => {
    const key = uniqueName('multi');
    await redis.set(key, 'a string');
    const error = await caught(execChecked(redis.multi().sadd(key, 'x').expire(key, 60), 'announce marks'));
    expect(error.failures.map((f) => [f.index, f.command])).toEqual([[0, 'sadd']]);
    expect(error.message).toMatch(/^announce marks: 1 command\(s\) failed \(sadd\); first: sadd #0: WRONGTYPE/);
    expect(error.retriable).toBe(false);
  });

  it('throws a retriable error when a WATCHed MULTI aborts (exec resolves null)', async () => {
    const key = uniqueName('watched');
    const watcher = new Redis(server.url);
    try {
      await watcher.watch(key);
      await redis.set(key, 'changed by another client');
      const error = await caught(execChecked(watcher.multi().set(key, 'mine'), 'watched write'));
      expect(error.message).toMatch(/^watched write: transaction aborted/);
      expect(error.retriable).toBe(true);
      expect(await redis.get(key)).toBe('changed by another client');
    } finally {
      watcher.disconnect();
    }
  });

  it('throws a retriable error when the connection is gone', async () => {
    const client = new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
    const error = await caught(execChecked(client.pipeline().get(uniqueName('offline')), 'offline read'));
    expect(error.retriable).toBe(true);
    client.disconnect();
  });
});
