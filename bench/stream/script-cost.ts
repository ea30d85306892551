// Where apply-usage-batch-2.lua spends Redis time, per event (INFO commandstats, so Redis-side
// only): the full script against one that only receives its arguments, at several chunk sizes.
//   node --import tsx bench/stream/script-cost.ts
// Each variant gets fresh offsets (the watermark is reset) so nothing is skipped as a replay.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parseQuotaDefinition, priceEvent, type UsageEvent } from '@meterline/domain';
import { loadPriceBooks } from '@meterline/pricing';
import { redisKeys } from '@meterline/redis';
import { planTenantBatch, type OffsetEvent, type TenantBatchPlan } from '@meterline/rollup-consumer';
import { repoRoot, startRedis, usageGenerator } from '@meterline/testing';

const full = readFileSync(join(repoRoot(), 'libs/redis/src/scripts/apply-usage-batch-2.lua'), 'utf8');
const variants: Record<string, string> = {
  // Only the arguments reach Lua (the ARGV table is built), nothing is read from it.
  'arguments only': `if redis.call('EXISTS', ARGV[5]) == 0 then return { -1 } end\nreturn { #ARGV }`,
  'full script': full,
};

const server = await startRedis();
const redis = new Redis(server.url);
try {
  await redis.set(redisKeys.epoch(), String(Date.now()));
  const books = loadPriceBooks(join(repoRoot(), 'pricing'));
  const options = { allowedLatenessMs: 7_200_000, dedupWindowSeconds: 86_400, price: (event: UsageEvent) => priceEvent(books, event) };
  const tenant = 'acme';
  const quotas = ['day', 'month'].map((period) => parseQuotaDefinition({ tenant_id: tenant, quota_id: `${period}-total`, metric: 'total_tokens', period, limit: '1000000000000000', enforcement: 'soft', updated_at: 1 }));
  const next = usageGenerator({ seed: 3, tenants: [tenant], idPrefix: 'cost' });
  let offset = 0;
  const shas = new Map<string, string>();
  for (const [name, lua] of Object.entries(variants)) shas.set(name, (await redis.script('LOAD', lua)) as string);
  for (const chunk of [1_000, 100, 10]) {
    const calls = Math.max(20, 20_000 / chunk);
    for (const [name, sha] of shas) {
      const plans: TenantBatchPlan[] = Array.from({ length: calls }, () => planTenantBatch(tenant, 0, Array.from({ length: chunk }, (): OffsetEvent => ({ offset: String(offset++), event: next() })), quotas, options));
      await redis.del(redisKeys.watermark(tenant, 0));
      await redis.config('RESETSTAT');
      for (const plan of plans) {
        await redis.evalsha(sha, 2, ...plan.keys, ...plan.args);
        await redis.del(plan.keys[1]);
      }
      const stat = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info('commandstats'));
      const usec = Number(stat?.[2]);
      console.log(`${chunk} events/call, ${name}: ${(usec / calls / 1_000).toFixed(2)} ms/call, ${(usec / (calls * chunk)).toFixed(2)} us of Redis time per event`);
    }
  }
} finally {
  redis.disconnect();
  await server.stop();
}
