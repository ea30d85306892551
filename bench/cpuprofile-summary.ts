// Summarise a V8 .cpuprofile (node --cpu-prof) by self time and by inclusive time per function.
// Usage: node --import tsx bench/cpuprofile-summary.ts <file.cpuprofile> [top=40] [filter] [fromS] [toS]
// fromS/toS restrict to samples in that window (seconds since the profile started; negative = from the end).
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg, filterArg, fromArg, toArg] = process.argv.slice(2);
const filter = filterArg === undefined || filterArg === '' || filterArg === '-' ? undefined : filterArg;
if (!file) throw new Error('usage: cpuprofile-summary <file.cpuprofile> [top] [filter]');
const top = Number(topArg ?? 40);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const spanS = (profile.endTime - profile.startTime) / 1e6;
const edge = (arg: string | undefined, fallback: number): number => (arg === undefined ? fallback : Number(arg) < 0 ? spanS + Number(arg) : Number(arg));
const fromS = edge(fromArg, 0);
const toS = edge(toArg, spanS);
const selfUs = new Map<number, number>();
let at = 0;
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i] ?? 0;
  if (at / 1e6 < fromS || at / 1e6 > toS) continue;
  const id = profile.samples[i] as number;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
console.log(`profile spans ${spanS.toFixed(1)} s; window ${fromS.toFixed(1)}-${toS.toFixed(1)} s`);
const label = (n: Node): string => {
  const url = n.callFrame.url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'nm:').replace(/.*\/work\/main\//, '');
  return `${n.callFrame.functionName || '(anon)'} ${url}:${n.callFrame.lineNumber + 1}`;
};
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  total += us;
  const node = byId.get(id) as Node;
  const key = label(node);
  self.set(key, (self.get(key) ?? 0) + us);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = label(byId.get(cur) as Node);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}
const print = (title: string, m: Map<string, number>): void => {
  console.log(`\n== ${title} (total ${(total / 1e6).toFixed(2)} s sampled) ==`);
  [...m.entries()]
    .filter(([k]) => filter === undefined || k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([k, us]) => console.log(`${(us / 1e3).toFixed(0).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`));
};
print('self', self);
print('inclusive', inclusive);
