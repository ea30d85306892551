// What pricing costs inside Redis: apply-usage-batch-2.lua on the same real batches (generated
// traffic, shipped price books, 1,000 events per call as the consumer sends them, 2 token
// quotas per tenant), in three forms:
//   priced     the script and arguments as the consumer sends them (money as hi/lo parts, price
//              version indexes, a version table per call)
//   unpriced   the same script, every event unpriced (empty price books): money args all 0
//   no money   the script with every money and price-version step cut out (the packed events
//              still carry their 8 money numbers, unread: 64 of 233 bytes per event)
// Each form starts from an empty Redis (FLUSHALL) and applies the identical events and offsets.
// Redis-side figures only: script time from INFO commandstats (the EVALSHA calls), and
// redis-server CPU from /proc (also counts reading and parsing the arguments off the socket).
//   npm run bench:lua-money   (or: node --import tsx bench/stream/lua-money-cost.ts [rounds])
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parseQuotaDefinition, priceEvent, type PriceBooks, type QuotaDefinition, type UsageEvent } from '@meterline/domain';
import { loadPriceBooks } from '@meterline/pricing';
import { redisKeys } from '@meterline/redis';
import { planTenantBatch, type OffsetEvent } from '@meterline/rollup-consumer';
import { repoRoot, startRedis, usageGenerator } from '@meterline/testing';
import { cpuSeconds, machineCpu } from '../support/proc-cpu';

const ROUNDS = Number(process.argv[2] ?? 5);
const CALLS_PER_ROUND = 60;
const CHUNK = 1_000; // SCRIPT_CHUNK_EVENTS in the rollup consumer
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];

/** Removes every line matching `pattern`; exactly `count` must match (the script changed otherwise). */
function cut(script: string, pattern: RegExp, count: number): string {
  const lines = script.split('\n');
  const kept = lines.filter((line) => !pattern.test(line));
  if (lines.length - kept.length !== count) throw new Error(`no-money variant: ${pattern} matched ${lines.length - kept.length} lines, expected ${count}: update this bench with the script`);
  return kept.join('\n');
}
function swap(script: string, from: string, to: string): string {
  if (script.split(from).length !== 2) throw new Error(`no-money variant: ${JSON.stringify(from)} is not in the script exactly once: update this bench with the script`);
  return script.replace(from, to);
}

