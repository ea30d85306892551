import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Job, Queue, type JobType } from 'bullmq';
import { InvoicesTable, migrate, openClickHouse, type ClickHouseHandle, type StoredInvoiceSummary } from '@meterline/clickhouse';
import { currencyMinorUnit, formatMinor, invoiceDocuments, isInvoicePeriod, periodBounds, periodClosableAt, toInvoiceJson, type Invoice } from '@meterline/domain';
import { invoiceJobId, invoiceSchedulerFromConfig, type CloseResult, type InvoiceFleet, type InvoiceJobData, type TenantInvoiceOutcome } from '@meterline/invoice-scheduler';
import { createKafka, ensureTopics, invoiceTopics } from '@meterline/kafka';
import { errorMessage, sleep, type FleetConfig, type Logger } from '@meterline/platform';
import { PriceBookStore } from '@meterline/pricing';

/**
 * `meterline invoice run | show | export`. Bad arguments throw `usageError` (main.ts's UsageError,
 * passed in so this module does not import the entry point).
 *
 *   run:    queue the period close on the fleet's invoice queue, work it in this process (a running
 *           invoice scheduler works it too) and follow its tenant jobs until none is left
 *   show:   stored invoices (latest revision), and the invoice jobs of the period that failed
 *   export: the stored invoices' documents (JSON, CSV or HTML) to a directory or stdout
 *   regenerate: queue a revision of one tenant's invoice on the fleet's invoice queue, work it
 *           in this process, and show the revision (or that the charges did not change)
 */
export async function invoiceCommand(config: FleetConfig, args: string[], log: Logger, usageError: new (message: string) => Error): Promise<number> {
  const [sub, ...rest] = args;
  const fail = (message: string): never => {
    throw new usageError(message);
  };
  const options = {
    run: { period: { type: 'string' }, tenant: { type: 'string' } },
    show: { period: { type: 'string' }, tenant: { type: 'string' }, json: { type: 'boolean' } },
    export: { period: { type: 'string' }, tenant: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } },
    regenerate: { period: { type: 'string' }, tenant: { type: 'string' } },
  } as const;
  if (sub !== 'run' && sub !== 'show' && sub !== 'export' && sub !== 'regenerate') return fail(`unknown invoice command "${sub ?? ''}" (run, show, export, regenerate)`);
  let values: { period?: string | undefined; tenant?: string | undefined; json?: boolean | undefined; format?: string | undefined; out?: string | undefined };
  try {
    // Each subcommand's own options: any other is an error (parseArgs is strict).
    values = parseArgs({ args: rest, options: options[sub] }).values as typeof values;
  } catch (error) {
    return fail(`invoice ${sub}: ${errorMessage(error)} (options: ${Object.keys(options[sub]).map((k) => `--${k}`).join(', ')})`);
  }
  const { period, tenant } = values;
  if (period !== undefined && !isInvoicePeriod(period)) fail(`--period must be a month YYYY-MM (e.g. 2026-11), got "${period}"`);
  if (tenant === '') fail('--tenant must not be empty');

  switch (sub) {
    case 'run':
      if (period === undefined) return fail('invoice run needs --period YYYY-MM (the month to invoice)');
      return runInvoices(config, period, tenant, log, fail);
    case 'show':
      if (period === undefined && tenant === undefined) fail('invoice show needs --period YYYY-MM, --tenant T, or both');
      return showInvoices(config, period, tenant, values.json === true, log);
    case 'export': {
      if (period === undefined) return fail('invoice export needs --period YYYY-MM');
      const format = values.format;
      if (format !== 'json' && format !== 'csv' && format !== 'html') return fail(`invoice export needs --format json, csv or html${format === undefined ? '' : `, got "${format}"`}`);
      if (values.out === '') fail('--out must name a directory');
      return exportInvoices(config, period, tenant, format, values.out, log);
    }
    case 'regenerate':
      if (period === undefined || tenant === undefined) return fail('invoice regenerate needs --tenant T and --period YYYY-MM (the invoice to regenerate)');
      return regenerateInvoice(config, tenant, period, log);
  }
}

// ---------------------------------------------------------------------------------------------
// invoice run

/** BullMQ states of a tenant job not finished yet (a failed attempt with retries left is delayed). */
const pendingStates: JobType[] = ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'];

