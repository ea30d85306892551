import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it, vi } from 'vitest';
import type { TenantUsage } from '@meterline/api';
import type { ReconcileReport } from '@meterline/clickhouse';
import { UsageReference, freePort, isPidAlive, pricedSampleModels, repoRoot, usageGenerator, waitFor, type ManagedProcess } from '@meterline/testing';
import { spawnApp } from './support/child-app';

const run = promisify(execFile);
vi.setConfig({ testTimeout: 420_000 });

interface LogLine { level: number; msg: string; pid?: number; app?: string; err?: string }

/** The fleet's JSON log lines (pino: 40 = WARN, 50 = ERROR). */
function logLines(fleet: ManagedProcess): LogLine[] {
  return fleet.outputTail(20_000_000).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogLine);
}

/** Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group. */
function ctrlC(fleet: ManagedProcess): void {
  process.kill(-fleet.pid, 'SIGINT');
}

async function exited(fleet: ManagedProcess): Promise<void> {
  await waitFor(() => fleet.isRunning(), (running) => !running, { what: 'the fleet to exit after Ctrl-C', timeoutMs: 90_000 });
}

/** Files left in the spool directories (segments of events that did not reach Kafka). */
function spooled(dir: string): string[] {
  const walk = (d: string): string[] => readdirSync(d).flatMap((name) => (statSync(join(d, name)).isDirectory() ? walk(join(d, name)) : [join(d, name)]));
  return walk(dir).filter((file) => statSync(file).size > 0);
}

