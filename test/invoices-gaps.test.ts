import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject, describe, expect, it, vi } from 'vitest';
import { invoiceId, nextPeriod, periodBounds, periodOf, previousPeriod, type Invoice, type UsageEvent } from '@meterline/domain';
import { InvoicesTable, UsageEventsTable, migrate, openClickHouse, type ClickHouseHandle } from '@meterline/clickhouse';
import { invoiceCommand } from '@meterline/cli';
import { invoiceReadyCodec } from '@meterline/contract';
import { invoiceSchedulerFromConfig, invoiceJobId, type InvoiceFleet, type TenantInvoiceOutcome } from '@meterline/invoice-scheduler';
import type { InvoiceRunState } from '@meterline/invoice-queue';
import { ensureTopics, invoiceTopics } from '@meterline/kafka';
import { uniqueIdentifier, uniqueName, waitFor } from '@meterline/testing';
import { testLog } from './support/raw-path';
import { ReferenceInvoices, correctRateCard, invoiceTestConfig, monthEnd, monthOfTraffic, pipeline, queueIdle, readTopic, writeBillingTerms, type Pipeline, type ReferenceInvoice } from './support/invoices';
import { ReferencePrices } from './support/reference-prices';
import { ALLOWED_LATENESS_MS, HOUR } from './support/stream';

// Invoices without gaps, end to end on Kafka, Redis, ClickHouse and BullMQ: usage from before the
// first close, months closed in order (a later one waits, the earlier one is never skipped), no
// invoice without usage unless a minimum commitment, and regenerated revisions with credit notes.
vi.setConfig({ testTimeout: 600_000 });

const brokers = inject('kafkaBrokers');
const M1 = periodOf(monthEnd() - 1); // last month
const M2 = previousPeriod(M1);
const M3 = previousPeriod(M2);
const M0 = nextPeriod(M1); // this month
const NEXT = nextPeriod(M0);
// The embedded ClickHouse of this file at a known path (one per process): the CLI, run in this
// process, opens it from its configuration; each test has a database of its own.
const chdbPath = mkdtempSync(join(tmpdir(), 'meterline-invoice-gaps-chdb-'));
let engine: ClickHouseHandle | undefined;
async function database(prefix: string): Promise<ClickHouseHandle> {
  engine ??= openClickHouse({ database: 'default', chdbPath });
  const handle = { ...engine, database: uniqueIdentifier(prefix) };
  await migrate(handle, testLog);
  return handle;
}

/** One minute after `period` may close (its end plus the allowed lateness). */
const closable = (period: string): number => periodBounds(period).endMs + ALLOWED_LATENESS_MS + 60_000;

async function openFleet(p: Pipeline, clock: () => number, extra: Record<string, string> = {}): Promise<{ fleet: InvoiceFleet; config: ReturnType<typeof invoiceTestConfig>['config']; env: Record<string, string> }> {
  const { rig } = p;
  const { config, env } = invoiceTestConfig({
    brokers, redisUrl: rig.redisServer.url, usageEvents: rig.topics.usageEvents, usageRollups: rig.topics.usageRollups, rawSinkGroup: p.rawSinkGroup, rollupGroup: rig.groupId,
    rollupSinkGroup: p.rollupSinkGroup, pricingDir: rig.pricingDir, database: rig.handle.database, extra,
  });
  await ensureTopics(rig.kafka, invoiceTopics(config.topics), testLog);
  const fleet = await invoiceSchedulerFromConfig({ kafka: rig.kafka, redisUrl: rig.redisServer.url, clickhouse: rig.handle, prices: rig.prices, config, log: testLog, clock });
  return { fleet, config, env };
}

/** Queues a close of `period` (some tenants, or all) and waits until it and its invoice jobs are done. */
async function runToEnd(fleet: InvoiceFleet, period: string, tenants?: readonly string[]): Promise<InvoiceRunState> {
  const job = await fleet.scheduler.runPeriod(period, tenants);
  return waitFor(async () => (await fleet.scheduler.invoices.runState(job.id!))!, (s) => s.status === 'completed' || s.status === 'failed', { what: `the run ${job.id!}`, timeoutMs: 180_000, intervalMs: 250 });
}

