import { readFileSync } from 'node:fs';
import { inject, describe, expect, it, vi } from 'vitest';
import { nextPeriod, periodBounds, periodOf, type UsageEvent } from '@meterline/domain';
import { InvoicesTable, UsageEventsTable } from '@meterline/clickhouse';
import { invoiceAlertCodec, invoiceReadyCodec } from '@meterline/contract';
import { invoiceSchedulerFromConfig, invoiceJobId, type InvoiceFleet } from '@meterline/invoice-scheduler';
import { ensureTopics, invoiceTopics } from '@meterline/kafka';
import { uniqueName, waitFor } from '@meterline/testing';
import { testLog } from './support/raw-path';
import { ReferenceInvoices, invoiceTestConfig, monthEnd, monthOfTraffic, pipeline, queueIdle, readTopic, type Pipeline } from './support/invoices';
import { ReferencePrices } from './support/reference-prices';
import { ALLOWED_LATENESS_MS, HOUR } from './support/stream';

// Monthly invoices end to end: events through Kafka, the sinks and the rollup consumer into
// ClickHouse; the BullMQ scheduler on real Redis closes the month and invoices every tenant.
vi.setConfig({ testTimeout: 600_000 });

const brokers = inject('kafkaBrokers');
const TENANTS = ['acme-corp', 'globex', 'initech', 'list-a', 'list-b', 'list-c'];

async function openFleet(p: Pipeline, clock: () => number, extra: Record<string, string> = {}): Promise<{ fleet: InvoiceFleet; config: ReturnType<typeof invoiceTestConfig>['config'] }> {
  const { rig } = p;
  const { config } = invoiceTestConfig({
    brokers, redisUrl: rig.redisServer.url, usageEvents: rig.topics.usageEvents, usageRollups: rig.topics.usageRollups, rawSinkGroup: p.rawSinkGroup, rollupGroup: rig.groupId,
    rollupSinkGroup: p.rollupSinkGroup, pricingDir: rig.pricingDir, database: rig.handle.database, extra,
  });
  await ensureTopics(rig.kafka, invoiceTopics(config.topics), testLog);
  const fleet = await invoiceSchedulerFromConfig({ kafka: rig.kafka, redisUrl: rig.redisServer.url, clickhouse: rig.handle, prices: rig.prices, config, log: testLog, clock });
  return { fleet, config };
}

/** Stored invoices as comparable text (amounts are bigints). */
const snapshot = (rows: unknown): string => JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));

