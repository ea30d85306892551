import { readFileSync } from 'node:fs';
import type { ChaosFleet } from './fleet';

interface Sample {
  atMs: number;
  rssMiB: number;
}

/**
 * RSS of every process of the fleet (VmRSS from /proc/<pid>/status) and of this one, sampled
 * on an interval. A restarted process is a new incarnation (its own pid): the slope of each is
 * its own, and a process is reported by its longest-lived incarnation.
 */
export class RssSampler {
  readonly #samples = new Map<string, { name: string; pid: number; samples: Sample[] }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly fleet: () => ChaosFleet | undefined) {}

  start(intervalMs: number): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  sample(): void {
    const now = Date.now();
    const fleet = this.fleet();
    const targets: { name: string; pid: number }[] = [{ name: 'load driver (this process)', pid: process.pid }];
    if (fleet !== undefined) {
      for (const p of fleet.processes.values()) if (p.isRunning()) targets.push({ name: p.name, pid: p.pid });
      if (fleet.broker.running) targets.push({ name: 'kafka', pid: fleet.broker.pid });
      if (fleet.redis.running) targets.push({ name: 'redis-server', pid: fleet.redis.pid });
    }
    for (const { name, pid } of targets) {
      const rss = vmRssMiB(pid);
      if (rss === undefined) continue;
      const key = `${name}:${pid}`;
      let entry = this.#samples.get(key);
      if (!entry) this.#samples.set(key, (entry = { name, pid, samples: [] }));
      entry.samples.push({ atMs: now, rssMiB: rss });
    }
  }

  /** Per process: its longest-lived incarnation's first and last RSS and slope (MiB/hour, least squares). */
  report(): { name: string; incarnations: number; samples: number; minutes: number; firstMiB: number; lastMiB: number; maxMiB: number; slopeMiBPerHour: number }[] {
    const byName = new Map<string, { pid: number; samples: Sample[] }[]>();
    for (const entry of this.#samples.values()) byName.set(entry.name, [...(byName.get(entry.name) ?? []), entry]);
    return [...byName].map(([name, incarnations]) => {
      const longest = incarnations.reduce((a, b) => (b.samples.length > a.samples.length ? b : a));
      const s = longest.samples;
      return {
        name,
        incarnations: incarnations.length,
        samples: s.length,
        minutes: (s.at(-1)!.atMs - s[0]!.atMs) / 60_000,
        firstMiB: s[0]!.rssMiB,
        lastMiB: s.at(-1)!.rssMiB,
        maxMiB: Math.max(...s.map((x) => x.rssMiB)),
        slopeMiBPerHour: slope(s) * 3_600_000,
      };
    }).sort((a, b) => a.name.localeCompare(b.name));
  }
}

function vmRssMiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined; // exited between listing and reading
  }
}

/** Least-squares slope of RSS over time (MiB per ms); 0 with fewer than two samples. */
export function slope(samples: readonly Sample[]): number {
  if (samples.length < 2) return 0;
  const t0 = samples[0]!.atMs;
  const n = samples.length;
  const meanX = samples.reduce((a, s) => a + (s.atMs - t0), 0) / n;
  const meanY = samples.reduce((a, s) => a + s.rssMiB, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    const dx = s.atMs - t0 - meanX;
    num += dx * (s.rssMiB - meanY);
    den += dx * dx;
  }
  return den === 0 ? 0 : num / den;
}
