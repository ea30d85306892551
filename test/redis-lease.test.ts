import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniqueName, waitFor, type RedisServer } from '@meterline/testing';
import { Lease, withScripts, type LeaseLostError, type ScriptedRedis } from '@meterline/redis';

let server: RedisServer;
let redis: ScriptedRedis;

beforeAll(async () => {
  server = await startRedis();
  redis = withScripts(new Redis(server.url));
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const TTL = 600;

describe('Lease', () => {
  it('one holder at a time; a renewing holder keeps it past its TTL', async () => {
    const key = uniqueName('lease');
    const holder = await Lease.tryAcquire(redis, key, { ttlMs: TTL });
    expect(holder).toBeDefined();
    expect(await Lease.tryAcquire(redis, key, { ttlMs: TTL })).toBeUndefined();
    const acquiredAt = Date.now();
    // Three TTLs pass: without renewal the key would be gone.
    await waitFor(() => Date.now() - acquiredAt, (elapsed) => elapsed > 3 * TTL, { what: 'three TTLs', intervalMs: 100 });
    expect(await redis.get(key)).toBe(holder!.token);
    expect(await Lease.tryAcquire(redis, key, { ttlMs: TTL })).toBeUndefined();
    await holder!.confirm();
    await holder!.release();
    expect(await redis.exists(key)).toBe(0);
  });

  it('a holder that stops renewing (dies) loses it to a waiter, and learns so before writing', async () => {
    const key = uniqueName('lease');
    const lost: LeaseLostError[] = [];
    const dead = (await Lease.tryAcquire(redis, key, { ttlMs: TTL, onLost: (error) => lost.push(error) }))!;
    dead.stopRenewing();
    const successor = await waitFor(() => Lease.tryAcquire(redis, key, { ttlMs: TTL }), (lease) => lease !== undefined, { what: 'the lapsed lease taken over', intervalMs: 50 });
    expect(await redis.get(key)).toBe(successor!.token);
    await expect(dead.confirm()).rejects.toMatchObject({ code: 'LEASE_LOST' });
    expect(lost).toHaveLength(1);
    // The old holder's release leaves its successor's lease alone.
    await dead.release();
    expect(await redis.get(key)).toBe(successor!.token);
    await successor!.release();
  });
});
