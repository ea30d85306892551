import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Health, serveHealthRoute, type ReadinessCheck } from './health';

describe('Health', () => {
  it.each<{ name: string; checks: Record<string, ReadinessCheck>; ready: boolean; failing: string[] }>([
    { name: 'no checks', checks: {}, ready: true, failing: [] },
    { name: 'all pass', checks: { redis: () => undefined, kafka: () => Promise.resolve() }, ready: true, failing: [] },
    { name: 'one throws', checks: { redis: () => { throw new Error('connection reconnecting'); }, kafka: () => undefined }, ready: false, failing: ['redis'] },
    { name: 'one rejects', checks: { clickhouse: () => Promise.reject(new Error('ECONNREFUSED')) }, ready: false, failing: ['clickhouse'] },
    { name: 'one hangs', checks: { kafka: () => new Promise<void>(() => undefined) }, ready: false, failing: ['kafka'] },
  ])('$name', async ({ checks, ready, failing }) => {
    const health = new Health(50);
    for (const [name, check] of Object.entries(checks)) health.add(name, check);
    const result = await health.readiness();
    expect(result.ready).toBe(ready);
    expect(Object.entries(result.checks).filter(([, c]) => !c.ok).map(([n]) => n)).toEqual(failing);
    for (const name of failing) expect(result.checks[name]!.error).toMatch(/reconnecting|ECONNREFUSED|no answer within 50 ms/);
  });

  it('serves /livez, /readyz (503 naming what fails) and leaves other paths to the caller', async () => {
    const health = new Health(50);
    let redisUp = true;
    health.add('redis', () => {
      if (!redisUp) throw new Error('connection reconnecting');
    });
    const server = createServer((req, res) => {
      if (!serveHealthRoute(health, req, res)) res.writeHead(418).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/livez`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      redisUp = false;
      const down = await fetch(`${base}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ status: 'not ready', failing: ['redis'], checks: { redis: { ok: false, error: 'connection reconnecting' } } });
      expect((await fetch(`${base}/livez`)).status).toBe(200);
      expect((await fetch(`${base}/v1/usage`)).status).toBe(418);
    } finally {
      server.close();
    }
  });
});
