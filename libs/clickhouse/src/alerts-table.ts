import type { InvoiceAlertRecord, PricingAlertRecord, QuotaAlertRecord } from '@meterline/contract';
import { MeterlineError } from '@meterline/platform';
import { quoteIdentifier, type ClickHouseHandle } from './client';
import { insertError } from './insert-error';

export const alertKinds = ['quota', 'pricing', 'invoice'] as const;
export type AlertKind = (typeof alertKinds)[number];

/** An alert as stored: the producer's record, by kind, and when it was published (epoch ms). */
export type StoredAlert =
  | { kind: 'quota'; record: QuotaAlertRecord; emitted_at: number }
  | { kind: 'pricing'; record: PricingAlertRecord; emitted_at: number }
  | { kind: 'invoice'; record: InvoiceAlertRecord; emitted_at: number };

/** Where a record was read (provenance; the row's identity is kind + alert_id). */
export interface AlertSource {
  topic: string;
  partition: number;
  offset: string;
}

/** One row of `alerts` (migration 0006), as inserted. */
export interface AlertRow {
  kind: AlertKind;
  alert_id: string;
  tenant_id: string;
  type: string;
  occurred_at: number;
  emitted_at: number;
  quota_id: string;
  metric: string;
  threshold_percent: number;
  period: string;
  quota_limit: string;
  quota_used: string;
  enforcement: string;
  provider: string;
  model: string;
  reason: string;
  mismatch_count: number;
  record: string;
  source_topic: string;
  source_partition: number;
  source_offset: string;
}

/** An alert the table cannot hold as it is (a record its producer should never have written). */
export class InvalidAlertError extends MeterlineError {
  constructor(message: string) {
    super('INVALID_ALERT', message);
  }
}

const INT128 = /^\d{1,38}$/;
/** DateTime64(3)'s upper bound; before 1970 would break keep_first. */
const LAST_MS = Date.UTC(2299, 11, 31);
const EMPTY = { tenant_id: '', quota_id: '', metric: '', threshold_percent: 0, period: '', quota_limit: '0', quota_used: '0', enforcement: '', provider: '', model: '', reason: '', mismatch_count: 0 };

function integer(text: string, what: string): string {
  if (!INT128.test(text)) throw new InvalidAlertError(`${what} "${text.slice(0, 60)}" is not a non-negative decimal integer of at most 38 digits`);
  return text;
}

function bounded(value: number, max: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new InvalidAlertError(`${what} ${value} is outside 0..${max}`);
  return value;
}

/** The columns an alert promotes, by kind; everything else stays in `record`. */
function promoted(alert: StoredAlert): Omit<AlertRow, 'kind' | 'alert_id' | 'emitted_at' | 'record' | 'source_topic' | 'source_partition' | 'source_offset'> {
  switch (alert.kind) {
    case 'quota': {
      const r = alert.record;
      return { ...EMPTY, tenant_id: r.tenant_id, type: 'threshold_crossed', occurred_at: r.crossed_at, quota_id: r.quota_id, metric: r.metric, threshold_percent: bounded(r.threshold_percent, 65_535, 'threshold_percent'), period: r.period_label, quota_limit: integer(r.limit, 'limit'), quota_used: integer(r.used, 'used'), enforcement: r.enforcement };
    }
    case 'pricing': {
      const r = alert.record;
      // Fleet-wide: a model without a price concerns every tenant that uses it.
      return { ...EMPTY, type: r.kind, occurred_at: r.first_seen_at, provider: r.provider, model: r.model, reason: r.reason };
    }
    case 'invoice': {
      const r = alert.record;
      return { ...EMPTY, tenant_id: r.tenant_id, type: r.kind, occurred_at: r.detected_at, period: r.period, mismatch_count: bounded(r.mismatch_count, 4_294_967_295, 'mismatch_count') };
    }
  }
}

/** The row of an alert read from `source`. Throws InvalidAlertError for a record the table cannot hold. */
export function alertRow(alert: StoredAlert, source: AlertSource): AlertRow {
  if (alert.record.alert_id === '') throw new InvalidAlertError('alert_id is empty');
  const columns = promoted(alert);
  bounded(columns.occurred_at, LAST_MS, 'occurred at (epoch ms)');
  return { kind: alert.kind, alert_id: alert.record.alert_id, emitted_at: bounded(alert.emitted_at, LAST_MS, 'emitted at (epoch ms)'), ...columns, record: JSON.stringify(alert.record), source_topic: source.topic, source_partition: source.partition, source_offset: source.offset };
}