interface TenantJobCounts {
  pending: number;
  active: number;
  completed: number;
  failed: number;
}

async function runInvoices(config: FleetConfig, period: string, tenant: string | undefined, baseLog: Logger, fail: (message: string) => never): Promise<number> {
  // The clock the invoice jobs read: real time, or METERLINE_INVOICE_CLOCK when pinned.
  const pinned = config.invoices.pinnedClockMs;
  const clock = pinned === undefined ? Date.now : () => pinned;
  const { endMs } = periodBounds(period);
  const readyAt = periodClosableAt(period, config.rollups.allowedLatenessMs);
  if (readyAt > clock()) {
    fail(
      `${period} cannot be invoiced yet: the month ends ${new Date(endMs).toISOString()} and late events are accepted for ${humanDuration(config.rollups.allowedLatenessMs)} ` +
        `after that (METERLINE_ALLOWED_LATENESS), so it can be closed from ${new Date(readyAt).toISOString()} (in ${humanDuration(readyAt - clock())}${pinned === undefined ? '' : ', by the pinned METERLINE_INVOICE_CLOCK'})`,
    );
  }
  // The summary reports every failure with its reason (a reconciliation report in full); the
  // scheduler's own log (the same reports, Kafka client noise) stays quiet unless LOG_LEVEL asks.
  const log = process.env.LOG_LEVEL === undefined ? baseLog.child({}, { level: 'fatal' }) : baseLog;
  const clickhouse = openClickHouse(config.clickhouse);
  let fleet: InvoiceFleet | undefined;
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  try {
    await migrate(clickhouse, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
    const kafka = createKafka(config.kafka, log);
    await ensureTopics(kafka, invoiceTopics(config.topics), log);
    const prices = new PriceBookStore(config.pricing.dir, log);
    fleet = await invoiceSchedulerFromConfig({ kafka, redisUrl: config.redis.url, clickhouse, prices, config, log, clock });
    const { scheduler } = fleet;
    const queue = scheduler.queue;
    let redisError = '';
    queue.on('error', (error: Error) => (redisError = error.message));
    await withTimeout(queue.waitUntilReady(), 10_000, () => `Redis at ${config.redis.url} did not answer within 10 s (REDIS_URL)${redisError === '' ? '' : `: ${redisError}`}`);

    const prefix = `invoice-${period}-`;
    const only = tenant === undefined ? undefined : invoiceJobId(tenant, period);
    const mine = (id: string): boolean => (only === undefined ? id.startsWith(prefix) : id === only);
    const started = Date.now();
    // A re-run after fixing what made jobs fail: those jobs go back to the queue with fresh attempts
    // (the close would not queue them again: their ids exist).
    const retried = await retryFailed(queue, (await queue.getRanges(['failed'], 0, -1)).filter(mine));
    scheduler.startWorker();
    const queued = await scheduler.runPeriod(period, tenant === undefined ? undefined : [tenant]);
    const closeId = queued.id ?? '';
    const closeBefore = await Job.fromId(queue, closeId);
    if ((await closeBefore?.getState()) === 'failed') await retryFailed(queue, [closeId]);
    if (retried > 0) console.error(`retrying ${retried} invoice job${retried === 1 ? '' : 's'} of ${period} that failed before`);

    const progress = new ProgressLine(process.stderr);
    let expected: number | undefined;
    for (;;) {
      if (interrupted) {
        progress.end();
        console.error(`interrupted: the jobs already started finish; the others stay queued for a running invoice scheduler or the next meterline invoice run --period ${period}`);
        return 130;
      }
      const close = await Job.fromId(queue, closeId);
      const closeState = close === undefined ? 'missing' : await close.getState();
      if (closeState === 'failed') {
        progress.end();
        console.log(`the close of ${period} failed after ${close?.attemptsMade ?? 0} attempt(s): ${close?.failedReason || 'no reason recorded'}`);
        console.log(`no invoice job was queued; fix the cause and run meterline invoice run --period ${period} again (the close is retried)`);
        return 4;
      }
      if (closeState === 'missing') throw new Error(`the close job ${closeId} disappeared from queue ${config.invoices.queue}`);
      // Pending first, finished second: a job only moves from pending to finished, so "nothing
      // pending" seen before the finished count means every job counted was finished.
      const counts = await tenantJobCounts(queue, mine);
      if (closeState === 'completed' && close !== undefined) {
        expected = (close.returnvalue as CloseResult | null)?.tenants ?? 0;
        if (counts.pending === 0) {
          progress.end();
          return await summarize(queue, period, mine, expected, counts, started, fleet.documents.dir);
        }
      }
      if (expected !== undefined) progress.update('invoices', bar(period, counts, expected));
      else progress.update(closeState, `closing ${period}: ${closeState === 'active' ? 'waiting until the pipeline has processed the month (committed offsets past the cut)' : await delayedReason(queue, closeId, closeState)}`);
      await sleep(progress.tty ? 250 : 1_000);
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    // Bounded: with Redis or Kafka gone, closing connections could wait for ever.
    if (fleet !== undefined) await withTimeout(fleet.close(), 10_000, 'closing').catch(() => undefined);
    await clickhouse.close();
  }
}

/** What a close job waits for: its last log line (an earlier month to close first), or its state. */
async function delayedReason(queue: Queue, id: string, state: string): Promise<string> {
  if (state !== 'delayed') return `close job ${state}`;
  const { logs } = await queue.getJobLogs(id, 0, 0, false);
  const last = logs[0]?.replace(/^\S+ /, '');
  return last === undefined ? 'close job delayed (the month may not close yet, or a retry)' : last;
}

async function retryFailed(queue: Queue, ids: readonly string[]): Promise<number> {
  const jobs = await jobsById(queue, ids);
  for (let i = 0; i < jobs.length; i += 500) await Promise.all(jobs.slice(i, i + 500).map((job) => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })));
  return jobs.length;
}