/** apply-usage-batch-2.lua without money: no money read, summed, stored or put in the outbox. */
function noMoneyScript(full: string): string {
  let s = full;
  s = swap(s, ',\n    cph = 0, cpl = 0, chh = 0, chl = 0, svh = 0, svl = 0, upc = 0, uph = 0, vc = {}, vh = {} }', ' }');
  s = swap(s, 'for v = 1, V do versions[v] = ARGV[i]; i = i + 1 end', 'i = i + V');
  s = cut(s, /^local versions = \{\}$/, 1);
  s = swap(s, 'ttft, cph, cpl, chh, chl, svh, svl, cv, hv, K, nextPos =', 'ttft, _, _, _, _, _, _, _, _, K, nextPos =');
  s = cut(s, /-- Money as decimal strings|f\.cph = string\.format|f\.chl = string\.format|if [ch]v > 0 then f\['v[ch]:'/, 5);
  s = cut(s, /group\.(cph|chh|svh) = group\.\1 \+|if [ch]v > 0 then group\.v[ch]\[/, 5);
  s = cut(s, /redis\.call\('HINCRBY', key, '(cph|cpl|chh|chl|svh|svl)'|if group\.(upc|uph) > 0 then|for v in pairs\(group\.v[ch]\)/, 10);
  if (/\bcv\b|\bhv\b|cph|versions\[/.test(s.slice(s.indexOf(']]')))) throw new Error('no-money variant still mentions money: update this bench with the script');
  return s;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const emptyBooks = ((): PriceBooks => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-empty-prices-'));
  mkdirSync(join(dir, 'catalog'));
  for (const file of ['provider-costs.json', 'rate-card.json']) writeFileSync(join(dir, 'catalog', file), JSON.stringify({ format: 'meterline.prices/v1', models: [] }));
  return loadPriceBooks(dir);
})();
const books = loadPriceBooks(join(repoRoot(), 'pricing'));
const full = readFileSync(join(repoRoot(), 'libs/redis/src/scripts/apply-usage-batch-2.lua'), 'utf8');
const quotasOf = (tenant: string): QuotaDefinition[] =>
  ['day', 'month'].map((period) => parseQuotaDefinition({ tenant_id: tenant, quota_id: `${period}-total`, metric: 'total_tokens', period, limit: '1000000000000000', enforcement: 'soft', updated_at: 1 }));

type Variant = 'priced' | 'unpriced' | 'no money';
const variants: Variant[] = ['priced', 'unpriced', 'no money'];
/** Per round: script and redis-server CPU per event, and how busy the rest of the machine was (cores). */
const samples = new Map<Variant, { script: number; cpu: number; others: number; msPerCall: number; argBytes: number; outboxBytes: number }[]>(variants.map((v) => [v, []]));

const server = await startRedis();
const redis = new Redis(server.url);
try {
  const shas = new Map<Variant, string>([
    ['priced', (await redis.script('LOAD', full)) as string],
    ['unpriced', (await redis.script('LOAD', full)) as string],
    ['no money', (await redis.script('LOAD', noMoneyScript(full))) as string],
  ]);
  const options = (pricing: PriceBooks) => ({ allowedLatenessMs: 7_200_000, dedupWindowSeconds: 86_400, price: (event: UsageEvent) => priceEvent(pricing, event) });
  for (let round = 0; round < ROUNDS; round++) {
    // One round's traffic: CALLS_PER_ROUND chunks of one tenant's events, in the current hour.
    const next = usageGenerator({ seed: 100 + round, tenants: TENANTS, idPrefix: `lm${round}` });
    const chunks: { tenant: string; partition: number; events: OffsetEvent[] }[] = [];
    const offsets = new Map<string, number>();
    for (let c = 0; c < CALLS_PER_ROUND; c++) {
      const tenant = TENANTS[c % TENANTS.length]!;
      const base = offsets.get(tenant) ?? 0;
      offsets.set(tenant, base + CHUNK);
      chunks.push({ tenant, partition: c % TENANTS.length, events: Array.from({ length: CHUNK }, (_, k) => ({ offset: String(base + k), event: { ...next(), tenant_id: tenant } })) });
    }
    const argsOf: Record<Variant, (string | number | Buffer)[][]> = {
      priced: chunks.map((c) => { const p = planTenantBatch(c.tenant, c.partition, c.events, quotasOf(c.tenant), options(books)); return [...p.keys, ...p.args]; }),
      unpriced: chunks.map((c) => { const p = planTenantBatch(c.tenant, c.partition, c.events, quotasOf(c.tenant), options(emptyBooks)); return [...p.keys, ...p.args]; }),
      'no money': chunks.map((c) => { const p = planTenantBatch(c.tenant, c.partition, c.events, quotasOf(c.tenant), options(books)); return [...p.keys, ...p.args]; }),
    };
    // The order rotates per round so neither form always runs first.
    const order = variants.map((_, k) => variants[(k + round) % variants.length]!);
    const counters: Record<string, string> = {};
    for (const variant of order) {
      await redis.flushall();
      await redis.set(redisKeys.epoch(), String(Date.now()));
      await redis.config('RESETSTAT');
      const cpuBefore = cpuSeconds(server.pid);
      const machineBefore = machineCpu().busy;
      const selfBefore = process.cpuUsage();
      const started = performance.now();
      let applied = 0;
      let outboxBytes = 0;
      for (const args of argsOf[variant]) {
        const reply = (await redis.evalsha(shas.get(variant)!, 2, ...args)) as number[];
        applied += reply[0] ?? 0;
        const outbox = args[1] as string;
        outboxBytes += (await redis.lrange(outbox, 0, -1)).reduce((n, entry) => n + entry.length, 0);
        await redis.del(outbox);
      }
      const cpu = cpuSeconds(server.pid) - cpuBefore;
      const self = process.cpuUsage(selfBefore);
      const others = (machineCpu().busy - machineBefore - cpu - (self.user + self.system) / 1e6) / ((performance.now() - started) / 1_000);
      const stat = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info('commandstats'));
      if (applied !== CALLS_PER_ROUND * CHUNK) throw new Error(`${variant}: applied ${applied} of ${CALLS_PER_ROUND * CHUNK}`);
      // Every form must count the same tokens: compare the quota counters across forms.
      const keys = (await redis.keys('ml:*:q:*')).sort();
      const used = JSON.stringify(await Promise.all(keys.map((key) => redis.hget(key, 'used'))));
      counters[variant] = `${keys.join(',')}=${used}`;
      const sample = {
        script: Number(stat?.[2]) / applied,
        cpu: (cpu * 1e6) / applied,
        others,
        msPerCall: Number(stat?.[2]) / Number(stat?.[1]) / 1_000,
        argBytes: argsOf[variant].reduce((n, args) => n + args.reduce<number>((m, a) => m + (Buffer.isBuffer(a) ? a.length : String(a).length), 0), 0) / applied,
        outboxBytes: outboxBytes / applied,
      };
      samples.get(variant)!.push(sample);
      console.log(`round ${round + 1}/${ROUNDS} ${variant.padEnd(9)}: script ${sample.script.toFixed(2)} us/event, redis-server CPU ${sample.cpu.toFixed(2)} us/event (rest of the machine: ${sample.others.toFixed(2)} cores busy)`);
    }
    if (new Set(Object.values(counters)).size !== 1) throw new Error(`the forms counted different tokens: ${JSON.stringify(counters)}`);
  }
  // Medians over rounds (a round where something else ran is an outlier, not an average).
  const line = (v: Variant) => {
    const list = samples.get(v)!;
    return {
      script_us_per_event: median(list.map((x) => x.script)), redis_cpu_us_per_event: median(list.map((x) => x.cpu)), ms_per_call: median(list.map((x) => x.msPerCall)),
      arg_bytes_per_event: median(list.map((x) => x.argBytes)), outbox_bytes_per_event: median(list.map((x) => x.outboxBytes)), others_cores_max: Math.max(...list.map((x) => x.others)), rounds: list,
    };
  };
  const priced = line('priced');
  const unpriced = line('unpriced');
  const bare = line('no money');
  console.log(`\n${ROUNDS} rounds x ${CALLS_PER_ROUND} calls x ${CHUNK} events (${TENANTS.length} tenants, 2 token quotas each), medians over rounds:`);
  for (const [name, r] of [['priced', priced], ['unpriced', unpriced], ['no money', bare]] as const) {
    console.log(`  ${name.padEnd(9)}: script ${r.script_us_per_event.toFixed(2)} us/event (${r.ms_per_call.toFixed(2)} ms/call), redis-server CPU ${r.redis_cpu_us_per_event.toFixed(2)} us/event, arguments ${r.arg_bytes_per_event.toFixed(0)} B/event, outbox ${r.outbox_bytes_per_event.toFixed(0)} B/event; rest of the machine up to ${r.others_cores_max.toFixed(2)} cores busy`);
  }
  // Differences paired by round (the forms of a round ran back to back), then the median.
  const delta = (a: Variant, b: Variant, key: 'script' | 'cpu') => median(samples.get(a)!.map((x, r) => x[key] - samples.get(b)![r]![key]));
  const ratio = (a: Variant, b: Variant, key: 'script' | 'cpu') => median(samples.get(a)!.map((x, r) => x[key] / samples.get(b)![r]![key] - 1));
  const differences = {
    money_in_lua: { script_us_per_event: delta('priced', 'no money', 'script'), script_share: ratio('priced', 'no money', 'script'), redis_cpu_us_per_event: delta('priced', 'no money', 'cpu'), redis_cpu_share: ratio('priced', 'no money', 'cpu') },
    priced_vs_unpriced: { script_us_per_event: delta('priced', 'unpriced', 'script'), redis_cpu_us_per_event: delta('priced', 'unpriced', 'cpu') },
  };
  const d = differences;
  console.log(`  money in Lua (priced - no money): script +${d.money_in_lua.script_us_per_event.toFixed(2)} us/event (+${(d.money_in_lua.script_share * 100).toFixed(1)}%), redis-server CPU +${d.money_in_lua.redis_cpu_us_per_event.toFixed(2)} us/event (+${(d.money_in_lua.redis_cpu_share * 100).toFixed(1)}%)`);
  console.log(`  priced - unpriced (empty books, same arguments, zeros): script +${d.priced_vs_unpriced.script_us_per_event.toFixed(2)} us/event, redis-server CPU +${d.priced_vs_unpriced.redis_cpu_us_per_event.toFixed(2)} us/event`);
  const file = join(repoRoot(), 'bench', 'results', `lua-money-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(repoRoot(), 'bench', 'results'), { recursive: true });
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, calls_per_round: CALLS_PER_ROUND, events_per_call: CHUNK, priced, unpriced, no_money: bare, differences }, null, 2));
  console.log(`results: ${file}`);
} finally {
  redis.disconnect();
  await server.stop();
}
