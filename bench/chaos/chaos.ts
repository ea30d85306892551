// npm run chaos: the whole fleet as separate processes (its own Kafka broker, redis-server,
// `meterline clickhouse serve`, the four workers), load through POST /v1/events, and a seeded
// fault schedule with several faults of each kind. Prints the seed first (CHAOS_SEED=<seed>
// replays the same schedule and load), then the table; exits 1 unless raw events = rollups =
// Redis counters = the reference exactly and every alert was published once.
//   CHAOS_SEED     seed (default: a fresh one)
//   CHAOS_RATE     distinct events/s offered (default 600; at 1,500 the Redis-loss rebuild outran its ClickHouse timeout, docs/benchmarks.md)
//   CHAOS_KILLS    kills of each worker (default 3)
import { chaosSeed, runChaos } from '../../test/support/chaos/run';

const kills = Number(process.env['CHAOS_KILLS'] ?? 3);
const run = await runChaos({
  seed: chaosSeed(),
  ratePerSecond: Number(process.env['CHAOS_RATE'] ?? 600),
  counts: {
    'kill -9 rollup-consumer': kills,
    'kill -9 clickhouse-sink': kills,
    'kill -9 api': kills,
    'kill -9 invoice-scheduler': kills,
    'kafka broker restart': 2,
    'redis restarted empty': 2,
    'clickhouse unavailable': 2,
    'spool disk full': 1,
    'producer clock skew': 2,
  },
  timing: { gapMs: [500, 4_000], holdMs: [200, 5_000] },
  calmMs: 5_000,
});
console.log(`[chaos] ${run.records.length} faults in ${(run.elapsedMs / 60_000).toFixed(1)} min; ${run.verdict.problems.length === 0 ? 'EXACT' : `${run.verdict.problems.length} PROBLEMS`}`);
process.exit(run.verdict.problems.length === 0 ? 0 : 1);
