import { seededRandom, waitFor, withTimeout } from '@meterline/testing';
import type { ChaosFleet, Worker } from './fleet';
import type { LoadDriver } from './load';
import { probeLanded, type Verdict } from './verify';

export const faultKinds = [
  'kill -9 rollup-consumer',
  'kill -9 clickhouse-sink',
  'kill -9 api',
  'kill -9 invoice-scheduler',
  'kafka broker restart',
  'redis restarted empty',
  'clickhouse unavailable',
  'spool disk full',
  'producer clock skew',
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface PlannedFault {
  kind: FaultKind;
  /** Load runs this long before the fault (seeded). */
  gapMs: number;
  /** How long the fault lasts before it is healed (seeded): a killed worker stays down this long. */
  holdMs: number;
  /** Clock skew only: how far the producer's clock is off (ahead positive, behind negative). */
  skewMs: number;
}

export interface FaultRecord extends PlannedFault {
  window: number;
  injectedAt: number;
  healedAt: number;
  /** When a probe sent right after the heal was in the raw events and the rollups. */
  recoveredAt: number;
}

export interface ScheduleTiming {
  gapMs: readonly [number, number];
  holdMs: readonly [number, number];
}

/** The seed of a run: CHAOS_SEED when set (to reproduce a run), else a fresh one. */
export function chaosSeed(): number {
  const fromEnv = process.env['CHAOS_SEED'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`CHAOS_SEED must be a non-negative integer, got ${fromEnv}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

/** A reproducible schedule: `counts[kind]` faults of each kind in a seeded order with seeded timing. */
export function planSchedule(seed: number, counts: Partial<Record<FaultKind, number>>, timing: ScheduleTiming): PlannedFault[] {
  const random = seededRandom(seed ^ 0xc4a05);
  const between = ([min, max]: readonly [number, number]): number => min + Math.floor(random() * (max - min + 1));
  const kinds = faultKinds.flatMap((kind) => Array.from({ length: counts[kind] ?? 0 }, () => kind));
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  // Skew within what the API accepts: up to 8 min ahead (10 min is the limit), 30 min behind.
  return kinds.map((kind) => ({ kind, gapMs: between(timing.gapMs), holdMs: between(timing.holdMs), skewMs: kind === 'producer clock skew' ? between([-30 * 60_000, 8 * 60_000]) : 0 }));
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the schedule while the load runs: each fault in a window of its own (the events sent
 * in it carry the window in their ids), then a probe, waited on until it went all the way.
 */
export async function runSchedule(fleet: ChaosFleet, load: LoadDriver, plan: readonly PlannedFault[], log: (line: string) => void, firstWindow = 1, recoverTimeoutMs = 240_000): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  let handle = fleet.openClickHouse();
  // A request on a connection the killed server held can hang: each check is bounded, and a
  // check that timed out gets a new client.
  const landed = async (probe: string): Promise<boolean> => {
    const answer = await withTimeout(probeLanded(handle, probe).catch(() => false), 5_000, undefined);
    if (answer !== undefined) return answer;
    void handle.close().catch(() => undefined);
    handle = fleet.openClickHouse();
    return false;
  };
  try {
    for (const [i, fault] of plan.entries()) {
      const window = firstWindow + i;
      load.setWindow(window);
      await delay(fault.gapMs);
      const injectedAt = Date.now();
      log(`fault ${window}/${plan.length}: ${fault.kind}${fault.kind === 'producer clock skew' ? ` (${(fault.skewMs / 60_000).toFixed(1)} min)` : ''} for ${fault.holdMs} ms`);
      await inject(fleet, load, fault);
      await delay(fault.holdMs);
      await heal(fleet, load, fault);
      const healedAt = Date.now();
      const probe = load.probe();
      await waitFor(
        async () => {
          const crashed = fleet.unexpectedExits();
          if (crashed.length > 0) throw new UnexpectedExit(crashed.join('\n'));
          return landed(probe);
        },
        (landed) => landed,
        { what: `the fleet to recover from ${fault.kind} (probe ${probe} in the raw events and rollups)`, timeoutMs: recoverTimeoutMs, intervalMs: 100 },
      ).catch((error: unknown) => {
        throw new Error(`${error instanceof Error ? error.message : String(error)}\n${fleet.outputTails()}`, { cause: error });
      });
      records.push({ ...fault, window, injectedAt, healedAt, recoveredAt: Date.now() });
      log(`  recovered in ${((Date.now() - healedAt) / 1000).toFixed(1)} s`);
    }
    load.setWindow(firstWindow + plan.length);
  } finally {
    await handle.close();
  }
  return records;
}

class UnexpectedExit extends Error {}

type KillFault = Extract<FaultKind, `kill -9 ${string}`>;
const workerOf = (kind: KillFault): Worker => kind.slice('kill -9 '.length) as Worker;

async function inject(fleet: ChaosFleet, load: LoadDriver, fault: PlannedFault): Promise<void> {
  switch (fault.kind) {
    case 'kill -9 rollup-consumer':
    case 'kill -9 clickhouse-sink':
    case 'kill -9 api':
    case 'kill -9 invoice-scheduler':
      return fleet.killWorker(workerOf(fault.kind));
    case 'kafka broker restart':
      return fleet.crashKafka();
    case 'redis restarted empty':
      return fleet.restartRedisEmpty();
    case 'clickhouse unavailable':
      return fleet.stopClickHouse();
    case 'spool disk full':
      // The spool is written when Kafka cannot be reached: a full disk while the broker is down.
      fleet.spool.fill();
      return fleet.crashKafka();
    case 'producer clock skew':
      load.setSkew(fault.skewMs);
      return;
  }
}

async function heal(fleet: ChaosFleet, load: LoadDriver, fault: PlannedFault): Promise<void> {
  switch (fault.kind) {
    case 'kill -9 rollup-consumer':
    case 'kill -9 clickhouse-sink':
    case 'kill -9 api':
    case 'kill -9 invoice-scheduler':
      return fleet.startWorker(workerOf(fault.kind));
    case 'kafka broker restart':
      return fleet.startKafkaAgain();
    case 'redis restarted empty':
      return;
    case 'clickhouse unavailable':
      return fleet.startClickHouse();
    case 'spool disk full':
      fleet.spool.drain();
      return fleet.startKafkaAgain();
    case 'producer clock skew':
      load.setSkew(0);
      return;
  }
}

/** The table a run prints: per fault kind, how many, the events sent in its windows, lost, duplicated, recovery. */
export function chaosTable(records: readonly FaultRecord[], verdict: Verdict): string {
  const rows: string[][] = [['fault injected', 'count', 'events sent', 'lost', 'duplicated', 'time to recover (mean / max)']];
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  for (const kind of faultKinds) {
    const of = records.filter((r) => r.kind === kind);
    if (of.length === 0) continue;
    const counts = of.map((r) => verdict.perWindow.get(r.window) ?? { sent: 0, lost: 0, duplicated: 0 });
    const recover = of.map((r) => r.recoveredAt - r.healedAt);
    rows.push([kind, String(of.length), String(counts.reduce((n, c) => n + c.sent, 0)), String(counts.reduce((n, c) => n + c.lost, 0)), String(counts.reduce((n, c) => n + c.duplicated, 0)), `${seconds(recover.reduce((a, b) => a + b, 0) / recover.length)} / ${seconds(Math.max(...recover))}`]);
  }
  const faultWindows = new Set(records.map((r) => r.window));
  const others = [...verdict.perWindow].filter(([w]) => !faultWindows.has(w)).map(([, c]) => c);
  rows.push(['(no fault: before and after)', '-', String(others.reduce((n, c) => n + c.sent, 0)), String(others.reduce((n, c) => n + c.lost, 0)), String(others.reduce((n, c) => n + c.duplicated, 0)), '-']);
  const all = [...verdict.perWindow.values()];
  rows.push(['total', String(records.length), String(all.reduce((n, c) => n + c.sent, 0)), String(all.reduce((n, c) => n + c.lost, 0)), String(all.reduce((n, c) => n + c.duplicated, 0)), '-']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
