import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { inject, expect, it, vi } from 'vitest';
import { periodBounds, periodOf } from '@meterline/domain';
import { InvoicesTable, migrate, openClickHouse } from '@meterline/clickhouse';
import { invoiceReadyCodec } from '@meterline/contract';
import { INVOICE_JOB } from '@meterline/invoice-scheduler';
import { createKafka } from '@meterline/kafka';
import { startRedis, uniqueIdentifier, waitFor, type ManagedProcess } from '@meterline/testing';
import { spawnApp } from './support/child-app';
import { ReferenceInvoices, invoiceTestConfig, monthEnd, monthOfTraffic, pipeline, readTopic } from './support/invoices';
import { testLog } from './support/raw-path';
import { ReferencePrices } from './support/reference-prices';
import { ALLOWED_LATENESS_MS } from './support/stream';

// The invoice scheduler as its own process, SIGKILLed in the middle of a month's run.
vi.setConfig({ testTimeout: 600_000 });

const brokers = inject('kafkaBrokers');

it('an invoice worker killed mid-run: after a restart every invoice exists exactly once, equal to the reference', async () => {
  const tenants = Array.from({ length: 150 }, (_, i) => `crash-tenant-${String(i).padStart(3, '0')}`);
  // The embedded ClickHouse is one process's at a time: the pipeline fills it, then the worker owns it.
  const chdbPath = mkdtempSync(join(tmpdir(), 'meterline-invoice-crash-chdb-'));
  const database = uniqueIdentifier('invoice_crash');
  let handle = openClickHouse({ database, chdbPath });
  await migrate(handle, testLog);
  const p = await pipeline(brokers, 3, handle);
  const reference = new ReferencePrices(p.rig.pricingDir);
  const traffic = monthOfTraffic(reference, tenants, 6_000, 47);
  // Invoiced: every tenant with usage, and those with a minimum commitment (acme-corp in the shipped terms).
  const billed = [...new Set([...traffic.distinct.map((e) => e.tenant_id), ...new ReferenceInvoices(reference, p.rig.pricingDir).committedTenants()])].sort();
  await p.record(traffic.arrivals);
  await p.caughtUp();
  const pricingDir = p.rig.pricingDir;
  const names = { usageEvents: p.rig.topics.usageEvents, usageRollups: p.rig.topics.usageRollups, rawSinkGroup: p.rawSinkGroup, rollupGroup: p.rig.groupId, rollupSinkGroup: p.rollupSinkGroup };
  await p.rig.close();
  await handle.close();

  const period = periodOf(monthEnd() - 1);
  const redisServer = await startRedis();
  const { config, env } = invoiceTestConfig({
    brokers, redisUrl: redisServer.url, ...names, pricingDir, database,
    extra: {
      METERLINE_CHDB_PATH: chdbPath,
      METERLINE_INVOICE_CLOCK: new Date(periodBounds(period).endMs + ALLOWED_LATENESS_MS + 60_000).toISOString(),
      METERLINE_INVOICE_CRON: '*/2 * * * * *',
      METERLINE_INVOICE_CONCURRENCY: '2',
      METERLINE_INVOICE_STALLED_INTERVAL: '2s',
    },
  });
  const bull = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const queue = new Queue(config.invoices.queue, { connection: bull });
  const completedInvoices = async (): Promise<number> => (await queue.getJobs(['completed'])).filter((j) => j.name === INVOICE_JOB).length;
  let worker: ManagedProcess | undefined;
  let completedAtKill = 0;
  try {
    worker = await spawnApp('apps/invoice-scheduler/src/main.ts', [], env, 'invoice-scheduler');
    await waitFor(completedInvoices, (n) => n >= 20, { what: 'the worker to be busy with the month', timeoutMs: 180_000, intervalMs: 100 });
    await worker.kill();
    completedAtKill = await completedInvoices();
    worker = await spawnApp('apps/invoice-scheduler/src/main.ts', [], env, 'invoice-scheduler-2');
    await waitFor(completedInvoices, (n) => n === billed.length, { what: 'every invoice job to complete after the restart', timeoutMs: 300_000, intervalMs: 500 });
    const exit = await worker.stop(30_000);
    expect(exit.signal === null || exit.signal === 'SIGTERM').toBe(true);
  } finally {
    if (worker?.isRunning()) await worker.kill();
    await queue.close();
    await bull.quit();
    await redisServer.stop();
  }
  // Killed in the middle: some invoices were done, not all.
  expect(completedAtKill).toBeGreaterThanOrEqual(20);
  expect(completedAtKill).toBeLessThan(billed.length);

  handle = openClickHouse({ database, chdbPath });
  try {
    const table = new InvoicesTable(handle);
    // Exactly once: one row per invoice id, one invoice per tenant with usage, none written twice.
    expect(await table.rowCounts(period)).toEqual({ rows: billed.length, distinct: billed.length });
    const invoices = await table.latest(billed, period);
    const invoicesRef = new ReferenceInvoices(reference, pricingDir);
    const wrong = billed.filter((tenant) => {
      const expected = invoicesRef.invoice(tenant, traffic.distinct.filter((e) => e.tenant_id === tenant));
      return invoices.get(tenant)?.total_minor !== expected.total_minor;
    });
    expect(wrong).toEqual([]);
    // Every invoice was announced; a job killed between publishing and marking publishes again (at least once).
    const kafka = createKafka({ brokers, clientId: 'invoice-crash-test' }, testLog);
    const ready = (await readTopic(kafka, config.topics.invoices)).map((m) => invoiceReadyCodec().decode(m.value!));
    expect(new Set(ready.map((r) => r.invoice_id)).size).toBe(billed.length);
    expect(ready.length).toBeLessThanOrEqual(billed.length + 2);
  } finally {
    await handle.close();
  }
});