describe('monthly invoices', () => {
  it('a scheduled run invoices every tenant once, exactly as the reference; a re-run changes nothing; a late event becomes an adjustment on the next invoice', async () => {
    const p = await pipeline(brokers);
    const { rig } = p;
    let fleet: InvoiceFleet | undefined;
    try {
      const reference = new ReferencePrices(rig.pricingDir);
      const invoicesRef = new ReferenceInvoices(reference, rig.pricingDir);
      const traffic = monthOfTraffic(reference, TENANTS, 24_000, 41);
      await p.record(traffic.arrivals);
      await p.caughtUp();

      const period = periodOf(monthEnd() - 1);
      let now = periodBounds(period).endMs + ALLOWED_LATENESS_MS + 60_000; // 02:01 UTC on the 1st
      const opened = await openFleet(p, () => now, { METERLINE_INVOICE_CRON: '* * * * * *' });
      fleet = opened.fleet;
      const { config } = opened;
      const table = new InvoicesTable(rig.handle);

      // The scheduled run: the job scheduler fires (every second here), the close job takes the
      // month before the clock's, waits for the pipeline, and fans out one job per tenant.
      await fleet.scheduler.schedule();
      fleet.scheduler.startWorker();
      const stored = await waitFor(() => table.list({ period }), (rows) => rows.length === TENANTS.length, { what: 'one invoice per tenant', timeoutMs: 120_000, intervalMs: 500 });
      await fleet.scheduler.unschedule();
      await queueIdle(fleet.scheduler.queue);

      // Exactly one final invoice per tenant, each equal to the independent reference.
      expect(stored.map((s) => s.tenant_id).sort()).toEqual([...TENANTS].sort());
      expect(stored.every((s) => s.status === 'final' && s.revision === 1)).toBe(true);
      expect(await table.rowCounts(period)).toEqual({ rows: TENANTS.length, distinct: TENANTS.length });
      const invoices = await table.latest(TENANTS, period);
      for (const tenant of TENANTS) {
        const events = traffic.distinct.filter((e) => e.tenant_id === tenant);
        const expected = invoicesRef.invoice(tenant, events);
        const inv = invoices.get(tenant)!;
        expect({ tenant, currency: inv.currency, usage: inv.usage_minor + inv.request_fees_minor, subtotal: inv.subtotal_minor, credits: inv.credits_applied_minor, total: inv.total_minor }).toEqual({
          tenant, currency: expected.currency, usage: expected.usage_minor, subtotal: expected.subtotal_minor, credits: expected.credits_applied_minor, total: expected.total_minor,
        });
        expect(inv.usage_minor).toBeGreaterThan(0n);
        // The documents were written where InvoiceReady says.
        const json = JSON.parse(readFileSync(`${config.invoices.dir}/${period}/${inv.invoice_id}.json`, 'utf8')) as { totals: { total_minor: string }; invoice_id: string };
        expect(json.totals.total_minor).toBe(inv.total_minor.toString());
      }
      const ready = (await readTopic(rig.kafka, config.topics.invoices)).map((m) => invoiceReadyCodec().decode(m.value!));
      expect(ready.map((r) => r.invoice_id).sort()).toEqual([...invoices.values()].map((i) => i.invoice_id).sort());
      expect(ready.every((r) => r.exports.json?.endsWith(`${r.invoice_id}.json`) && r.exports.csv !== undefined && r.exports.html !== undefined)).toBe(true);

      // Running the same period again (the operator's `invoice run`): no second invoice, no change, no second announcement.
      const before = snapshot(await table.list({ period }));
      await fleet.scheduler.runPeriod(period);
      await waitFor(async () => (await fleet!.scheduler.queue.getJob(`close-${period}`))?.finishedOn, (done) => done !== undefined, { what: 'the re-run close job', timeoutMs: 60_000 });
      await queueIdle(fleet.scheduler.queue);
      expect(snapshot(await table.list({ period }))).toBe(before);
      expect(await table.rowCounts(period)).toEqual({ rows: TENANTS.length, distinct: TENANTS.length });
      expect((await readTopic(rig.kafka, config.topics.invoices)).length).toBe(TENANTS.length);

      // A late event of the invoiced month (after its close): billed on next month's invoice as an adjustment naming the first.
      const lateTenant = 'list-a';
      const template = traffic.distinct.find((e) => e.tenant_id === lateTenant && e.input_tokens > 0)!;
      const late: UsageEvent = { ...template, event_id: uniqueName('late-event'), occurred_at: periodBounds(period).endMs - HOUR };
      await p.record([late]);
      await p.caughtUp();
      const next = nextPeriod(period);
      now = periodBounds(next).endMs + ALLOWED_LATENESS_MS + 60_000;
      await fleet.scheduler.runPeriod(next);
      // Invoiced next month: the late tenant, and the tenant with a minimum commitment (acme-corp in the billing terms), without usage.
      const nextInvoices = await waitFor(() => table.list({ period: next }), (rows) => rows.length === 2, { what: 'the next month invoices of the late tenant and the committed one', timeoutMs: 60_000, intervalMs: 500 });
      await queueIdle(fleet.scheduler.queue);
      expect(nextInvoices.map((r) => r.tenant_id).sort()).toEqual(['acme-corp', lateTenant]);
      const committed = (await table.latest(['acme-corp'], next)).get('acme-corp')!;
      const expectedCommitted = invoicesRef.invoice('acme-corp', [], [], invoices.get('acme-corp')!.credits_applied_minor);
      expect({ subtotal: committed.subtotal_minor, top_up: committed.minimum_commitment_top_up_minor, total: committed.total_minor }).toEqual({ subtotal: 0n, top_up: 50_000n, total: expectedCommitted.total_minor });
      const adjusted = (await table.latest([lateTenant], next)).get(lateTenant)!;
      const original = invoices.get(lateTenant)!.invoice_id;
      const adjustmentLines = adjusted.lines.filter((l) => l.kind === 'adjustment');
      expect(adjustmentLines.length).toBeGreaterThan(0);
      expect(adjustmentLines.every((l) => l.original_invoice_id === original && l.original_period === period)).toBe(true);
      const expectedNext = invoicesRef.invoice(lateTenant, [], [late], invoices.get(lateTenant)!.credits_applied_minor);
      expect({ adjustments: adjusted.adjustments_minor, total: adjusted.total_minor }).toEqual({ adjustments: expectedNext.adjustments_minor, total: expectedNext.total_minor });
      // The month's own invoice did not change.
      expect(snapshot(await table.list({ period }))).toBe(before);
    } finally {
      await fleet?.close();
      await rig.close();
    }
  });

  it('a mismatch between raw events and rollups blocks the final invoice with a readable report and an alert', async () => {
    const p = await pipeline(brokers, 2);
    const { rig } = p;
    let fleet: InvoiceFleet | undefined;
    try {
      const reference = new ReferencePrices(rig.pricingDir);
      const traffic = monthOfTraffic(reference, TENANTS, 3_000, 43);
      await p.record(traffic.arrivals);
      await p.caughtUp();
      const period = periodOf(monthEnd() - 1);
      // A raw event the rollups never saw (a lost rollup): written to the raw table behind the pipeline's back.
      const victim = 'initech';
      const template = traffic.distinct.find((e) => e.tenant_id === victim && e.input_tokens > 0)!;
      await new UsageEventsTable(rig.handle).insert([{ ...template, event_id: uniqueName('lost'), source_partition: 0, source_offset: '0' }], uniqueName('forced-mismatch'));

      const opened = await openFleet(p, () => periodBounds(period).endMs + ALLOWED_LATENESS_MS + 60_000);
      fleet = opened.fleet;
      const table = new InvoicesTable(rig.handle);
      fleet.scheduler.startWorker();
      await fleet.scheduler.runPeriod(period);
      const jobId = invoiceJobId(victim, period);
      const failed = await waitFor(async () => fleet!.scheduler.queue.getJob(jobId), (job) => job?.failedReason !== undefined && job.finishedOn !== undefined, { what: `${jobId} to fail`, timeoutMs: 120_000, intervalMs: 500 });
      await queueIdle(fleet.scheduler.queue);

      // The report names the tenant, the period, the model and bucket, and the difference.
      expect(failed!.failedReason).toContain(`Reconciliation failed for tenant ${victim}, period ${period}`);
      expect(failed!.failedReason).toMatch(new RegExp(`${template.provider}/${template.model}\\s+input\\s+\\d+\\s+\\d+\\s+\\d+\\s+rollup-raw -${template.input_tokens}`));
      expect(failed!.attemptsMade).toBe(1); // not retried: a mismatch does not heal by itself
      // No invoice for the victim; the others are final.
      const stored = await table.list({ period });
      expect(stored.map((s) => s.tenant_id).sort()).toEqual(TENANTS.filter((t) => t !== victim).sort());
      const alerts = (await readTopic(rig.kafka, opened.config.topics.invoiceAlerts)).map((m) => invoiceAlertCodec().decode(m.value!));
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ kind: 'reconciliation_mismatch', tenant_id: victim, period });
      expect(alerts[0]!.mismatch_count).toBe(failed!.failedReason.split('\n').filter((line) => line.includes('rollup-raw')).length);
      expect(alerts[0]!.report).toBe(failed!.failedReason);
    } finally {
      await fleet?.close();
      await rig.close();
    }
  });

  it('a month is not closed before its end plus the allowed lateness: the close job waits in the delayed set', async () => {
    const p = await pipeline(brokers, 1);
    let fleet: InvoiceFleet | undefined;
    try {
      const period = periodOf(monthEnd() - 1);
      const readyAt = periodBounds(period).endMs + ALLOWED_LATENESS_MS;
      const opened = await openFleet(p, () => readyAt - 30 * 60_000); // 01:30 on the 1st: lateness is 2 h
      fleet = opened.fleet;
      fleet.scheduler.startWorker();
      const job = await fleet.scheduler.runPeriod(period);
      const state = await waitFor(() => job.getState(), (s) => s === 'delayed', { what: 'the close job to wait', timeoutMs: 30_000, intervalMs: 100 });
      expect(state).toBe('delayed');
      const delayed = (await fleet.scheduler.queue.getJob(job.id!))!;
      // Due when the period may close: 30 min from the job's clock (BullMQ counts in real time).
      expect(delayed.delay).toBeGreaterThan(29 * 60_000);
      expect(delayed.delay).toBeLessThanOrEqual(30 * 60_000 + 5_000);
      expect(delayed.attemptsMade).toBe(0);
      expect(await new InvoicesTable(p.rig.handle).getClose(period)).toBeUndefined();
    } finally {
      await fleet?.close();
      await p.rig.close();
    }
  });
});