const of = (events: readonly UsageEvent[], tenant: string): UsageEvent[] => events.filter((e) => e.tenant_id === tenant);
const logsOf = async (fleet: InvoiceFleet, jobId: string): Promise<string> => (await fleet.scheduler.queue.getJobLogs(jobId)).logs.join('\n');
/** What an invoice and its reference agree on: usage (and request fees), late usage, subtotal, credit, total. */
const amounts = (inv: Invoice) => ({ usage: inv.usage_minor + inv.request_fees_minor, adjustments: inv.adjustments_minor, subtotal: inv.subtotal_minor, credits: inv.credits_applied_minor, total: inv.total_minor });
const expectedAmounts = (ref: ReferenceInvoice) => ({ usage: ref.usage_minor, adjustments: ref.adjustments_minor, subtotal: ref.subtotal_minor, credits: ref.credits_applied_minor, total: ref.total_minor });

describe('invoices without gaps', () => {
  it('usage from before the first close is billed on the first invoices as lines of its month; earlier months never close; no invoice without usage unless a minimum commitment; regenerate makes r2 with a credit note', async () => {
    const p = await pipeline(brokers, 2, await database('invoice_gaps'));
    const { rig } = p;
    let fleet: InvoiceFleet | undefined;
    try {
      writeBillingTerms(rig.pricingDir, [
        { tenant_id: 'committed', minimum_commitment: '25.00', credits: '5.00' },
        { tenant_id: 'idle', discount_percent: '3' },
        { tenant_id: 'alpha', credits: '2.00' },
      ]);
      const reference = new ReferencePrices(rig.pricingDir);
      const refs = new ReferenceInvoices(reference, rig.pricingDir);
      // M2 is never closed: invoicing begins with M1. alpha and beta used M2, alpha and gamma M1.
      const before = monthOfTraffic(reference, ['alpha', 'beta'], 1_200, 61, periodBounds(M2).endMs);
      const during = monthOfTraffic(reference, ['alpha', 'gamma'], 1_200, 62, periodBounds(M1).endMs);
      expect(before.distinct.every((e) => periodOf(e.occurred_at) === M2) && during.distinct.every((e) => periodOf(e.occurred_at) === M1)).toBe(true);
      await p.record([...before.arrivals, ...during.arrivals]);
      await p.caughtUp();

      const opened = await openFleet(p, () => closable(M1), { METERLINE_CHDB_PATH: chdbPath, METERLINE_INVOICE_CLOCK: new Date(closable(M1)).toISOString() });
      fleet = opened.fleet;
      const table = new InvoicesTable(rig.handle);
      fleet.scheduler.startWorker();

      // The first close ever: M1. Invoiced: tenants with usage (alpha, gamma of M1; beta of M2 only) and the committed one.
      const run = await runToEnd(fleet, M1);
      expect(run).toMatchObject({ status: 'completed', tenants_to_invoice: 4, failures: [] });
      expect(run.invoice_ids).toEqual(['alpha', 'beta', 'committed', 'gamma'].map((t) => invoiceId(t, M1, 1)));
      const stored = await table.latest(['alpha', 'beta', 'gamma', 'committed'], M1);
      for (const tenant of ['alpha', 'beta', 'gamma']) {
        const inv = stored.get(tenant)!;
        const ref = refs.invoice(tenant, of(during.distinct, tenant), of(before.distinct, tenant));
        expect({ tenant, ...amounts(inv) }).toEqual({ tenant, ...expectedAmounts(ref) });
        // The M2 usage: lines of their own, naming their month (no invoice of it exists).
        const early = inv.lines.filter((l) => l.kind === 'adjustment');
        expect(early.length > 0).toBe(of(before.distinct, tenant).length > 0);
        expect(early.every((l) => l.original_period === M2 && l.original_invoice_id === 'none')).toBe(true);
      }
      expect(stored.get('beta')!.usage_minor).toBe(0n);
      expect(stored.get('beta')!.adjustments_minor).toBeGreaterThan(0n);
      // No usage, a minimum commitment: invoiced for the commitment (less its credit).
      const committed = stored.get('committed')!;
      expect({ lines: committed.lines.map((l) => l.kind), ...amounts(committed), top_up: committed.minimum_commitment_top_up_minor }).toEqual({
        lines: ['minimum_commitment', 'credit'], ...expectedAmounts(refs.invoice('committed', [])), top_up: 2_500n,
      });

      // No usage, no commitment: no invoice, even when a run names the tenant.
      const idle = await runToEnd(fleet, M1, ['idle']);
      expect(idle).toMatchObject({ status: 'completed', invoice_ids: [], invoices: { completed: 1, failed: 0 } });
      expect(((await fleet.scheduler.queue.getJob(invoiceJobId('idle', M1)))!.returnvalue as TenantInvoiceOutcome).outcome).toBe('no_usage');
      expect(await table.rowCounts(M1)).toEqual({ rows: 4, distinct: 4 });

      // A month before the first close is never closed: its usage is on the M1 invoices.
      const refused = await runToEnd(fleet, M2);
      expect(refused).toMatchObject({ status: 'failed', attempts: 1 });
      expect(refused.failed_reason).toContain(`${M2} cannot be closed: ${M2} is before ${M1}, the first month ever closed`);
      expect(await table.getClose(M2)).toBeUndefined();
      expect(await table.list({ period: M2 })).toEqual([]);

      // Regeneration from the CLI: the rate card corrected for the model alpha used most in M1.
      const r1 = stored.get('alpha')!;
      const model = mostUsed(of(during.distinct, 'alpha'));
      const corrected = correctRateCard(rig.pricingDir, model, periodBounds(M1).startMs, { input: '7.25', output: '31.50' });
      expect(rig.prices.reload()).toBe(true);
      const recomputed = new ReferenceInvoices(new ReferencePrices(rig.pricingDir), rig.pricingDir).invoice('alpha', of(during.distinct, 'alpha'), of(before.distinct, 'alpha'));
      expect(recomputed.total_minor).not.toBe(r1.total_minor);
      const out = await cli(opened.config, ['regenerate', '--tenant', 'alpha', '--period', M1]);
      expect(out.code).toBe(0);
      const r2id = invoiceId('alpha', M1, 2);
      expect(out.stdout).toContain(`${r2id}: revision 2 of alpha's ${M1} invoice, replaces ${r1.invoice_id} (kept unchanged)`);
      const r2 = (await table.latest(['alpha'], M1)).get('alpha')!;
      expect({ id: r2.invoice_id, supersedes: r2.supersedes_invoice_id, ...amounts(r2) }).toEqual({
        id: r2id, supersedes: r1.invoice_id, ...expectedAmounts(recomputed), total: recomputed.total_minor - r1.total_minor,
      });
      expect(r2.lines.filter((l) => l.kind === 'usage' && l.price_version_id === corrected).length).toBeGreaterThan(0);
      expect(r2.lines.at(-1)).toMatchObject({ kind: 'credit_note', amount_minor: -r1.total_minor, original_invoice_id: r1.invoice_id });
      expect(r1.total_minor + r2.total_minor).toBe(recomputed.total_minor);
      // r1 is kept as it was; both are listed; each has its documents; r2 was announced.
      expect(await table.get({ invoice_id: r1.invoice_id, tenant_id: 'alpha', period: M1, revision: 1 })).toEqual(r1);
      expect((await table.list({ tenantId: 'alpha' })).map((s) => s.invoice_id)).toEqual([r1.invoice_id, r2id]);
      for (const id of [r1.invoice_id, r2id]) for (const ext of ['json', 'csv', 'html']) expect(existsSync(join(opened.config.invoices.dir, M1, `${id}.${ext}`))).toBe(true);
      expect((JSON.parse(readFileSync(join(opened.config.invoices.dir, M1, `${r2id}.json`), 'utf8')) as { totals: { total_minor: string } }).totals.total_minor).toBe(r2.total_minor.toString());
      const ready = (await readTopic(rig.kafka, opened.config.topics.invoices)).map((m) => invoiceReadyCodec().decode(m.value!));
      expect(ready.filter((r) => r.invoice_id === r2id).map((r) => [r.revision, r.total_minor])).toEqual([[2, r2.total_minor.toString()]]);
      // Asked again with the same inputs: no r3.
      const again = await cli(opened.config, ['regenerate', '--tenant', 'alpha', '--period', M1]);
      expect({ code: again.code, stdout: again.stdout.trim() }).toEqual({ code: 0, stdout: `${r2id} stands: recomputed from the raw events with the prices and terms in force, the charges are the same (no revision made)` });
      expect(await table.rowCounts(M1)).toEqual({ rows: 5, distinct: 5 });
      expect((await cli(opened.config, ['regenerate', '--tenant', 'idle', '--period', M1])).code).toBe(1);
    } finally {
      await fleet?.close();
      await rig.close();
    }
  });

  it('months close in order: a later month waits and the earlier one is closed first; a month waits for each tenant\'s invoice of the month before, which is never skipped (a failed one fails the next with its reason); credit is used month after month', async () => {
    const p = await pipeline(brokers, 2, await database('invoice_order'));
    const { rig } = p;
    let fleet: InvoiceFleet | undefined;
    try {
      writeBillingTerms(rig.pricingDir, [
        { tenant_id: 'committed', minimum_commitment: '25.00', credits: '40.00' },
        { tenant_id: 'alpha', credits: '4.00' },
      ]);
      const reference = new ReferencePrices(rig.pricingDir);
      const refs = new ReferenceInvoices(reference, rig.pricingDir);
      const inM2 = monthOfTraffic(reference, ['alpha', 'beta', 'delta'], 1_500, 71, periodBounds(M2).endMs);
      const inM1 = monthOfTraffic(reference, ['alpha', 'beta', 'delta'], 1_500, 72, periodBounds(M1).endMs);
      await p.record([...inM2.arrivals, ...inM1.arrivals]);
      await p.caughtUp();
      // delta's M2 cannot be invoiced: a raw event the rollups never saw (its invoice job fails the reconciliation).
      await new UsageEventsTable(rig.handle).insert([{ ...of(inM2.distinct, 'delta')[0]!, event_id: uniqueName('lost'), source_partition: 0, source_offset: '0' }], uniqueName('forced-mismatch'));

      // A clock that moves forward at every read, so the order of closes and invoices is on record.
      let now = closable(M1);
      let tick = 0;
      const opened = await openFleet(p, () => now + tick++);
      fleet = opened.fleet;
      const table = new InvoicesTable(rig.handle);
      fleet.scheduler.startWorker();

      // The chain starts at M3 (no usage there: only the committed tenant is invoiced).
      expect(await runToEnd(fleet, M3)).toMatchObject({ status: 'completed', invoice_ids: [invoiceId('committed', M3, 1)] });
      // M2 closed by a run naming only the committed tenant: alpha and beta used M2 but are not invoiced by it.
      expect(await runToEnd(fleet, M2, ['committed'])).toMatchObject({ status: 'completed', invoice_ids: [invoiceId('committed', M2, 1)] });
      // A late event of M2 for alpha, after M2's cut: billed on M1, naming alpha's M2 invoice.
      const biggest = of(inM2.distinct, 'alpha').reduce((a, b) => (b.output_tokens > a.output_tokens ? b : a));
      const late: UsageEvent = { ...biggest, event_id: uniqueName('late-m2'), occurred_at: periodBounds(M2).endMs - HOUR };
      await p.record([late]);
      await p.caughtUp();

      // M1: each tenant's invoice waits for its M2 invoice, which the scheduler queues itself;
      // delta's M2 invoice fails, so its M1 invoice fails with that reason rather than skip M2.
      const m1 = await runToEnd(fleet, M1);
      await queueIdle(fleet.scheduler.queue);
      expect(m1).toMatchObject({ status: 'failed', tenants_to_invoice: 4, invoice_ids: ['alpha', 'beta', 'committed'].map((t) => invoiceId(t, M1, 1)) });
      expect(m1.failures).toEqual([{ tenant_id: 'delta', reason: expect.stringContaining(`${M1} waits for the ${M2} invoice of delta, which failed (Reconciliation failed for tenant delta, period ${M2}`) as unknown }]);
      expect(await fleet.scheduler.queue.getJobState(invoiceJobId('delta', M2))).toBe('failed');
      expect([...(await table.latest(['delta'], M2)).keys(), ...(await table.latest(['delta'], M1)).keys()]).toEqual([]);
      for (const tenant of ['alpha', 'beta']) {
        const earlier = (await fleet.scheduler.queue.getJob(invoiceJobId(tenant, M2)))!;
        expect({ tenant, state: await earlier.getState(), outcome: (earlier.returnvalue as TenantInvoiceOutcome).outcome }).toEqual({ tenant, state: 'completed', outcome: 'created' });
        expect(await logsOf(fleet, invoiceJobId(tenant, M1))).toContain(`waiting for the ${M2} invoice of ${tenant}`);
        const [m2Invoice, m1Invoice] = [(await table.latest([tenant], M2)).get(tenant)!, (await table.latest([tenant], M1)).get(tenant)!];
        expect(m2Invoice.issued_at).toBeLessThan(m1Invoice.issued_at);
      }

      // Every invoice equals the reference, credit used in month order.
      const used = new Map<string, bigint>();
      const expectMonth = async (period: string, tenant: string, events: readonly UsageEvent[], lateEvents: readonly UsageEvent[] = []): Promise<Invoice> => {
        const ref = refs.invoice(tenant, events, lateEvents, used.get(tenant) ?? 0n);
        used.set(tenant, (used.get(tenant) ?? 0n) + ref.credits_applied_minor);
        const inv = (await table.latest([tenant], period)).get(tenant)!;
        expect({ period, tenant, ...amounts(inv) }).toEqual({ period, tenant, ...expectedAmounts(ref) });
        return inv;
      };
      await expectMonth(M3, 'committed', []);
      await expectMonth(M2, 'committed', []);
      const alphaM2 = await expectMonth(M2, 'alpha', of(inM2.distinct, 'alpha'));
      await expectMonth(M2, 'beta', of(inM2.distinct, 'beta'));
      await expectMonth(M1, 'committed', []);
      const alphaM1 = await expectMonth(M1, 'alpha', of(inM1.distinct, 'alpha'), [late]);
      await expectMonth(M1, 'beta', of(inM1.distinct, 'beta'));
      expect(alphaM2.credits_applied_minor).toBeGreaterThan(0n);
      expect(alphaM2.credits_applied_minor + alphaM1.credits_applied_minor).toBeLessThanOrEqual(400n); // alpha's credit: $4.00 in all
      const lateLines = alphaM1.lines.filter((l) => l.kind === 'adjustment');
      expect(lateLines.length).toBeGreaterThan(0);
      expect(lateLines.every((l) => l.original_invoice_id === alphaM2.invoice_id && l.original_period === M2)).toBe(true);

      // A close two months ahead waits for the month between, which the scheduler closes first.
      now = closable(NEXT);
      const next = await runToEnd(fleet, NEXT);
      expect(next).toMatchObject({ status: 'completed', invoice_ids: [invoiceId('committed', NEXT, 1)] });
      const between = (await fleet.scheduler.queue.getJob(`close-${M0}`))!;
      expect({ data: between.data as unknown, state: await between.getState() }).toEqual({ data: { period: M0 }, state: 'completed' });
      expect(await logsOf(fleet, `close-${NEXT}`)).toContain(`waiting for the close of ${M0}`);
      expect((await table.getClose(M0))!.closed_at).toBeLessThan((await table.getClose(NEXT))!.closed_at);
      expect((await table.list({ period: M0 })).map((s) => s.tenant_id)).toEqual(['committed']);
      await expectMonth(M0, 'committed', []);
      await expectMonth(NEXT, 'committed', []);
      expect(await table.closedMonths()).toEqual({ first: M3, last: NEXT });
    } finally {
      await fleet?.close();
      await rig.close();
    }
  });
});

/** The (provider, model) with the most events. */
function mostUsed(events: readonly UsageEvent[]): { provider: string; model: string } {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(`${e.provider}\n${e.model}`, (counts.get(`${e.provider}\n${e.model}`) ?? 0) + 1);
  const [key] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
  const [provider, model] = key.split('\n') as [string, string];
  return { provider, model };
}

/** `meterline invoice ...` in this process: its exit code and what it printed on stdout. */
async function cli(config: ReturnType<typeof invoiceTestConfig>['config'], args: string[]): Promise<{ code: number; stdout: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void lines.push(parts.map(String).join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    const code = await invoiceCommand(config, args, testLog, Error);
    return { code, stdout: lines.join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}
