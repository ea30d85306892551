import { expect, it, vi } from 'vitest';
import { chaosSeed, runChaos } from './support/chaos/run';

// The whole fleet as separate processes (its own Kafka broker, redis-server and ClickHouse
// server), load through the API, and a short seeded fault schedule. `npm run chaos` runs the
// long one (several faults of each kind).
vi.setConfig({ testTimeout: 600_000 });

it('a seeded fault schedule under load (kills, Kafka crash, Redis lost, ClickHouse down, spool disk full, clock skew): raw = rollups = Redis counters = reference, alerts once', async () => {
  const seed = chaosSeed();
  const run = await runChaos({
    seed,
    ratePerSecond: 1_000,
    counts: {
      'kill -9 rollup-consumer': 1,
      'kill -9 clickhouse-sink': 1,
      'kill -9 api': 1,
      'kill -9 invoice-scheduler': 1,
      'redis restarted empty': 1,
      'clickhouse unavailable': 1,
      'spool disk full': 1,
      'producer clock skew': 1,
    },
    timing: { gapMs: [300, 1_500], holdMs: [300, 2_000] },
    calmMs: 2_000,
  });
  expect({ seed, problems: run.verdict.problems }).toEqual({ seed, problems: [] });
  expect(run.verdict.rollupRequests).toBe(run.verdict.rawEvents);
  expect(run.records.length).toBe(8);
  expect(run.loadStats.distinct).toBeGreaterThan(0);
});
