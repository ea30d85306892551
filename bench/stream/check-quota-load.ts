// Child process of bench/stream.ts: calls checkQuota (CHECK_MODE=checker) or a naive version
// (CHECK_MODE=naive: HGETALL of the definitions, then one HGET per quota, one after the other)
// at CHECK_RATE calls/s for CHECK_SECONDS, open loop (calls are issued on schedule whether or not
// earlier ones answered, as an API under load would), and writes per-call latencies to CHECK_OUT.
// Its own process, so the bench's producer and pollers do not sit in its event loop.
// Start-up (tsx, connecting) stays out of the measurement: it writes CHECK_OUT.ready, waits for
// CHECK_OUT.go, warms up for one second, then measures.
import { existsSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { checkAllowed, evaluateQuota, parseQuotaDefinition, quotaPeriod } from '@meterline/domain';
import { QuotaChecker } from '@meterline/quotas';
import { redisKeys } from '@meterline/redis';

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

const mode = env('CHECK_MODE');
const rate = Number(env('CHECK_RATE'));
const seconds = Number(env('CHECK_SECONDS'));
const tenants = env('CHECK_TENANTS').split(',');
const out = env('CHECK_OUT');
const redis = new Redis(env('REDIS_URL'));
const checker = new QuotaChecker(redis);

/** What a first version would do: no definition cache, one round trip per quota, in sequence. */
async function naiveCheck(tenantId: string): Promise<boolean> {
  const raw = await redis.hgetall(redisKeys.quotaDefinitions(tenantId));
  const now = Date.now();
  const statuses = [];
  for (const json of Object.values(raw)) {
    const definition = parseQuotaDefinition(JSON.parse(json));
    const used = await redis.hget(redisKeys.quotaCounter(tenantId, definition.quota_id, quotaPeriod(definition, now).start), 'used');
    statuses.push(evaluateQuota(definition, BigInt(used ?? '0'), now));
  }
  return checkAllowed(statuses).allowed;
}

const call = mode === 'naive' ? naiveCheck : async (tenantId: string) => (await checker.checkQuota(tenantId)).allowed;

interface Paced {
  calls: number;
  errors: number;
  quotasSeen: number;
  elapsedMs: number;
}

async function paced(durationMs: number, samples: number[] | undefined): Promise<Paced> {
  const pending: Promise<void>[] = [];
  let issued = 0;
  let errors = 0;
  const started = performance.now();
  for (;;) {
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs) break;
    const due = Math.floor((elapsed / 1_000) * rate);
    while (issued < due) {
      const tenant = tenants[issued % tenants.length]!;
      issued++;
      const t0 = performance.now();
      pending.push(call(tenant).then(
        () => {
          samples?.push(performance.now() - t0);
        },
        () => {
          errors++;
        },
      ));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  const quotasSeen = (await checker.checkQuota(tenants[0]!)).quotas.length;
  return { calls: issued, errors, quotasSeen, elapsedMs: performance.now() - started };
}

try {
  await redis.ping();
  writeFileSync(`${out}.ready`, String(process.pid));
  while (!existsSync(`${out}.go`)) await new Promise((resolve) => setTimeout(resolve, 5));
  await paced(1_000, undefined);
  const samples: number[] = [];
  const run = await paced(seconds * 1_000, samples);
  samples.sort((a, b) => a - b);
  const at = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] ?? Number.NaN;
  writeFileSync(out, JSON.stringify({
    mode, rate, seconds, tenants: tenants.length, quotas_per_tenant: run.quotasSeen, calls: run.calls, errors: run.errors, achieved_per_s: run.calls / (run.elapsedMs / 1_000),
    p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), p999_ms: at(0.999), max_ms: samples[samples.length - 1] ?? Number.NaN,
  }));
} finally {
  redis.disconnect();
}