/** The jobs with these ids that still exist, 500 reads in flight at a time. */
async function jobsById(queue: Queue, ids: readonly string[]): Promise<Job[]> {
  const out: Job[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    for (const job of await Promise.all(ids.slice(i, i + 500).map((id) => Job.fromId(queue, id)))) if (job !== undefined) out.push(job);
  }
  return out;
}

async function tenantJobCounts(queue: Queue, mine: (id: string) => boolean): Promise<TenantJobCounts> {
  const count = async (types: JobType[]): Promise<number> => (await queue.getRanges(types, 0, -1)).filter(mine).length;
  const pending = await count(pendingStates);
  const active = await count(['active']);
  const completed = await count(['completed']);
  const failed = await count(['failed']);
  return { pending, active, completed, failed };
}

function bar(period: string, counts: TenantJobCounts, expected: number): string {
  // The states are read one after another: a job finishing in between can be counted twice.
  const total = expected;
  const done = Math.min(total, counts.completed + counts.failed);
  const width = 30;
  const filled = total === 0 ? width : Math.min(width, Math.floor((done / total) * width));
  const extra = [counts.failed > 0 ? `${counts.failed} failed` : '', counts.active > 0 ? `${counts.active} running` : ''].filter((s) => s !== '').join(', ');
  return `${period} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} invoices${extra === '' ? '' : ` (${extra})`}`;
}

/** A bar rewritten in place on a terminal; elsewhere (a log file, CI) a line every few seconds and at each new phase. */
class ProgressLine {
  readonly tty: boolean;
  #last = '';
  #phase = '';
  #lastPrinted = 0;
  constructor(private readonly stream: NodeJS.WriteStream) {
    this.tty = stream.isTTY;
  }

