import { decodeInvoice, encodeInvoice, periodBounds, tokenLineNames, unitBucket, type BillableEvent, type ClosedMonths, type Invoice, type InvoiceBucket, type UsageTotal } from '@meterline/domain';
import { InfrastructureError } from '@meterline/platform';
import { quoteIdentifier, type ClickHouseHandle } from './client';

/** The cut of a closed billing month: end offset per usage-events partition (index = partition). */
export interface PeriodClose {
  period: string;
  topic: string;
  cut: number[];
  closed_at: number;
}

/** A stored invoice revision, as listed (the whole invoice via {@link InvoicesTable.get}). */
export interface StoredInvoiceSummary {
  invoice_id: string;
  tenant_id: string;
  period: string;
  revision: number;
  status: string;
  currency: string;
  total_minor: bigint;
  line_count: number;
  issued_at: number;
}

/** A stored revision as the API lists it: the summary and the amounts between usage and total. */
export interface StoredInvoiceRow extends StoredInvoiceSummary {
  subtotal_minor: bigint;
  credits_applied_minor: bigint;
}

/** Where a page of invoices ends (the last row's key in the list's order). */
export interface InvoiceCursor {
  period: string;
  tenant_id: string;
  revision: number;
}

export interface InvoiceListQuery {
  tenantId?: string | undefined;
  period?: string | undefined;
  status?: string | undefined;
  limit: number;
  /** The rows after this key. */
  after?: InvoiceCursor | undefined;
}

/** Earlier final invoices of a tenant: what late usage names and how much credit is used. */
export interface TenantInvoiceHistory {
  invoicedPeriods: Map<string, string>;
  creditsUsed: bigint;
}

const offsetOf = (text: unknown, what: string): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new InfrastructureError('CLICKHOUSE_BAD_VALUE', `${what}: ${String(text)} is not an offset`);
  return n;
};

/**
 * The invoice tables (migration 0005) and the reads the invoice job makes, each for a batch of
 * tenants at once: one query serves many invoice jobs (a query costs milliseconds whatever its
 * size, and a month has thousands of tenants).
 */
export class InvoicesTable {
  readonly #db: string;
  constructor(private readonly handle: ClickHouseHandle) {
    this.#db = quoteIdentifier(handle.database);
  }