/** The position after an alert in the list order (newest first). */
export interface AlertKey {
  occurred_at: number;
  kind: AlertKind;
  alert_id: string;
}

export interface AlertListQuery {
  /** One tenant's alerts; undefined: every tenant's and the fleet-wide ones (pricing). */
  tenantId?: string | undefined;
  kind?: AlertKind | undefined;
  /** Half-open [fromMs, toMs) on occurred_at. */
  fromMs?: number | undefined;
  toMs?: number | undefined;
  limit: number;
  after?: AlertKey | undefined;
}

export interface AlertPage {
  alerts: (StoredAlert & { occurred_at: number })[];
  /** The key to pass as `after` for the next page; absent on the last page. */
  next?: AlertKey;
}

interface ListedRow {
  kind: AlertKind;
  alert_id: string;
  record: string;
  occurred_ms: string;
  emitted_ms: string;
}

/** The alert history (migration 0006): rows from the sink, pages for the API. */
export class AlertsTable {
  readonly #db: string;
  constructor(private readonly handle: ClickHouseHandle) {
    this.#db = quoteIdentifier(handle.database);
  }

  /** Idempotent: the same token is one insert, the same (kind, alert_id) one row. */
  async insert(rows: readonly AlertRow[], dedupToken: string): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.handle.client.insert({ table: `${this.#db}.alerts`, values: rows, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: dedupToken } });
    } catch (error) {
      throw insertError(`insert of ${rows.length} alerts`, error);
    }
  }

  /** Newest first (occurred_at, then kind and alert_id), one row per alert (FINAL: alerts are few). */
  async list(query: AlertListQuery): Promise<AlertPage> {
    const { where, params } = listFilter(query);
    const result = await this.handle.client.query({
      query: `SELECT kind, alert_id, record, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, toUnixTimestamp64Milli(emitted_at) AS emitted_ms
              FROM ${this.#db}.alerts FINAL ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
              ORDER BY occurred_at DESC, toInt8(kind) DESC, alert_id DESC
              LIMIT {limit:UInt32}`,
      query_params: { ...params, limit: query.limit + 1 },
      format: 'JSONEachRow',
    });
    const rows = await result.json<ListedRow>();
    const alerts = rows.slice(0, query.limit).map(storedAlert);
    const last = alerts.at(-1);
    return rows.length > query.limit && last !== undefined ? { alerts, next: { occurred_at: last.occurred_at, kind: last.kind, alert_id: last.record.alert_id } } : { alerts };
  }
}

const kindCode = (kind: AlertKind): number => alertKinds.indexOf(kind) + 1;

function listFilter(query: AlertListQuery): { where: string[]; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (query.tenantId !== undefined) {
    where.push('tenant_id = {tenant:String}');
    params.tenant = query.tenantId;
  }
  if (query.kind !== undefined) {
    where.push('toInt8(kind) = {kind:Int8}');
    params.kind = kindCode(query.kind);
  }
  if (query.fromMs !== undefined) {
    where.push("occurred_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')");
    params.from = query.fromMs;
  }
  if (query.toMs !== undefined) {
    where.push("occurred_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')");
    params.to = query.toMs;
  }
  if (query.after !== undefined) {
    where.push("(occurred_at, toInt8(kind), alert_id) < (fromUnixTimestamp64Milli({after_at:Int64}, 'UTC'), {after_kind:Int8}, {after_id:String})");
    Object.assign(params, { after_at: query.after.occurred_at, after_kind: kindCode(query.after.kind), after_id: query.after.alert_id });
  }
  return { where, params };
}

function storedAlert(row: ListedRow): StoredAlert & { occurred_at: number } {
  // `record` is what alertRow wrote from a record of this kind.
  return { kind: row.kind, record: JSON.parse(row.record) as never, emitted_at: Number(row.emitted_ms), occurred_at: Number(row.occurred_ms) };
}
