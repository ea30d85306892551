// Child process of bench/stream.ts: calls checkQuota (CHECK_MODE=checker) or a naive version
// (CHECK_MODE=naive: HGETALL of the definitions, then one HGET per quota, one after the other),
// or only PINGs (CHECK_MODE=ping: the floor of this client, connection and machine)
// at CHECK_RATE calls/s for CHECK_SECONDS, open loop (calls are issued on schedule whether or not
// earlier ones answered, as an API under load would), and writes per-call latencies to CHECK_OUT.
// Its own process, so the bench's producer and pollers do not sit in its event loop.
// Start-up (tsx, connecting) stays out of the measurement: it writes CHECK_OUT.ready, waits for
// CHECK_OUT.go, warms up for one second, then measures.
import { existsSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
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

/** The floor: one PING per call on the same connection and schedule (transport + scheduling only). */
async function ping(): Promise<boolean> {
  return (await redis.ping()) === 'PONG';
}

const call = mode === 'naive' ? naiveCheck : mode === 'ping' ? ping : async (tenantId: string) => (await checker.checkQuota(tenantId)).allowed;

interface Paced {
  calls: number;
  errors: number;
  quotasSeen: number;
  elapsedMs: number;
  /** Share of the time this process's event loop was busy (near 1: the client itself is the queue). */
  eventLoopUtilization: number;
}

/** Issues calls on schedule in 1 ms slices; `samples` (ms) gets one entry per answered call. */
async function paced(durationMs: number, samples: Float64Array | undefined): Promise<Paced & { answered: number }> {
  let issued = 0;
  let answered = 0;
  let settled = 0;
  let errors = 0;
  let allSettled: (() => void) | undefined;
  const settle = (): void => {
    settled++;
    if (settled === issued) allSettled?.();
  };
  const elu = performance.eventLoopUtilization();
  const started = performance.now();
  for (;;) {
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs) break;
    const due = Math.floor((elapsed / 1_000) * rate);
    while (issued < due) {
      const tenant = tenants[issued % tenants.length]!;
      issued++;
      const t0 = performance.now();
      call(tenant).then(
        () => {
          if (samples && answered < samples.length) samples[answered] = performance.now() - t0;
          answered++;
          settle();
        },
        () => {
          errors++;
          settle();
        },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  if (settled < issued) await new Promise<void>((resolve) => (allSettled = resolve));
  const elapsedMs = performance.now() - started;
  const eventLoopUtilization = performance.eventLoopUtilization(elu).utilization;
  const quotasSeen = (await checker.checkQuota(tenants[0]!)).quotas.length;
  return { calls: issued, answered, errors, quotasSeen, elapsedMs, eventLoopUtilization };
}

try {
  await redis.ping();
  writeFileSync(`${out}.ready`, String(process.pid));
  while (!existsSync(`${out}.go`)) await new Promise((resolve) => setTimeout(resolve, 5));
  await paced(1_000, undefined);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpu = process.cpuUsage();
  const buffer = new Float64Array(Math.ceil(rate * seconds * 1.1) + 100);
  const run = await paced(seconds * 1_000, buffer);
  const used = process.cpuUsage(cpu);
  delay.disable();
  const samples = buffer.subarray(0, Math.min(run.answered, buffer.length)).sort();
  const at = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] ?? Number.NaN;
  writeFileSync(out, JSON.stringify({
    mode, rate, seconds, tenants: tenants.length, quotas_per_tenant: run.quotasSeen, calls: run.calls, errors: run.errors, achieved_per_s: run.calls / (run.elapsedMs / 1_000),
    p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), p999_ms: at(0.999), max_ms: samples[samples.length - 1] ?? Number.NaN,
    client_cpu_us_per_call: (used.user + used.system) / run.calls, client_event_loop_utilization: run.eventLoopUtilization,
    client_event_loop_delay_p99_ms: delay.percentile(99) / 1e6, client_event_loop_delay_max_ms: delay.max / 1e6,
  }));
} finally {
  redis.disconnect();
}
