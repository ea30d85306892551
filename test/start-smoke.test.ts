import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { freePort, isPidAlive, repoRoot, waitFor } from '@meterline/testing';
import { spawnApp } from './support/child-app';

const run = promisify(execFile);

it('npm start: sample traffic is visible within 60 s; Ctrl-C stops everything it started', async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  // This test runs exactly what `npm start` runs.
  expect(pkg.scripts.start).toBe('node --disable-warning=TimeoutNegativeWarning --import tsx apps/cli/src/main.ts start');

  const dataDir = mkdtempSync(join(tmpdir(), 'meterline-start-'));
  const port = await freePort();
  const env: Record<string, string> = {
    METERLINE_HTTP_PORT: String(port),
    METERLINE_CHDB_PATH: join(dataDir, 'chdb'),
    METERLINE_SPOOL_DIR: join(dataDir, 'spool'),
  };
  const startedAt = Date.now();
  const fleet = await spawnApp('apps/cli/src/main.ts', ['start', '--data-dir', dataDir, '--rate', '300'], env, 'fleet');
  try {
    const totals = await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/v1/usage`);
        return ((await response.json()) as { tenants: { tenant_id: string; events: string }[] }).tenants;
      },
      (tenants) => tenants.reduce((sum, t) => sum + Number(t.events), 0) > 0,
      { what: 'sample traffic in ClickHouse', timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(Date.now() - startedAt).toBeLessThan(60_000);
    expect(totals.length).toBeGreaterThan(0);

    // The CLI reads through the running fleet (the embedded ClickHouse is held by it).
    const cli = await run(process.execPath, ['--import', 'tsx', join(repoRoot(), 'apps/cli/src/main.ts'), 'usage', '--json'], {
      cwd: repoRoot(),
      env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
    });
    const viaCli = JSON.parse(cli.stdout) as { tenant_id: string; events: string }[];
    expect(viaCli.length).toBeGreaterThan(0);
    expect(viaCli.every((t) => Number(t.events) > 0)).toBe(true);

    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { status: string; meter: { recorded: number } };
    expect(health.status).toBe('ok');
    expect(health.meter.recorded).toBeGreaterThan(0);

    // Quotas through the CLI: a tiny hard daily quota for acme is soon used up by the traffic.
    const brokers = JSON.parse(readFileSync(join(dataDir, 'kafka-ports.json'), 'utf8')) as { port: number };
    const cliEnv: NodeJS.ProcessEnv = { ...process.env, ...env, LOG_LEVEL: 'warn', KAFKA_BROKERS: `127.0.0.1:${brokers.port}` };
    const set = await run(process.execPath, ['--import', 'tsx', join(repoRoot(), 'apps/cli/src/main.ts'), 'quota', 'set', '--tenant', 'acme', '--id', 'smoke-daily', '--limit', '1000', '--period', 'day', '--hard'], { cwd: repoRoot(), env: cliEnv });
    expect(set.stdout).toContain('quota smoke-daily set for acme');
    const listed = await run(process.execPath, ['--import', 'tsx', join(repoRoot(), 'apps/cli/src/main.ts'), 'quota', 'list', '--tenant', 'acme', '--json'], { cwd: repoRoot(), env: cliEnv });
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ quota_id: 'smoke-daily', limit: '1000', enforcement: 'hard' })]);
    const check = await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/v1/quotas/acme/check`);
        return { status: response.status, body: (await response.json()) as { allowed: boolean; quotas: { quota_id: string; used: string }[] } };
      },
      (c) => c.status === 429,
      { what: 'acme to use up its quota', timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(check.body.allowed).toBe(false);
    expect(BigInt(check.body.quotas[0]!.used)).toBeGreaterThanOrEqual(1000n);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- fleet output (tail) ---\n${fleet.outputTail(6_000)}`, { cause: error });
  } finally {
    if (fleet.isRunning()) process.kill(fleet.pid, 'SIGINT');
    await waitFor(() => fleet.isRunning(), (running) => !running, { what: 'the fleet to exit after SIGINT', timeoutMs: 60_000 });
  }
  expect(fleet.exitInfo?.code).toBe(0);

  // Everything the fleet started is gone.
  const log = fleet.outputTail(2_000_000);
  const pids = [...log.matchAll(/"msg":"(?:kafka|redis) started"/g)].length;
  expect(pids).toBe(2);
  const started = log
    .split('\n')
    .filter((line) => line.includes('"msg":"kafka started"') || line.includes('"msg":"redis started"'))
    .map((line) => (JSON.parse(line) as { pid: number; msg: string }));
  for (const child of started) {
    expect(child.pid).toBeGreaterThan(0);
    await waitFor(() => isPidAlive(child.pid), (alive) => !alive, { what: `${child.msg} pid ${child.pid} to be gone`, timeoutMs: 10_000 });
  }
  expect(log).toContain('fleet stopped');
});
