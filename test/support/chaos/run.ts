import { pricedSampleModels, usageGenerator } from '@meterline/testing';
import { ChaosFleet } from './fleet';
import { LoadDriver } from './load';
import { chaosTable, planSchedule, runSchedule, type FaultKind, type FaultRecord, type ScheduleTiming } from './schedule';
import { verifyExact, waitCaughtUp, type Verdict } from './verify';

export { chaosSeed } from './schedule';

export const chaosTenants = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'] as const;

export interface ChaosRunOptions {
  seed: number;
  /** Distinct events per second the load offers. */
  ratePerSecond: number;
  counts: Partial<Record<FaultKind, number>>;
  timing: ScheduleTiming;
  /** Load before the first fault and after the last one (ms). */
  calmMs: number;
  log?: (line: string) => void;
  /** Called with the fleet once it runs (the soak samples its processes' memory). */
  onFleet?: (fleet: ChaosFleet) => void;
  /** Keeps the load and faults going until this resolves (the soak's clock); default: one pass of the schedule. */
  until?: (pass: number) => boolean;
  /** Called once the load has stopped, before the fleet does (the soak's last memory sample). */
  sampleBeforeStop?: () => void;
}

export interface ChaosRun {
  seed: number;
  records: FaultRecord[];
  verdict: Verdict;
  table: string;
  offeredRate: number;
  loadStats: LoadDriver['stats'];
  /** From the end of the load to every stage caught up (lag 0). */
  drainMs: number;
  elapsedMs: number;
}

/**
 * A limit each tenant's daily and monthly total crosses about halfway through the run, so
 * quota alerts are published while faults happen.
 */
export function quotaLimitFor(seed: number, events: number, tenants: number): bigint {
  const sample = usageGenerator({ seed, tenants: chaosTenants, models: pricedSampleModels });
  let tokens = 0;
  for (let i = 0; i < 5_000; i++) {
    const e = sample();
    tokens += e.input_tokens + e.cache_read_tokens + e.cache_write_tokens + e.output_tokens + e.reasoning_tokens;
  }
  return BigInt(Math.max(1, Math.floor(((tokens / 5_000) * events) / tenants / 2)));
}

/** Starts the fleet, runs the load and the seeded fault schedule, then checks everything exactly. */
export async function runChaos(options: ChaosRunOptions): Promise<ChaosRun> {
  const log = options.log ?? ((line: string) => console.log(`[chaos] ${line}`));
  const started = Date.now();
  log(`seed ${options.seed} (CHAOS_SEED=${options.seed} reproduces this schedule)`);
  const plan = planSchedule(options.seed, options.counts, options.timing);
  const expectedMs = options.calmMs * 2 + plan.reduce((n, f) => n + f.gapMs + f.holdMs + 10_000, 0);
  const limit = quotaLimitFor(options.seed, (options.ratePerSecond * expectedMs) / 1000, chaosTenants.length);
  const fleet = await ChaosFleet.start({ tenants: chaosTenants, limit });
  options.onFleet?.(fleet);
  try {
    const load = new LoadDriver({ apiUrl: fleet.apiUrl, token: await fleet.createKey(), seed: options.seed, tenants: chaosTenants, ratePerSecond: options.ratePerSecond });
    log(`fleet up in ${((Date.now() - started) / 1000).toFixed(1)} s; ${plan.length} faults planned: ${plan.map((f) => f.kind).join(', ')}`);
    load.start();
    await new Promise((resolve) => setTimeout(resolve, options.calmMs));
    const records: FaultRecord[] = [];
    for (let pass = 0; pass === 0 || options.until?.(pass) === true; pass++) {
      const passPlan = pass === 0 ? plan : planSchedule(options.seed + pass, options.counts, options.timing);
      records.push(...(await runSchedule(fleet, load, passPlan, log, records.length + 1)));
      if (pass > 0) log(`pass ${pass + 1} done`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.calmMs));
    await load.stop();
    options.sampleBeforeStop?.();
    const loadEnded = Date.now();
    log(`load stopped: ${load.stats.distinct} distinct events at ${load.offeredRate().toFixed(0)}/s, ${load.stats.duplicatesSent} sent twice on purpose, ${load.stats.resent} resent after failures`);
    await waitCaughtUp(fleet, 300_000);
    const drainMs = Date.now() - loadEnded;
    const verdict = await verifyExact(fleet, load.reference, { tenants: chaosTenants, limit });
    if (load.stats.refused.length > 0) verdict.problems.push(`${load.stats.refused.length} events refused for good, e.g. ${JSON.stringify(load.stats.refused.slice(0, 3))}`);
    const unexpected = fleet.unexpectedExits();
    if (unexpected.length > 0) verdict.problems.push(...unexpected);
    const table = chaosTable(records, verdict);
    log(`\n${table}\nraw events ${verdict.rawEvents}, rollup requests ${verdict.rollupRequests}, reference ${load.reference.distinct}; ${verdict.counters} Redis counters exact; alerts ${verdict.alerts.published} published, ${verdict.alerts.distinct} distinct, ${verdict.alerts.expected} expected; drained in ${(drainMs / 1000).toFixed(1)} s`);
    if (verdict.problems.length > 0) log(`PROBLEMS (seed ${options.seed}):\n${verdict.problems.join('\n')}`);
    return { seed: options.seed, records, verdict, table, offeredRate: load.offeredRate(), loadStats: load.stats, drainMs, elapsedMs: Date.now() - started };
  } catch (error) {
    log(`failed (seed ${options.seed}; CHAOS_SEED=${options.seed} reproduces it)`);
    throw error;
  } finally {
    await fleet.stop();
  }
}