  async #rows<T>(query: string, params: Record<string, unknown>): Promise<T[]> {
    const result = await this.handle.client.query({ query, query_params: params, format: 'JSONEachRow' });
    return result.json<T>();
  }

  /** The close of `period`: the first one recorded (a re-run reuses it). */
  async getClose(period: string): Promise<PeriodClose | undefined> {
    const rows = await this.#rows<{ period: string; topic: string; cut_offsets: string[]; closed_ms: string }>(
      `SELECT period, topic, cut_offsets, toUnixTimestamp64Milli(closed_at) AS closed_ms FROM ${this.#db}.invoice_period_closes FINAL WHERE period = {period:String}`,
      { period },
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return { period: row.period, topic: row.topic, cut: row.cut_offsets.map((o, i) => offsetOf(o, `cut of ${period}, partition ${i}`)), closed_at: Number(row.closed_ms) };
  }

  /** The latest close before `period` (the previous cut: late usage is what arrived after it). */
  async closeBefore(period: string): Promise<PeriodClose | undefined> {
    const rows = await this.#rows<{ period: string }>(
      `SELECT period FROM ${this.#db}.invoice_period_closes FINAL WHERE period < {period:String} ORDER BY period DESC LIMIT 1`,
      { period },
    );
    return rows[0] === undefined ? undefined : this.getClose(rows[0].period);
  }

  /** The first and last months closed (undefined: none yet). Closes are in order, so every month between is closed. */
  async closedMonths(): Promise<ClosedMonths | undefined> {
    const rows = await this.#rows<{ first: string; last: string; n: string }>(
      `SELECT min(period) AS first, max(period) AS last, count() AS n FROM ${this.#db}.invoice_period_closes FINAL`,
      {},
    );
    const row = rows[0];
    return row === undefined || Number(row.n) === 0 ? undefined : { first: row.first, last: row.last };
  }

  /** Records the close; when two race, both read back the same first one. */
  async recordClose(close: PeriodClose): Promise<PeriodClose> {
    await this.handle.client.insert({
      table: `${this.#db}.invoice_period_closes`,
      values: [{ period: close.period, topic: close.topic, cut_offsets: close.cut.map(String), closed_at: close.closed_at }],
      format: 'JSONEachRow',
    });
    const stored = await this.getClose(close.period);
    if (stored === undefined) throw new InfrastructureError('CLICKHOUSE_READ_FAILED', `the close of ${close.period} was written but cannot be read back`);
    return stored;
  }

  /**
   * Tenants with usage to bill for a closed period: usage of the month below the cut, or late
   * usage of earlier months (between the previous cut and this one; below this cut when the
   * period is the first closed). `only`: among these tenants.
   */
  async tenantsToInvoice(period: string, cut: readonly number[], previous: PeriodClose | undefined, only?: readonly string[]): Promise<string[]> {
    const { startMs, endMs } = periodBounds(period);
    const lateFrom = startMs - LATE_LOOKBACK_MS;
    const rows = await this.#rows<{ tenant_id: string }>(
      `SELECT DISTINCT tenant_id FROM ${this.#db}.usage_events FINAL
       WHERE ${only === undefined ? '' : 'tenant_id IN {only:Array(String)} AND '}
             ((occurred_at >= fromUnixTimestamp64Milli({start:Int64}) AND occurred_at < fromUnixTimestamp64Milli({end:Int64})
              AND source_offset < arrayElement({cut:Array(UInt64)}, source_partition + 1))
          ${lateUsageClause(previous)})
       ORDER BY tenant_id`,
      { start: startMs, end: endMs, lateFrom, cut: [...cut], prev: [...(previous?.cut ?? [])], only: [...(only ?? [])] },
    );
    return rows.map((r) => r.tenant_id);
  }

  /**
   * The tenants' stored events (deduplicated): of the period (all of them, cut or not), and late
   * ones of earlier months between the previous cut and this one (below this cut when the period
   * is the first closed: usage from before invoicing began).
   */
  async billableEvents(tenants: readonly string[], period: string, cut: readonly number[], previous: PeriodClose | undefined): Promise<Map<string, { events: BillableEvent[]; lateEvents: BillableEvent[] }>> {
    const { startMs, endMs } = periodBounds(period);
    const out = new Map(tenants.map((t) => [t, { events: [] as BillableEvent[], lateEvents: [] as BillableEvent[] }]));
    const result = await this.handle.client.query({
      // The tier: the v2 column, else (rows of v1 events) the metadata key v1 events set.
      query: `SELECT tenant_id, provider, model, toUnixTimestamp64Milli(occurred_at) AS ms, ifNull(service_tier, metadata['service_tier']) AS tier,
                     input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, source_partition, source_offset,
                     cache_write_1h_tokens, audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens, units
              FROM ${this.#db}.usage_events FINAL
              WHERE tenant_id IN {tenants:Array(String)}
                AND ((occurred_at >= fromUnixTimestamp64Milli({start:Int64}) AND occurred_at < fromUnixTimestamp64Milli({end:Int64})) ${lateUsageClause(previous)})`,
      query_params: { tenants, start: startMs, end: endMs, lateFrom: startMs - LATE_LOOKBACK_MS, cut: [...cut], prev: [...(previous?.cut ?? [])] },
      format: 'JSONCompactEachRow',
    });
    type Row = [string, string, string, string, string, string, string, string, string, string, number, string, string, string, string, string, string, Record<string, string>];
    const rows = await result.json<Row>();
    for (const [tenant, provider, model, ms, tier, input, cacheRead, cacheWrite, output, reasoning, partition, offset, cacheWrite1h, audioIn, audioOut, imageIn, imageOut, units] of rows) {
      const event: BillableEvent = {
        provider,
        model,
        occurred_at: Number(ms),
        tier: tier === '' ? null : tier,
        input_tokens: Number(input),
        cache_read_tokens: Number(cacheRead),
        cache_write_tokens: Number(cacheWrite),
        output_tokens: Number(output),
        reasoning_tokens: Number(reasoning),
        cache_write_1h_tokens: Number(cacheWrite1h),
        audio_input_tokens: Number(audioIn),
        audio_output_tokens: Number(audioOut),
        image_input_tokens: Number(imageIn),
        image_output_tokens: Number(imageOut),
        units: Object.fromEntries(Object.entries(units).map(([name, count]) => [name, Number(count)])),
        source_partition: Number(partition),
        source_offset: offsetOf(offset, 'source_offset'),
      };
      const slot = out.get(tenant);
      if (slot === undefined) continue;
      (event.occurred_at >= startMs ? slot.events : slot.lateEvents).push(event);
    }
    return out;
  }

  /** The hourly rollups' totals per (provider, model, bucket) for each tenant over the period. */
  async rollupTotals(tenants: readonly string[], period: string): Promise<Map<string, UsageTotal[]>> {
    const { startMs, endMs } = periodBounds(period);
    const rows = await this.#rows<Record<string, string>>(
      `SELECT tenant_id, provider, model, toString(sum(requests)) AS request, toString(sum(input_tokens)) AS input, toString(sum(cache_read_tokens)) AS cache_read,
              toString(sum(cache_write_tokens)) AS cache_write, toString(sum(cache_write_1h_tokens)) AS cache_write_1h, toString(sum(output_tokens)) AS output,
              toString(sum(reasoning_tokens)) AS reasoning, toString(sum(audio_input_tokens)) AS audio_input, toString(sum(audio_output_tokens)) AS audio_output,
              toString(sum(image_input_tokens)) AS image_input, toString(sum(image_output_tokens)) AS image_output, toJSONString(sumMap(units)) AS units
       FROM ${this.#db}.usage_hourly
       WHERE tenant_id IN {tenants:Array(String)} AND hour >= toDateTime({start:Int64}) AND hour < toDateTime({end:Int64})
       GROUP BY tenant_id, provider, model`,
      { tenants, start: startMs / 1000, end: endMs / 1000 },
    );
    const out = new Map<string, UsageTotal[]>(tenants.map((t) => [t, []]));
    for (const row of rows) {
      const list = out.get(row.tenant_id ?? '');
      if (list === undefined) continue;
      for (const bucket of ['request', ...tokenLineNames] as const satisfies readonly InvoiceBucket[]) {
        const quantity = BigInt(row[bucket] ?? '0');
        if (quantity !== 0n) list.push({ provider: row.provider ?? '', model: row.model ?? '', bucket, quantity });
      }
      for (const [name, count] of Object.entries(JSON.parse(row.units ?? '{}') as Record<string, number | string>)) {
        if (BigInt(count) !== 0n) list.push({ provider: row.provider ?? '', model: row.model ?? '', bucket: unitBucket(name), quantity: BigInt(count) });
      }
    }
    return out;
  }

  /** Each tenant's final invoices before `period`: which months were invoiced, and the credit they used. */
  async history(tenants: readonly string[], period: string): Promise<Map<string, TenantInvoiceHistory>> {
    const rows = await this.#rows<{ tenant_id: string; period: string; invoice_id: string; credits: string }>(
      `SELECT tenant_id, period, argMax(invoice_id, revision) AS invoice_id, toString(argMax(credits_applied_minor, revision)) AS credits
       FROM ${this.#db}.invoices FINAL
       WHERE tenant_id IN {tenants:Array(String)} AND period < {period:String} AND status = 'final'
       GROUP BY tenant_id, period`,
      { tenants, period },
    );
    const out = new Map<string, TenantInvoiceHistory>(tenants.map((t) => [t, { invoicedPeriods: new Map(), creditsUsed: 0n }]));
    for (const row of rows) {
      const h = out.get(row.tenant_id);
      if (h === undefined) continue;
      h.invoicedPeriods.set(row.period, row.invoice_id);
      h.creditsUsed += BigInt(row.credits);
    }
    return out;
  }

  /**
   * Credit used by each tenant's final invoices of every other period (the latest revision of
   * each): what a revision of `period` may not use again, as later months may have used credit too.
   */
  async creditsUsedOutside(tenants: readonly string[], period: string): Promise<Map<string, bigint>> {
    const rows = await this.#rows<{ tenant_id: string; credits: string }>(
      `SELECT tenant_id, toString(sum(credits)) AS credits FROM (
         SELECT tenant_id, period, argMax(credits_applied_minor, revision) AS credits
         FROM ${this.#db}.invoices FINAL
         WHERE tenant_id IN {tenants:Array(String)} AND period != {period:String} AND status = 'final'
         GROUP BY tenant_id, period)
       GROUP BY tenant_id`,
      { tenants, period },
    );
    const out = new Map<string, bigint>(tenants.map((t) => [t, 0n]));
    for (const row of rows) out.set(row.tenant_id, BigInt(row.credits));
    return out;
  }

  /** The latest revision of each tenant's invoice for `period`, whole (undefined: none yet). */
  async latest(tenants: readonly string[], period: string): Promise<Map<string, Invoice>> {
    const rows = await this.#rows<{ tenant_id: string; invoice: string; invoice_id: string }>(
      `SELECT tenant_id, argMax(invoice, revision) AS invoice, argMax(invoice_id, revision) AS invoice_id
       FROM ${this.#db}.invoices FINAL
       WHERE tenant_id IN {tenants:Array(String)} AND period = {period:String}
       GROUP BY tenant_id`,
      { tenants, period },
    );
    return new Map(rows.map((r) => [r.tenant_id, decodeInvoice(r.invoice, `invoice ${r.invoice_id}`)]));
  }

  /** Stores invoices; an id already stored keeps its first version (see the migration). */
  async insert(invoices: readonly Invoice[]): Promise<void> {
    if (invoices.length === 0) return;
    try {
      await this.handle.client.insert({
        table: `${this.#db}.invoices`,
        values: invoices.map((inv) => ({
          invoice_id: inv.invoice_id,
          tenant_id: inv.tenant_id,
          period: inv.period,
          revision: inv.revision,
          status: inv.status,
          currency: inv.currency,
          total_minor: inv.total_minor.toString(),
          subtotal_minor: inv.subtotal_minor.toString(),
          credits_applied_minor: inv.credits_applied_minor.toString(),
          line_count: inv.lines.length,
          issued_at: inv.issued_at,
          lines: JSON.stringify(inv.lines, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
          invoice: encodeInvoice(inv),
        })),
        format: 'JSONEachRow',
      });
    } catch (error) {
      throw new InfrastructureError('CLICKHOUSE_INSERT_FAILED', `insert of ${invoices.length} invoices failed: ${error instanceof Error ? error.message : String(error)}`, error);
    }
  }

  /** Invoices of a period (latest revision per tenant), or of one tenant over every period. */
  async list(filter: { period?: string; tenantId?: string }): Promise<StoredInvoiceSummary[]> {
    const where: string[] = [];
    if (filter.period !== undefined) where.push('period = {period:String}');
    if (filter.tenantId !== undefined) where.push('tenant_id = {tenant:String}');
    const rows = await this.#rows<Record<string, string>>(
      `SELECT invoice_id, tenant_id, period, revision, status, currency, toString(total_minor) AS total_minor, line_count, toUnixTimestamp64Milli(issued_at) AS issued_ms
       FROM ${this.#db}.invoices FINAL ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY period, tenant_id, revision`,
      { period: filter.period ?? '', tenant: filter.tenantId ?? '' },
    );
    return rows.map((r) => ({
      invoice_id: r.invoice_id ?? '',
      tenant_id: r.tenant_id ?? '',
      period: r.period ?? '',
      revision: Number(r.revision),
      status: r.status ?? '',
      currency: r.currency ?? '',
      total_minor: BigInt(r.total_minor ?? '0'),
      line_count: Number(r.line_count),
      issued_at: Number(r.issued_ms),
    }));
  }

  /**
   * Stored invoice revisions, newest period first (then tenant, then the latest revision first),
   * a page at a time: keyset pagination on (period, tenant_id, revision), so a page costs the
   * same however deep it is and an invoice stored meanwhile cannot shift the pages.
   */
  async page(query: InvoiceListQuery): Promise<{ rows: StoredInvoiceRow[]; next: InvoiceCursor | undefined }> {
    const where: string[] = [];
    if (query.period !== undefined) where.push('period = {period:String}');
    if (query.tenantId !== undefined) where.push('tenant_id = {tenant:String}');
    if (query.status !== undefined) where.push('status = {status:String}');
    if (query.after !== undefined) {
      where.push('(period < {afterPeriod:String} OR (period = {afterPeriod:String} AND (tenant_id > {afterTenant:String} OR (tenant_id = {afterTenant:String} AND revision < {afterRevision:UInt32}))))');
    }
    const rows = await this.#rows<Record<string, string>>(
      `SELECT invoice_id, tenant_id, period, revision, status, currency, toString(total_minor) AS total_minor, toString(subtotal_minor) AS subtotal_minor,
              toString(credits_applied_minor) AS credits_applied_minor, line_count, toUnixTimestamp64Milli(issued_at) AS issued_ms
       FROM ${this.#db}.invoices FINAL ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY period DESC, tenant_id ASC, revision DESC
       LIMIT {limit:UInt32}`,
      {
        period: query.period ?? '', tenant: query.tenantId ?? '', status: query.status ?? '', limit: query.limit + 1,
        afterPeriod: query.after?.period ?? '', afterTenant: query.after?.tenant_id ?? '', afterRevision: query.after?.revision ?? 0,
      },
    );
    const page = rows.slice(0, query.limit).map((r) => ({
      invoice_id: r.invoice_id ?? '',
      tenant_id: r.tenant_id ?? '',
      period: r.period ?? '',
      revision: Number(r.revision),
      status: r.status ?? '',
      currency: r.currency ?? '',
      total_minor: BigInt(r.total_minor ?? '0'),
      subtotal_minor: BigInt(r.subtotal_minor ?? '0'),
      credits_applied_minor: BigInt(r.credits_applied_minor ?? '0'),
      line_count: Number(r.line_count),
      issued_at: Number(r.issued_ms),
    }));
    const last = page.at(-1);
    return { rows: page, next: rows.length > query.limit && last !== undefined ? { period: last.period, tenant_id: last.tenant_id, revision: last.revision } : undefined };
  }

  /** One stored invoice revision, whole, by its id (tenant, period and revision read from the id). */
  async get(id: { invoice_id: string; tenant_id: string; period: string; revision: number }): Promise<Invoice | undefined> {
    const rows = await this.#rows<{ invoice: string }>(
      `SELECT invoice FROM ${this.#db}.invoices FINAL
       WHERE tenant_id = {tenant:String} AND period = {period:String} AND revision = {revision:UInt32} AND invoice_id = {id:String}`,
      { tenant: id.tenant_id, period: id.period, revision: id.revision, id: id.invoice_id },
    );
    return rows[0] === undefined ? undefined : decodeInvoice(rows[0].invoice, `invoice ${id.invoice_id}`);
  }

  /** Rows written for a period before dedup, and distinct invoice ids: equal when no invoice was written twice. */
  async rowCounts(period: string): Promise<{ rows: number; distinct: number }> {
    const rows = await this.#rows<{ rows: string; distinct: string }>(
      `SELECT count() AS rows, uniqExact(invoice_id) AS distinct FROM ${this.#db}.invoices WHERE period = {period:String}`,
      { period },
    );
    return { rows: Number(rows[0]?.rows ?? 0), distinct: Number(rows[0]?.distinct ?? 0) };
  }
}

/**
 * How far back, from the period's start, late usage is looked for. Anything older is past the
 * producer's default event-time bound (90 days) by far, and past any invoice a customer accepts.
 */
const LATE_LOOKBACK_MS = 400 * 86_400_000;

/**
 * Events of earlier months that arrived between the previous cut and this one. The first month
 * ever closed has no previous cut: it bills every earlier event below its cut (usage from before
 * invoicing began, which no month before it will bill: those months are never closed).
 */
function lateUsageClause(previous: PeriodClose | undefined): string {
  const after = previous === undefined ? '' : 'AND source_offset >= arrayElement({prev:Array(UInt64)}, source_partition + 1)';
  return `OR (occurred_at >= fromUnixTimestamp64Milli({lateFrom:Int64}) AND occurred_at < fromUnixTimestamp64Milli({start:Int64})
              ${after}
              AND source_offset < arrayElement({cut:Array(UInt64)}, source_partition + 1))`;
}