  update(phase: string, text: string): void {
    if (this.tty) {
      if (text !== this.#last) this.stream.write(`\r\x1b[K${text}`);
    } else if (phase !== this.#phase || Date.now() - this.#lastPrinted >= 5_000) {
      this.stream.write(`${text}\n`);
      this.#lastPrinted = Date.now();
    }
    this.#last = text;
    this.#phase = phase;
  }

  end(): void {
    if (this.tty && this.#last !== '') this.stream.write('\r\x1b[K');
    this.#last = '';
  }
}

async function summarize(queue: Queue, period: string, mine: (id: string) => boolean, expected: number, counts: TenantJobCounts, started: number, dir: string): Promise<number> {
  const seconds = (Date.now() - started) / 1_000;
  // Existing: found stored by this run, or invoiced by an earlier run (its job finished before this one began).
  const outcomes = { created: 0, existing: 0, no_usage: 0 };
  for (const job of await jobsById(queue, (await queue.getRanges(['completed'], 0, -1)).filter(mine))) {
    const outcome = (job.returnvalue as TenantInvoiceOutcome | null)?.outcome;
    if (outcome === undefined) continue;
    outcomes[(job.finishedOn ?? 0) < started && outcome !== 'no_usage' ? 'existing' : outcome]++;
  }
  const failed: { tenant: string; id: string; attempts: number; reason: string }[] = [];
  for (const job of await jobsById(queue, (await queue.getRanges(['failed'], 0, -1)).filter(mine))) {
    failed.push({ tenant: (job.data as InvoiceJobData).tenant, id: job.id ?? '', attempts: job.attemptsMade, reason: job.failedReason || 'no reason recorded' });
  }
  failed.sort((a, b) => a.tenant.localeCompare(b.tenant));
  const missing = Math.max(0, expected - counts.completed - counts.failed);
  console.log(
    `${period}: ${expected} tenant${expected === 1 ? '' : 's'} to invoice; ${outcomes.created} invoice${outcomes.created === 1 ? '' : 's'} created, ${outcomes.existing} already existed, ${failed.length} failed (${seconds.toFixed(1)} s)`,
  );
  if (outcomes.no_usage > 0) console.log(`${outcomes.no_usage} tenant${outcomes.no_usage === 1 ? '' : 's'} named had no usage to bill and no minimum commitment: no invoice`);
  if (missing > 0) console.log(`${missing} invoice job${missing === 1 ? ' is' : 's are'} no longer in the queue (finished jobs are removed after 90 days); meterline invoice show --period ${period} lists what is stored`);
  if (outcomes.created + outcomes.existing > 0) console.log(`documents: ${join(dir, period)}`);
  for (const f of failed) {
    console.log(`\nFAILED ${f.tenant} (job ${f.id}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}):`);
    console.log(f.reason.trimEnd());
  }
  if (failed.length > 0) console.log(`\nno invoice was written for these; fix the cause and run meterline invoice run --period ${period} again (failed jobs are retried)`);
  return failed.length === 0 ? 0 : 4;
}

// ---------------------------------------------------------------------------------------------
// invoice regenerate

async function regenerateInvoice(config: FleetConfig, tenant: string, period: string, baseLog: Logger): Promise<number> {
  const pinned = config.invoices.pinnedClockMs;
  const clock = pinned === undefined ? Date.now : () => pinned;
  const log = process.env.LOG_LEVEL === undefined ? baseLog.child({}, { level: 'fatal' }) : baseLog;
  const clickhouse = openClickHouse(config.clickhouse);
  let fleet: InvoiceFleet | undefined;
  try {
    await migrate(clickhouse, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
    const table = new InvoicesTable(clickhouse);
    const before = (await table.latest([tenant], period)).get(tenant);
    if (before === undefined) {
      console.error(`no invoice of tenant "${tenant}" for ${period} to regenerate (meterline invoice run --period ${period} --tenant ${tenant} creates it)`);
      return 1;
    }
    const kafka = createKafka(config.kafka, log);
    await ensureTopics(kafka, invoiceTopics(config.topics), log);
    fleet = await invoiceSchedulerFromConfig({ kafka, redisUrl: config.redis.url, clickhouse, prices: new PriceBookStore(config.pricing.dir, log), config, log, clock });
    const { scheduler } = fleet;
    await withTimeout(scheduler.queue.waitUntilReady(), 10_000, `Redis at ${config.redis.url} did not answer within 10 s (REDIS_URL)`);
    scheduler.startWorker();
    const job = await scheduler.invoices.revise(tenant, period);
    const id = job.id ?? '';
    console.error(`regenerating ${before.invoice_id} from the raw events of ${period} with the prices in force (job ${id})`);
    let state = await scheduler.invoices.revisionState(id);
    while (state !== undefined && state.status !== 'completed' && state.status !== 'failed') {
      await sleep(250);
      state = await scheduler.invoices.revisionState(id);
    }
    if (state === undefined) throw new Error(`the revision job ${id} disappeared from queue ${config.invoices.queue}`);
    if (state.status === 'failed') {
      console.log(`the regeneration of ${before.invoice_id} failed: ${state.failed_reason ?? 'no reason recorded'}`);
      return 4;
    }
    if (state.outcome === 'unchanged') {
      console.log(`${state.invoice_id ?? before.invoice_id} stands: recomputed from the raw events with the prices and terms in force, the charges are the same (no revision made)`);
      return 0;
    }
    const invoice = (await table.latest([tenant], period)).get(tenant);
    if (invoice === undefined) throw new Error(`${state.invoice_id ?? ''} was stored but cannot be read back`);
    console.log(`${invoice.invoice_id}: revision ${invoice.revision} of ${tenant}'s ${period} invoice, replaces ${invoice.supersedes_invoice_id ?? ''} (kept unchanged)`);
    printInvoiceLines(invoice);
    console.log(`documents: ${join(fleet.documents.dir, period)}`);
    return 0;
  } finally {
    if (fleet !== undefined) await withTimeout(fleet.close(), 10_000, 'closing').catch(() => undefined);
    await clickhouse.close();
  }
}

// ---------------------------------------------------------------------------------------------
// invoice show

async function showInvoices(config: FleetConfig, period: string | undefined, tenant: string | undefined, json: boolean, log: Logger): Promise<number> {
  const handle = openClickHouse(config.clickhouse);
  let summaries: StoredInvoiceSummary[];
  let invoice: Invoice | undefined;
  try {
    await migrate(handle, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
    const table = new InvoicesTable(handle);
    summaries = await table.list({ ...(period === undefined ? {} : { period }), ...(tenant === undefined ? {} : { tenantId: tenant }) });
    if (period !== undefined && tenant !== undefined) invoice = (await table.latest([tenant], period)).get(tenant);
  } finally {
    await handle.close();
  }
  const blocked = period === undefined ? undefined : await failedInvoiceJobs(config, period, tenant);

  if (json) {
    const out = invoice !== undefined ? JSON.parse(toInvoiceJson(invoice)) as unknown : { invoices: summaries, ...(blocked === undefined ? {} : { failed_jobs: blocked }) };
    console.log(JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
    return 0;
  }
  const what = [tenant === undefined ? '' : `tenant "${tenant}"`, period ?? ''].filter((s) => s !== '').join(', ');
  if (summaries.length === 0) console.log(`no invoices stored for ${what}`);
  else {
    printTable(
      ['invoice', 'tenant', 'period', 'rev', 'status', 'currency', 'total', 'lines', 'issued at'],
      summaries.map((s) => [s.invoice_id, s.tenant_id, s.period, String(s.revision), s.status, s.currency, money(s.total_minor, s.currency), String(s.line_count), new Date(s.issued_at).toISOString()]),
      new Set([3, 6, 7]),
    );
  }
  if (invoice !== undefined) printInvoiceLines(invoice);
  if (blocked === undefined) console.log(`\n(failed invoice jobs not listed: Redis at ${config.redis.url} did not answer)`);
  else if (blocked.length > 0) {
    console.log(`\n${blocked.length} invoice job${blocked.length === 1 ? '' : 's'} of ${period ?? ''} failed (no invoice written); meterline invoice run --period ${period ?? ''} retries them:`);
    for (const b of blocked) console.log(tenant === undefined ? `  ${b.tenant}: ${b.reason.split('\n')[0] ?? ''}` : `${b.reason.trimEnd()}`);
  }
  return 0;
}

function money(amount: bigint, currency: string): string {
  try {
    return formatMinor(amount, currencyMinorUnit(currency));
  } catch {
    return `${amount} (minor units)`;
  }
}

function printInvoiceLines(invoice: Invoice): void {
  const amount = (v: bigint): string => formatMinor(v, invoice.currency_minor_unit);
  console.log(`\n${invoice.invoice_id} (${invoice.status}, ${invoice.currency}${invoice.currency === 'USD' ? '' : ` at ${invoice.exchange_rate} per USD`}):`);
  printTable(
    ['#', 'kind', 'description', 'quantity', 'unit price', 'amount'],
    invoice.lines.map((l) => [
      String(l.line_no),
      l.kind,
      l.original_invoice_id === null || l.kind === 'credit_note' ? l.description : `${l.description} (late usage of ${l.original_period ?? '?'}, invoice ${l.original_invoice_id})`,
      l.quantity === null ? '' : `${l.quantity} ${l.quantity_unit ?? ''}`.trim(),
      l.unit_price === null ? (l.percent === null ? '' : `${l.percent}%`) : `${l.unit_price}${l.unit_price_basis === 'per_1m_tokens' ? ' /1M' : l.unit_price_basis === 'per_request' ? ' /req' : ''}`,
      amount(l.amount_minor),
    ]),
    new Set([0, 3, 4, 5]),
  );
  const totals: [string, bigint][] = [
    ['subtotal', invoice.subtotal_minor],
    ['minimum commitment top-up', invoice.minimum_commitment_top_up_minor],
    ['discounts', -invoice.discounts_minor],
    ['credits applied', -invoice.credits_applied_minor],
    ['credit note', invoice.credit_notes_minor],
    ['total', invoice.total_minor],
  ];
  const width = Math.max(...totals.map(([, v]) => amount(v).length));
  for (const [label, value] of totals) if (value !== 0n || label === 'total' || label === 'subtotal') console.log(`${label.padStart(26)}  ${amount(value).padStart(width)} ${invoice.currency}`);
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): void {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  for (const row of all) console.log(row.map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

/** The period's failed invoice jobs with their reasons; undefined when Redis does not answer. */
async function failedInvoiceJobs(config: FleetConfig, period: string, tenant: string | undefined): Promise<{ tenant: string; job_id: string; reason: string }[] | undefined> {
  const queue = new Queue(config.invoices.queue, { connection: { url: config.redis.url, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null } });
  queue.on('error', () => undefined);
  try {
    return await withTimeout(
      (async () => {
        const only = tenant === undefined ? undefined : invoiceJobId(tenant, period);
        const ids = (await queue.getRanges(['failed'], 0, -1)).filter((id) => (only === undefined ? id.startsWith(`invoice-${period}-`) : id === only));
        const out = (await jobsById(queue, ids)).map((job) => ({ tenant: (job.data as InvoiceJobData).tenant, job_id: job.id ?? '', reason: job.failedReason || 'no reason recorded' }));
        return out.sort((a, b) => a.tenant.localeCompare(b.tenant));
      })(),
      3_000,
      'redis',
    );
  } catch {
    return undefined;
  } finally {
    await withTimeout(queue.close(), 2_000, 'closing').catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// invoice export

async function exportInvoices(config: FleetConfig, period: string, tenant: string | undefined, format: 'json' | 'csv' | 'html', out: string | undefined, log: Logger): Promise<number> {
  const handle = openClickHouse(config.clickhouse);
  let invoices: Invoice[];
  try {
    await migrate(handle, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
    invoices = await storedInvoices(handle, period, tenant);
  } finally {
    await handle.close();
  }
  if (invoices.length === 0) {
    console.error(`no invoice stored for ${tenant === undefined ? '' : `tenant "${tenant}", `}${period} (meterline invoice run --period ${period}${tenant === undefined ? '' : ` --tenant ${tenant}`} creates it)`);
    return 1;
  }
  const { render, extension } = invoiceDocuments[format];
  if (tenant !== undefined && out === undefined) {
    process.stdout.write(render(invoices[0] as Invoice));
    return 0;
  }
  const folder = join(resolve(out ?? config.invoices.dir), period);
  await mkdir(folder, { recursive: true });
  for (const invoice of invoices) await writeFile(join(folder, `${invoice.invoice_id}.${extension}`), render(invoice));
  console.error(`wrote ${invoices.length} ${format.toUpperCase()} invoice${invoices.length === 1 ? '' : 's'} of ${period} to ${folder}`);
  return 0;
}

/** The latest revision of each tenant's invoice for the period (one tenant, or every tenant invoiced). */
async function storedInvoices(handle: ClickHouseHandle, period: string, tenant: string | undefined): Promise<Invoice[]> {
  const table = new InvoicesTable(handle);
  const tenants = tenant !== undefined ? [tenant] : [...new Set((await table.list({ period })).map((s) => s.tenant_id))];
  const out: Invoice[] = [];
  for (let i = 0; i < tenants.length; i += 1_000) {
    const chunk = tenants.slice(i, i + 1_000);
    const found = await table.latest(chunk, period);
    for (const t of chunk) {
      const invoice = found.get(t);
      if (invoice !== undefined) out.push(invoice);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

function humanDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(ms / 3_600_000);
  if (hours < 72) return `${hours} h`;
  return `${Math.round(ms / 86_400_000)} days`;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(typeof what === 'string' ? what : what())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
