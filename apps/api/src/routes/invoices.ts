import type { FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import Negotiator from 'negotiator';
import { z } from 'zod';
import { decimalDigits, signedDigits } from './wire';
import type { InvoiceCursor, InvoicesTable, StoredInvoiceRow } from '@meterline/clickhouse';
import {
  closeDecision,
  currencyMinorUnit,
  encodeInvoice,
  formatMinor,
  invoiceDocumentFormatOf,
  invoiceDocumentFormats,
  invoiceDocuments,
  invoiceLineKinds,
  invoiceStatuses,
  invoiceTotalFields,
  parseInvoiceId,
  periodClosableAt,
  type InvoiceDocumentFormat,
  type ParsedInvoiceId,
} from '@meterline/domain';
import type { InvoiceQueue, InvoiceRevisionState, InvoiceRunState } from '@meterline/invoice-queue';
import { tenantOf } from '../auth';
import { HttpProblem, problemSchema } from '../problem';

/** On-demand runs: the fleet's invoice queue, and when a period may be closed. */
export interface InvoiceRunDeps {
  queue: InvoiceQueue;
  allowedLatenessMs: number;
  /** The invoice jobs' clock (METERLINE_INVOICE_CLOCK when pinned): it decides whether a period may close. */
  clock: () => number;
}

export interface InvoiceRouteDeps {
  invoices: () => InvoicesTable;
  /** Absent: runs answer 503 (an API built without the queue). */
  runs: () => InvoiceRunDeps | undefined;
  clock: () => number;
}

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;
const period = z.string().regex(PERIOD, 'a month YYYY-MM');
const tenantId = z.string().min(1).max(256);
const invoiceIdParam = z.object({ invoice_id: z.string().min(1).max(1_024) });
const decimal = z.string().regex(/^-?\d+(\.\d+)?$/).describe('exact decimal in the currency');
const nullableText = z.string().nullable();

const invoiceSummary = z.object({
  invoice_id: z.string(), tenant_id: z.string(), period: z.string(), revision: z.number().int(), status: z.enum(invoiceStatuses),
  currency: z.string(), currency_minor_unit: z.number().int(),
  subtotal: decimal, subtotal_minor: signedDigits, credits_applied: decimal, credits_applied_minor: signedDigits, total: decimal, total_minor: signedDigits,
  line_count: z.number().int(), issued_at: z.string().describe('ISO 8601 UTC'),
});

/** The stored invoice (the `invoice` column): every field, integers as decimal strings. */
const storedLine = z.object({
  line_no: z.number().int(), kind: z.enum(invoiceLineKinds), description: z.string(), provider: nullableText, model: nullableText, price_version_id: nullableText,
  tier: nullableText, threshold_above_prompt_tokens: z.number().int().nullable(), bucket: nullableText, quantity: decimalDigits.nullable(),
  quantity_unit: z.enum(['tokens', 'requests']).nullable(), unit_price: nullableText, unit_price_usd: nullableText, unit_price_basis: z.enum(['per_1m_tokens', 'per_request']).nullable(),
  amount_pico_usd: signedDigits.nullable(), amount_minor: signedDigits, percent: nullableText, original_invoice_id: nullableText, original_period: nullableText,
});
const storedInvoice = z.object({
  format: z.literal('meterline.invoice/v1'), invoice_id: z.string(), tenant_id: z.string(), period: z.string(), revision: z.number().int(), supersedes_invoice_id: nullableText,
  status: z.enum(invoiceStatuses), issued_at: z.number().int().describe('epoch ms'), currency: z.string(), currency_minor_unit: z.number().int(), exchange_rate: z.string(),
  lines: z.array(storedLine),
  ...Object.fromEntries(invoiceTotalFields.map((field) => [`${field}_minor`, signedDigits])),
});

/** The JSON document (toInvoiceJson), the file the invoice scheduler writes. */
const documentLine = storedLine.extend({ amount: decimal });
const invoiceDocument = z.object({
  format: z.literal('meterline.invoice/v1'), invoice_id: z.string(), tenant_id: z.string(), period: z.string(), revision: z.number().int(), supersedes_invoice_id: nullableText,
  status: z.enum(invoiceStatuses), issued_at: z.string(), issued_at_ms: z.number().int(), currency: z.string(), currency_minor_unit: z.number().int(), exchange_rate: z.string(),
  totals: z.object(Object.fromEntries(invoiceTotalFields.flatMap((field) => [[`${field}_minor`, signedDigits], [field, decimal]]))),
  lines: z.array(documentLine),
});

const runState = z.object({
  run_id: z.string(), period: z.string(), tenants: z.array(z.string()).nullable().describe('null: every tenant with usage'),
  status: z.enum(['queued', 'closing', 'invoicing', 'completed', 'failed']),
  job_state: z.string().describe("the close job's BullMQ state (delayed: waiting until the period may close, or a retry's backoff)"),
  attempts: z.number().int(), failed_reason: nullableText, tenants_to_invoice: z.number().int().nullable(),
  invoices: z.object({ completed: z.number().int(), failed: z.number().int(), pending: z.number().int(), missing: z.number().int() }),
  invoice_ids: z.array(z.string()), failures: z.array(z.object({ tenant_id: z.string(), reason: z.string() })),
  status_url: z.string(),
});

const revisionState = z.object({
  revision_job_id: z.string(), tenant_id: z.string(), period: z.string(),
  status: z.enum(['queued', 'running', 'completed', 'failed']),
  job_state: z.string().describe("the revision job's BullMQ state"),
  attempts: z.number().int(), failed_reason: nullableText,
  outcome: z.enum(['created', 'unchanged']).nullable().describe('created: a new revision; unchanged: the charges recomputed are those of the latest revision, which stands; null until completed'),
  invoice_id: nullableText.describe('the new revision, or the latest one when unchanged'), revision: z.number().int().nullable(), supersedes_invoice_id: nullableText,
  status_url: z.string(),
});

/**
 * Invoices as resources: the stored revisions (list with a keyset cursor, one whole), their
 * documents in the formats the invoice scheduler writes (content negotiation), and on-demand
 * runs of a period on the fleet's invoice queue for admins.
 */
export const invoiceRoutes = ({ invoices, runs, clock }: InvoiceRouteDeps): FastifyPluginCallbackZod => (app, _options, done) => {
  app.get('/v1/invoices', {
    config: { scope: 'invoices:read' },
    schema: {
      tags: ['invoices'],
      summary: 'Stored invoices, newest period first (a tenant-bound key: its own)',
      querystring: z.strictObject({
        tenant: tenantId.optional(), period: period.optional(), status: z.enum(invoiceStatuses).optional(),
        limit: z.coerce.number().int().min(1).max(1_000).default(100), cursor: z.string().max(2_048).optional().describe('next_cursor of the previous page'),
      }),
      response: { 200: z.object({ data: z.array(invoiceSummary), next_cursor: z.string().nullable() }) },
    },
  }, async (request) => {
    const q = request.query;
    const page = await invoices().page({ tenantId: tenantOf(request, q.tenant, clock()), period: q.period, status: q.status, limit: q.limit, after: decodeCursor(q.cursor) });
    return { data: page.rows.map(toSummary), next_cursor: page.next === undefined ? null : encodeCursor(page.next) };
  });

  app.get('/v1/invoices/:invoice_id', {
    config: { scope: 'invoices:read' },
    schema: { tags: ['invoices'], summary: 'One invoice revision, whole (lines included), as stored', params: invoiceIdParam, response: { 200: storedInvoice } },
  }, async (request) => {
    const invoice = await findInvoice(request, invoices(), request.params.invoice_id, clock());
    return JSON.parse(encodeInvoice(invoice)) as z.infer<typeof storedInvoice>;
  });

  app.get('/v1/invoices/:invoice_id/document', {
    config: { scope: 'invoices:read' },
    schema: {
      tags: ['invoices'],
      summary: 'The invoice document as JSON, CSV or printable HTML (Accept, or ?format=), the bytes the invoice scheduler writes',
      params: invoiceIdParam,
      querystring: z.strictObject({ format: z.enum(invoiceDocumentFormats).optional().describe('overrides Accept') }),
      response: {
        200: {
          description: 'The document',
          content: { 'application/json': { schema: invoiceDocument }, 'text/csv': { schema: z.string() }, 'text/html': { schema: z.string() } },
        },
        406: problemSchema,
      },
    },
  }, async (request, reply) => {
    const format = request.query.format ?? negotiate(request);
    const invoice = await findInvoice(request, invoices(), request.params.invoice_id, clock());
    const kind = invoiceDocuments[format];
    void reply.header('content-type', kind.mediaType).header('x-content-type-options', 'nosniff').header('vary', 'Accept');
    // The page has no script and loads nothing; a browser is told so too.
    if (format === 'html') void reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    if (format === 'csv') void reply.header('content-disposition', `attachment; filename="${invoice.invoice_id}.${kind.extension}"`);
    return reply.send(kind.render(invoice));
  });

  app.post('/v1/invoices/runs', {
    config: { scope: 'admin' },
    schema: {
      tags: ['invoices'],
      summary: 'Invoice a closed period now, on the fleet\'s invoice queue (asked twice: the same run, each invoice computed once); months close in order: a later one waits while earlier open ones close, one before the first closed is refused (409)',
      body: z.strictObject({ period, tenants: z.array(tenantId).min(1).max(1_000).optional().describe('only these tenants; absent: every tenant with usage') }),
      response: { 202: runState, 409: problemSchema, 503: problemSchema },
    },
  }, async (request, reply) => {
    const deps = runsOrUnavailable(runs());
    const { period: month, tenants } = request.body;
    const closableAt = periodClosableAt(month, deps.allowedLatenessMs);
    if (deps.clock() < closableAt) {
      throw new HttpProblem(409, 'PERIOD_NOT_CLOSABLE_YET', `${month} cannot be invoiced before ${new Date(closableAt).toISOString()}: the month must be over and late events are still counted in it until then (the allowed lateness)`);
    }
    // Months close in order: a month before the first closed one is never closed (a later one
    // than the next is queued: it waits while the months before it are closed).
    const table = invoices();
    const closed = await table.getClose(month);
    const decision = closeDecision(month, closed === undefined ? await table.closedMonths() : undefined, closed !== undefined);
    if (decision.kind === 'refuse') throw new HttpProblem(409, 'PERIOD_OUT_OF_ORDER', `${month} cannot be closed: ${decision.reason}`);
    const job = await deps.queue.runPeriod(month, tenants);
    const state = await deps.queue.runState(job.id ?? '');
    if (state === undefined) throw new Error(`the run ${job.id ?? '(no id)'} was queued but cannot be read back`);
    const url = statusUrl(state.run_id);
    return reply.code(202).header('location', url).send({ ...state, status_url: url });
  });

  app.post('/v1/invoices/:invoice_id/revisions', {
    config: { scope: 'admin' },
    schema: {
      tags: ['invoices'],
      summary: "Regenerate an invoice's period as a new revision (r2, ...) with a credit note against the latest, from the raw events and the prices and terms in force; none when the charges are the same (asked twice: one revision)",
      params: invoiceIdParam,
      response: { 202: revisionState, 503: problemSchema },
    },
  }, async (request, reply) => {
    const deps = runsOrUnavailable(runs());
    const invoice = await findInvoice(request, invoices(), request.params.invoice_id, clock());
    const job = await deps.queue.revise(invoice.tenant_id, invoice.period);
    const state = await deps.queue.revisionState(job.id ?? '');
    if (state === undefined) throw new Error(`the revision job ${job.id ?? '(no id)'} was queued but cannot be read back`);
    const url = revisionUrl(state.revision_job_id);
    return reply.code(202).header('location', url).send({ ...state, status_url: url });
  });

  app.get('/v1/invoices/revisions/:revision_job_id', {
    config: { scope: 'admin' },
    schema: {
      tags: ['invoices'],
      summary: "A revision request's state: the job's BullMQ state, and the revision made (or the latest one, unchanged) once done",
      params: z.object({ revision_job_id: z.string().min(1).max(2_048) }),
      response: { 200: revisionState, 503: problemSchema },
    },
  }, async (request) => {
    const state: InvoiceRevisionState | undefined = await runsOrUnavailable(runs()).queue.revisionState(request.params.revision_job_id);
    if (state === undefined) throw new HttpProblem(404, 'REVISION_NOT_FOUND', `no invoice revision request "${request.params.revision_job_id}" on the queue (finished requests are kept 90 days)`);
    return { ...state, status_url: revisionUrl(state.revision_job_id) };
  });

  app.get('/v1/invoices/runs/:run_id', {
    config: { scope: 'admin' },
    schema: {
      tags: ['invoices'],
      summary: "An on-demand run's state: the close job's BullMQ state, its tenant jobs, and the invoice ids once done",
      params: z.object({ run_id: z.string().min(1).max(16_384) }),
      response: { 200: runState, 503: problemSchema },
    },
  }, async (request) => {
    const state: InvoiceRunState | undefined = await runsOrUnavailable(runs()).queue.runState(request.params.run_id);
    if (state === undefined) throw new HttpProblem(404, 'RUN_NOT_FOUND', `no invoice run "${request.params.run_id}" on the queue (finished runs are kept 90 days)`);
    return { ...state, status_url: statusUrl(state.run_id) };
  });
  done();
};

function toSummary(row: StoredInvoiceRow): z.infer<typeof invoiceSummary> {
  const decimals = currencyMinorUnit(row.currency);
  const money = (minor: bigint) => ({ decimal: formatMinor(minor, decimals), minor: minor.toString() });
  const [subtotal, credits, total] = [money(row.subtotal_minor), money(row.credits_applied_minor), money(row.total_minor)];
  return {
    invoice_id: row.invoice_id, tenant_id: row.tenant_id, period: row.period, revision: row.revision, status: row.status as (typeof invoiceStatuses)[number],
    currency: row.currency, currency_minor_unit: decimals,
    subtotal: subtotal.decimal, subtotal_minor: subtotal.minor, credits_applied: credits.decimal, credits_applied_minor: credits.minor, total: total.decimal, total_minor: total.minor,
    line_count: row.line_count, issued_at: new Date(row.issued_at).toISOString(),
  };
}

/** The invoice an id names, if the caller may see its tenant; 400 for what is not an invoice id, 404 when none is stored. */
async function findInvoice(request: FastifyRequest, table: InvoicesTable, invoiceId: string, now: number) {
  const parsed: ParsedInvoiceId | undefined = parseInvoiceId(invoiceId);
  if (parsed === undefined) throw new HttpProblem(400, 'INVOICE_ID_INVALID', `"${invoiceId}" is not an invoice id (inv_<tenant>_<YYYY-MM>_r<revision>)`);
  tenantOf(request, parsed.tenant_id, now);
  const invoice = await table.get({ invoice_id: invoiceId, ...parsed });
  if (invoice === undefined) throw new HttpProblem(404, 'INVOICE_NOT_FOUND', `no invoice ${invoiceId} is stored`);
  return invoice;
}

const offered = invoiceDocumentFormats.map((format) => invoiceDocuments[format].mediaType.split(';')[0]!);

/** The format the Accept header prefers (JSON when it names none or anything goes); 406 when it accepts none of them. */
function negotiate(request: FastifyRequest): InvoiceDocumentFormat {
  if (request.headers.accept === undefined) return 'json';
  const chosen = new Negotiator(request).mediaType(offered);
  const format = chosen === undefined ? undefined : invoiceDocumentFormatOf(chosen);
  if (format === undefined) throw new HttpProblem(406, 'NOT_ACCEPTABLE', `an invoice document is ${offered.join(', ')} (or ?format=json|csv|html); Accept: ${request.headers.accept} takes none of them`);
  return format;
}

function runsOrUnavailable(deps: InvoiceRunDeps | undefined): InvoiceRunDeps {
  if (deps === undefined) throw new HttpProblem(503, 'INVOICE_RUNS_UNAVAILABLE', 'this API process has no invoice queue');
  return deps;
}

const statusUrl = (runId: string): string => `/v1/invoices/runs/${encodeURIComponent(runId)}`;
const revisionUrl = (jobId: string): string => `/v1/invoices/revisions/${encodeURIComponent(jobId)}`;

function encodeCursor(cursor: InvoiceCursor): string {
  return Buffer.from(JSON.stringify([cursor.period, cursor.tenant_id, cursor.revision])).toString('base64url');
}

function decodeCursor(cursor: string | undefined): InvoiceCursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === 3 && typeof key[0] === 'string' && PERIOD.test(key[0]) && typeof key[1] === 'string' && Number.isSafeInteger(key[2]) && (key[2] as number) >= 1) {
      return { period: key[0], tenant_id: key[1], revision: key[2] as number };
    }
  } catch {
    // falls through to the refusal
  }
  throw new HttpProblem(400, 'CURSOR_INVALID', 'the cursor is not one this API gave (pass next_cursor of the previous page)');
}
