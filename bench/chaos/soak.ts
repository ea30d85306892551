// npm run soak: the chaos fleet under steady load for SOAK_MINUTES (default 30) at SOAK_RATE
// distinct events/s (default 20,000; the load generator says what it could offer), with the
// chaos schedule repeated (one fault of each kind per pass) until the time is up. RSS of every
// process is sampled every SOAK_SAMPLE_SECONDS (default 10) from /proc/<pid>/status; at the end:
// per process the memory slope (least squares, MiB/hour) and the exact checks of the chaos suite.
import { chaosSeed, runChaos } from '../../test/support/chaos/run';
import { RssSampler } from '../../test/support/chaos/memory';
import type { ChaosFleet } from '../../test/support/chaos/fleet';

const minutes = Number(process.env['SOAK_MINUTES'] ?? 30);
const rate = Number(process.env['SOAK_RATE'] ?? 20_000);
const sampleSeconds = Number(process.env['SOAK_SAMPLE_SECONDS'] ?? 10);
// Load between faults: SOAK_GAP_SECONDS/2 to SOAK_GAP_SECONDS (seeded).
const gapSeconds = Number(process.env['SOAK_GAP_SECONDS'] ?? 60);
let fleet: ChaosFleet | undefined;
const sampler = new RssSampler(() => fleet);
const started = Date.now();
const deadline = started + minutes * 60_000;
sampler.start(sampleSeconds * 1_000);
const run = await runChaos({
  seed: chaosSeed(),
  ratePerSecond: rate,
  counts: {
    'kill -9 rollup-consumer': 1,
    'kill -9 clickhouse-sink': 1,
    'kill -9 api': 1,
    'kill -9 invoice-scheduler': 1,
    'kafka broker restart': 1,
    'redis restarted empty': 1,
    'clickhouse unavailable': 1,
    'producer clock skew': 1,
  },
  // Faults spread out: most of the time is steady load, as a day in production.
  timing: { gapMs: [gapSeconds * 500, gapSeconds * 1_000], holdMs: [500, 5_000] },
  calmMs: 30_000,
  onFleet: (f) => {
    fleet = f;
  },
  until: () => Date.now() < deadline - 60_000,
  sampleBeforeStop: () => sampler.sample(),
});
sampler.stop();
console.log(`\n[soak] ${((Date.now() - started) / 60_000).toFixed(1)} min, offered ${run.offeredRate.toFixed(0)} events/s (asked ${rate}), ${run.loadStats.distinct} distinct events, ${run.records.length} faults`);
console.log('| process | incarnations | samples | minutes | RSS first (MiB) | RSS last (MiB) | RSS max (MiB) | slope (MiB/h) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of sampler.report()) {
  console.log(`| ${r.name} | ${r.incarnations} | ${r.samples} | ${r.minutes.toFixed(1)} | ${r.firstMiB.toFixed(0)} | ${r.lastMiB.toFixed(0)} | ${r.maxMiB.toFixed(0)} | ${r.slopeMiBPerHour.toFixed(1)} |`);
}
console.log(`[soak] counters ${run.verdict.problems.length === 0 ? 'EXACT' : `NOT EXACT:\n${run.verdict.problems.join('\n')}`}`);
process.exit(run.verdict.problems.length === 0 ? 0 : 1);
