import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it, vi } from 'vitest';
import { periodBounds, periodOf, type UsageEvent } from '@meterline/domain';
import type { TenantUsage } from '@meterline/api';
import { InvoicesTable, openClickHouse, type ReconcileReport } from '@meterline/clickhouse';
import { loadTenantBilling } from '@meterline/pricing';
import { freePort, startRedis, uniqueIdentifier, uniqueName, waitFor, UsageReference, type ManagedProcess } from '@meterline/testing';
import { spawnApp } from './support/child-app';
import { ReferenceInvoices, invoiceTestConfig, monthEnd, monthOfTraffic } from './support/invoices';
import { ReferencePrices } from './support/reference-prices';
import { ALLOWED_LATENESS_MS, shippedPricingDir } from './support/stream';

// Each app in its own process, as an operator runs them, sharing one ClickHouse over HTTP
// (the embedded engine served by `meterline clickhouse serve`, itself a separate process).
vi.setConfig({ testTimeout: 600_000 });

const brokers = inject('kafkaBrokers');

it('api, clickhouse-sink, rollup-consumer and invoice-scheduler as separate processes over ClickHouse HTTP: raw, rollups and invoices exact', async () => {
  const started = Date.now();
  const tenants = ['ppa-acme', 'ppa-globex', 'ppa-initech', 'ppa-hooli'];
  const reference = new ReferencePrices(shippedPricingDir);
  const traffic = monthOfTraffic(reference, tenants, 3_000, 1_313);
  const period = periodOf(monthEnd() - 1);

  const chdbPath = mkdtempSync(join(tmpdir(), 'meterline-ppa-chdb-'));
  const [clickhousePort, apiPort, healthPort] = [await freePort(), await freePort(), await freePort()];
  const clickhouseUrl = `http://127.0.0.1:${clickhousePort}`;
  const redis = await startRedis();
  const database = uniqueIdentifier('ppa');
  const topic = uniqueName('ppa-events');
  const { env } = invoiceTestConfig({
    brokers, redisUrl: redis.url, usageEvents: topic, usageRollups: `${topic}-rollups`,
    rawSinkGroup: `${topic}-sink`, rollupGroup: `${topic}-rollup`, rollupSinkGroup: `${topic}-rollup-sink`,
    pricingDir: shippedPricingDir, database,
    extra: {
      CLICKHOUSE_URL: clickhouseUrl,
      METERLINE_TOPIC_QUOTA_ALERTS: `${topic}-alerts`,
      METERLINE_TOPIC_QUOTA_DEFINITIONS: `${topic}-quotas`,
      METERLINE_TOPIC_PRICING_ALERTS: `${topic}-pricing-alerts`,
      METERLINE_TOPIC_API_KEYS: `${topic}-keys`,
      METERLINE_USAGE_EVENTS_PARTITIONS: '4',
      METERLINE_HTTP_PORT: String(apiPort),
      METERLINE_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'meterline-ppa-spool-')),
      // The month before this one may close as soon as the apps run; the close runs every 2 s.
      METERLINE_INVOICE_CLOCK: new Date(periodBounds(period).endMs + ALLOWED_LATENESS_MS + 60_000).toISOString(),
      METERLINE_INVOICE_CRON: '*/2 * * * * *',
      LOG_LEVEL: 'info',
    },
  });
  const children: ManagedProcess[] = [];
  // Fails at once, naming the app, if any app process exits while the test waits on it.
  const whileRunning = <T>(work: Promise<T>): Promise<T> =>
    Promise.race([work, ...children.map((c) => c.exited.then((exit): never => { throw new Error(`${c.name} exited (code ${exit.code}, signal ${exit.signal})`); }))]);
  try {
    // The ClickHouse front first: every app migrates through it.
    children.push(await spawnApp('apps/cli/src/main.ts', ['clickhouse', 'serve', '--port', String(clickhousePort)], { METERLINE_CHDB_PATH: chdbPath }, 'clickhouse'));
    await waitFor(() => fetch(`${clickhouseUrl}/ping`).then((r) => r.text()).catch(() => ''), (text) => text === 'Ok.\n', { what: 'meterline clickhouse serve', timeoutMs: 60_000, intervalMs: 200 });
    // Migrations once, as an operator does before starting the apps (each app checks them again).
    const migrate = await spawnApp('apps/cli/src/main.ts', ['migrate'], env, 'migrate');
    expect((await migrate.exited).code).toBe(0);
    // A key for the services and readers: created by the operator's CLI, shown once.
    const keys = await spawnApp('apps/cli/src/main.ts', ['keys', 'create', '--name', 'ppa-services', '--scopes', 'events:write,usage:read', '--json'], { ...env, LOG_LEVEL: 'warn' }, 'keys');
    expect((await keys.exited).code).toBe(0);
    const created = JSON.parse(keys.outputTail().trim().split('\n').at(-1)!) as { token: string; scopes: string[] };
    expect(created.scopes).toEqual(['events:write', 'usage:read']);
    const auth = { authorization: `Bearer ${created.token}` };
    // Two ways an operator runs an app: the app's own main, and `meterline <app>`.
    children.push(await spawnApp('apps/clickhouse-sink/src/main.ts', [], { ...env, METERLINE_HEALTH_PORT: String(healthPort) }, 'clickhouse-sink'));
    children.push(await spawnApp('apps/rollup-consumer/src/main.ts', [], env, 'rollup-consumer'));
    children.push(await spawnApp('apps/cli/src/main.ts', ['api'], env, 'api'));
    const api = `http://127.0.0.1:${apiPort}`;
    for (const [url, what] of [[`${api}/readyz`, 'api'], [`http://127.0.0.1:${healthPort}/readyz`, 'clickhouse-sink']] as const) {
      await whileRunning(waitFor(() => fetch(url).then((r) => r.status).catch(() => 0), (status) => status === 200, { what: `${what} ready`, timeoutMs: 120_000, intervalMs: 250 }));
    }

    // Services send through the API's ingest (the shim inside the api process); duplicates included.
    for (let i = 0; i < traffic.arrivals.length; i += 500) {
      const response = await fetch(`${api}/v1/events`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(traffic.arrivals.slice(i, i + 500).map(asRecord)) });
      expect(response.status).toBe(202);
    }

    // Lifetime usage through the api process (the rollups, read from ClickHouse over HTTP); raw events are reconciled with them below.
    const expected = new UsageReference();
    for (const event of traffic.distinct) expected.add(event);
    const lifetime = await whileRunning(waitFor(
      async () => ((await (await fetch(`${api}/v1/usage`, { headers: auth })).json()) as { data: TenantUsage[] }).data.filter((t) => tenants.includes(t.tenant)),
      (totals) => totals.reduce((sum, t) => sum + Number(t.requests), 0) === traffic.distinct.length,
      { what: 'every distinct event in the rollups', timeoutMs: 120_000, intervalMs: 500 },
    ));
    expect(lifetime.map(({ tenant, requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }) => ({ tenant_id: tenant, events: requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens }))).toEqual(expected.expectedTotals());

    // Stream: hourly rollups (rollup consumer -> usage-rollups -> sink) agree with the raw events, hour by hour.
    const { startMs, endMs } = periodBounds(period);
    for (const tenant of tenants) {
      const query = new URLSearchParams({ tenant, from: new Date(startMs).toISOString(), to: new Date(endMs).toISOString() });
      const distinct = String(traffic.distinct.filter((e) => e.tenant_id === tenant).length);
      const report = await whileRunning(waitFor(
        async () => (await (await fetch(`${api}/v1/reconcile?${query.toString()}`, { headers: auth })).json()) as ReconcileReport,
        (r) => r.rollup_requests === distinct,
        { what: `${tenant}'s rollups`, timeoutMs: 120_000, intervalMs: 500 },
      ));
      expect({ tenant, raw: report.raw_events, differences: report.differences }).toEqual({ tenant, raw: distinct, differences: [] });
    }

    // Invoices: the scheduler, started once the month's traffic is in (as at 02:00 on the 1st),
    // closes the month when the pipeline has caught up; one invoice per tenant, equal to the reference.
    children.push(await spawnApp('apps/cli/src/main.ts', ['invoice-scheduler'], env, 'invoice-scheduler'));
    const handle = openClickHouse({ url: clickhouseUrl, database, chdbPath: '' });
    try {
      const table = new InvoicesTable(handle);
      // Every tenant with usage, and the tenants whose terms carry a minimum commitment (billed without usage).
      const committed = [...loadTenantBilling(shippedPricingDir).tenants.values()].filter((t) => (t.terms.minimum_commitment_minor ?? 0n) > 0n).map((t) => t.tenant_id);
      const billed = [...new Set([...traffic.distinct.map((e) => e.tenant_id), ...committed])].sort();
      await whileRunning(waitFor(() => table.rowCounts(period), (c) => c.distinct === billed.length, { what: 'an invoice per tenant', timeoutMs: 180_000, intervalMs: 500 }));
      expect(await table.rowCounts(period)).toEqual({ rows: billed.length, distinct: billed.length });
      const invoices = await table.latest(billed, period);
      const invoicesRef = new ReferenceInvoices(reference, shippedPricingDir);
      for (const tenant of billed) {
        const expected = invoicesRef.invoice(tenant, traffic.distinct.filter((e) => e.tenant_id === tenant));
        expect({ tenant, total: invoices.get(tenant)?.total_minor }).toEqual({ tenant, total: expected.total_minor });
      }
    } finally {
      await handle.close();
    }

    // SIGTERM drains each app: exit 0, in reverse order of start.
    for (const child of [...children].reverse().filter((c) => c.isRunning())) {
      const exit = await child.stop(60_000);
      expect({ app: child.name, code: exit.code }).toEqual({ app: child.name, code: 0 });
    }
    const spool = env.METERLINE_SPOOL_DIR!;
    expect(readdirSync(spool).filter((f) => !f.startsWith('.'))).toEqual([]);
    console.log(`[process-per-app] ${traffic.arrivals.length} arrivals (${traffic.distinct.length} distinct) through 5 processes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    const tails = children.map((c) => `--- ${c.name} ---\n${c.outputTail(3_000)}`).join('\n');
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${tails}`, { cause: error });
  } finally {
    for (const child of children) if (child.isRunning()) await child.kill();
    await redis.stop();
  }
});

/** An event as a service sends it to POST /v1/events (its own event id and time; no key hash). */
function asRecord(event: UsageEvent): Record<string, unknown> {
  const { api_key_hash: _hash, ...record } = event;
  return record;
}