it('npm start: traffic visible within 60 s, ready, no WARN or ERROR; Ctrl-C to the process group with events in flight drains, stops everything, and a restart has exact totals', async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  // This test runs exactly what `npm start` runs.
  expect(pkg.scripts.start).toBe('node --disable-warning=TimeoutNegativeWarning --import tsx apps/cli/src/main.ts start');

  const dataDir = mkdtempSync(join(tmpdir(), 'meterline-start-'));
  const [port, clickhousePort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    METERLINE_HTTP_PORT: String(port),
    METERLINE_CHDB_PATH: join(dataDir, 'chdb'),
    METERLINE_SPOOL_DIR: join(dataDir, 'spool'),
  };
  const api = `http://127.0.0.1:${port}`;
  const startedAt = Date.now();
  const fleet = await spawnApp('apps/cli/src/main.ts', ['start', '--data-dir', dataDir, '--rate', '300', '--clickhouse-port', String(clickhousePort)], env, 'fleet');
  // Events a service sends through HTTP ingest just before Ctrl-C: the independent reference.
  const tenant = `ctrl-c-${Date.now().toString(36)}`;
  const next = usageGenerator({ seed: 77, tenants: [tenant], idPrefix: tenant, models: pricedSampleModels });
  const reference = new UsageReference();
  let restarted: ManagedProcess | undefined;
  try {
    // The fleet's first start made an admin key; every route but /livez and /readyz needs one.
    const adminKey = await waitFor(() => readFileSync(join(dataDir, 'admin-key'), 'utf8').trim(), (key) => key.startsWith('mlk_'), { what: 'the local admin key', timeoutMs: 60_000, intervalMs: 250 });
    const auth = { authorization: `Bearer ${adminKey}` };
    await waitFor(() => fetch(`${api}/v1/usage`).then((r) => r.status).catch(() => 0), (status) => status === 401, { what: 'the API to refuse a request without a key', timeoutMs: 60_000, intervalMs: 250 });
    const totals = await waitFor(
      async () => ((await (await fetch(`${api}/v1/usage`, { headers: auth })).json()) as { data: TenantUsage[] }).data,
      (tenants) => tenants.reduce((sum, t) => sum + Number(t.requests), 0) > 0,
      { what: 'sample traffic in ClickHouse', timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(Date.now() - startedAt).toBeLessThan(60_000);
    expect(totals.length).toBeGreaterThan(0);

    // The CLI reads through the running fleet (the embedded ClickHouse is held by it).
    const cli = await run(process.execPath, ['--import', 'tsx', join(repoRoot(), 'apps/cli/src/main.ts'), 'usage', '--json'], { cwd: repoRoot(), env: { ...process.env, ...env, LOG_LEVEL: 'warn', METERLINE_API_KEY: adminKey } });
    const viaCli = JSON.parse(cli.stdout) as TenantUsage[];
    expect(viaCli.length).toBeGreaterThan(0);
    expect(viaCli.every((t) => Number(t.requests) > 0)).toBe(true);

    // Outside tools read the embedded ClickHouse over HTTP while the fleet holds it (as curl would).
    const count = await fetch(`http://127.0.0.1:${clickhousePort}/?query=${encodeURIComponent('SELECT count() FROM meterline.usage_events')}`);
    expect(count.status).toBe(200);
    expect(Number(await count.text())).toBeGreaterThan(0);

    // Ready means every app's checks pass in this one process.
    const ready = await fetch(`${api}/readyz`);
    const readyBody = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(ready.status).toBe(200);
    expect(Object.keys(readyBody.checks).sort()).toEqual(['clickhouse', 'kafka', 'redis', 'rollup-consumer', 'sink:alerts', 'sink:usage-events', 'sink:usage-rollups']);

    // Quotas through the CLI: a tiny hard daily quota for acme is soon used up by the traffic.
    const brokers = JSON.parse(readFileSync(join(dataDir, 'kafka-ports.json'), 'utf8')) as { port: number };
    const cliEnv: NodeJS.ProcessEnv = { ...process.env, ...env, LOG_LEVEL: 'warn', KAFKA_BROKERS: `127.0.0.1:${brokers.port}`, METERLINE_API_KEY: adminKey };
    const set = await run(process.execPath, ['--import', 'tsx', join(repoRoot(), 'apps/cli/src/main.ts'), 'quota', 'set', '--tenant', 'acme', '--id', 'smoke-daily', '--limit', '1000', '--period', 'day', '--hard'], { cwd: repoRoot(), env: cliEnv });
    expect(set.stdout).toContain('quota smoke-daily set for acme');
    const check = await waitFor(
      async () => {
        const response = await fetch(`${api}/v1/quotas/acme/check`, { headers: auth });
        return { status: response.status, body: (await response.json()) as { allowed: boolean; quotas: { quota_id: string; used: string }[] } };
      },
      (c) => c.status === 429,
      { what: 'acme to use up its quota', timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(check.body.allowed).toBe(false);
    expect(BigInt(check.body.quotas[0]!.used)).toBeGreaterThanOrEqual(1000n);

    // Events in flight: accepted by the API's shim (buffered for up to 20 ms) when Ctrl-C comes.
    for (let batch = 0; batch < 4; batch++) {
      const events = Array.from({ length: 500 }, () => next());
      for (const event of events) reference.add(event);
      const response = await fetch(`${api}/v1/events`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(events.map(({ api_key_hash: _h, ...e }) => e)) });
      expect(response.status).toBe(202);
    }
    ctrlC(fleet);
    await exited(fleet);
    expect(fleet.exitInfo?.code).toBe(0);

    // A clean drain: no WARN or ERROR from start to stop (no connection errors), nothing
    // spooled, Kafka and Redis stopped after the workers and gone.
    const lines = logLines(fleet);
    expect(lines.filter((l) => l.level >= 40).map((l) => `${l.msg} ${l.err ?? ''}`)).toEqual([]);
    expect(spooled(join(dataDir, 'spool'))).toEqual([]);
    const infra = lines.filter((l) => l.msg === 'kafka started' || l.msg === 'redis started');
    expect(infra).toHaveLength(2);
    for (const child of infra) await waitFor(() => isPidAlive(child.pid!), (alive) => !alive, { what: `${child.msg} pid ${child.pid} to be gone`, timeoutMs: 10_000 });
    const order = lines.filter((l) => l.msg === 'stopping').map((l) => (l as LogLine & { component: string }).component);
    expect(order.indexOf('http-api')).toBeLessThan(order.indexOf('clickhouse-sink'));
    expect(order.indexOf('clickhouse-sink')).toBeLessThan(order.indexOf('redis'));
    expect(order.indexOf('redis')).toBeLessThan(order.indexOf('kafka'));
    expect(lines.at(-1)?.msg).toBe('fleet stopped');

    // After a restart, every event sent before Ctrl-C is counted exactly once, raw and in rollups.
    restarted = await spawnApp('apps/cli/src/main.ts', ['start', '--data-dir', dataDir, '--no-traffic', '--clickhouse-port', '0'], env, 'fleet-restarted');
    const [expected] = reference.expectedTotals();
    const lifetime = await waitFor(
      async () => ((await (await fetch(`${api}/v1/usage?tenant=${tenant}`, { headers: auth }).catch(() => new Response('{"data":[]}'))).json()) as { data: TenantUsage[] }).data,
      (t) => t.length === 1 && t[0]!.requests === expected!.events,
      { what: 'the in-flight events after the restart', timeoutMs: 120_000, intervalMs: 500 },
    );
    const { tenant: counted, requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens } = lifetime[0]!;
    expect({ tenant_id: counted, events: requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }).toEqual(expected);
    const from = new Date(Date.now() - 86_400_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const report = await waitFor(
      async () => (await (await fetch(`${api}/v1/reconcile?tenant=${tenant}&from=${from}&to=${to}`, { headers: auth })).json()) as ReconcileReport,
      (r) => r.differences.length === 0 && r.rollup_requests === expected!.events,
      { what: 'rollups to equal the raw events', timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(report.raw_events).toBe(expected!.events);
    ctrlC(restarted);
    await exited(restarted);
    expect(restarted.exitInfo?.code).toBe(0);
    expect(logLines(restarted).filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([]);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- fleet output (tail) ---\n${fleet.outputTail(6_000)}\n--- restarted (tail) ---\n${restarted?.outputTail(4_000) ?? ''}`, { cause: error });
  } finally {
    for (const f of [fleet, restarted]) if (f?.isRunning()) process.kill(-f.pid, 'SIGKILL');
  }
});
