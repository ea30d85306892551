import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import type { TenantUsage } from '@meterline/api';
import { UsageReference, freePort, pricedSampleModels, usageGenerator, waitFor } from '@meterline/testing';
import { spawnApp } from './support/child-app';

vi.setConfig({ testTimeout: 300_000 });

interface LogLine { level: number; msg: string; app?: string; pid?: number }

it('npm start -- --processes: each app its own child process over the shared ClickHouse HTTP front; Ctrl-C drains them all', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meterline-start-processes-'));
  const [port, clickhousePort] = [await freePort(), await freePort()];
  const env = { METERLINE_HTTP_PORT: String(port), METERLINE_CHDB_PATH: join(dataDir, 'chdb'), METERLINE_SPOOL_DIR: join(dataDir, 'spool') };
  const fleet = await spawnApp('apps/cli/src/main.ts', ['start', '--processes', '--no-traffic', '--data-dir', dataDir, '--clickhouse-port', String(clickhousePort)], env, 'fleet-processes');
  const api = `http://127.0.0.1:${port}`;
  try {
    const exited = fleet.exited.then((exit): never => {
      throw new Error(`the fleet exited before it was ready (code ${exit.code})`);
    });
    await Promise.race([waitFor(() => fetch(`${api}/readyz`).then((r) => r.status).catch(() => 0), (status) => status === 200, { what: 'the api process ready', timeoutMs: 180_000, intervalMs: 500 }), exited]);
    const auth = { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-key'), 'utf8').trim()}` };
    const tenant = `processes-${Date.now().toString(36)}`;
    const next = usageGenerator({ seed: 5, tenants: [tenant], idPrefix: tenant, models: pricedSampleModels });
    const reference = new UsageReference();
    const events = Array.from({ length: 300 }, () => next());
    for (const event of events) reference.add(event);
    const response = await fetch(`${api}/v1/events`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(events.map(({ api_key_hash: _h, ...e }) => e)) });
    expect(response.status).toBe(202);
    const [expected] = reference.expectedTotals();
    const totals = await waitFor(
      async () => ((await (await fetch(`${api}/v1/usage?tenant=${tenant}`, { headers: auth })).json()) as { data: TenantUsage[] }).data,
      (t) => t[0]?.requests === expected!.events,
      { what: 'the events in the rollups through the rollup and sink processes', timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(totals[0]!.output_tokens).toBe(expected!.output_tokens);

    process.kill(-fleet.pid, 'SIGINT');
    await waitFor(() => fleet.isRunning(), (running) => !running, { what: 'the fleet to exit', timeoutMs: 120_000 });
    expect(fleet.exitInfo?.code).toBe(0);
    const lines = fleet.outputTail(20_000_000).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
    // One process per app, each started by the fleet and stopped cleanly.
    const apps = lines.filter((l) => l.msg === 'app process started').map((l) => l.app).sort();
    expect(apps).toEqual(['api', 'clickhouse-sink', 'invoice-scheduler', 'rollup-consumer']);
    expect(new Set(lines.filter((l) => l.msg.endsWith(' running')).map((l) => l.pid)).size).toBe(4);
    expect(lines.filter((l) => l.level >= 40).map((l) => `${l.app ?? ''}: ${l.msg}`)).toEqual([]);
    expect(lines.at(-1)?.msg).toBe('fleet stopped');
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- fleet output (tail) ---\n${fleet.outputTail(6_000)}`, { cause: error });
  } finally {
    if (fleet.isRunning()) process.kill(-fleet.pid, 'SIGKILL');
  }
});
