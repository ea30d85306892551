import type { Message } from 'kafkajs';
import type { Redis } from 'ioredis';
import { execChecked, redisKeys, streamLayout } from '@meterline/redis';
import { alertId } from '@meterline/domain';
import type { AvroCodec, QuotaAlertRecord, UsageRollupRecord } from '@meterline/contract';
import { joinPico, type AlertMeta } from './plan-batch';

/** Outbox entries as apply-usage-batch-2.lua writes them (all numbers as strings). */
type RollupFields = Record<string, string | number>;
type OutboxEntry =
  | { t: 'r'; h: string; d: string; p: string; v: string; f: RollupFields }
  | { t: 'c'; h: string; d: string; p: string; o: string; f: RollupFields }
  | { t: 'a'; m: string; th: string; u: string; at: string; o: string; p: string };

export interface DecodedOutbox {
  rollups: Message[];
  alerts: { alert: QuotaAlertRecord; message: Message }[];
}

/** Rollup hash fields, as the script names them. */
const R = streamLayout.rollup;

const num = (fields: RollupFields, name: string): number => Number(fields[name] ?? 0);

/** The fields named `<prefix><name>` of a rollup hash, read in one pass over it. */
interface KeyedFields {
  errorsByClass: Record<string, number>;
  requestsByStatusClass: Record<string, number>;
  costVersions: string[];
  chargeVersions: string[];
  units: Record<string, number>;
}
function keyedFields(fields: RollupFields): KeyedFields {
  const out: KeyedFields = { errorsByClass: {}, requestsByStatusClass: {}, costVersions: [], chargeVersions: [], units: {} };
  for (const name in fields) {
    if (name.startsWith(R.unitPrefix)) {
      const n = Number(fields[name]);
      if (n !== 0) out.units[name.slice(R.unitPrefix.length)] = n;
    } else if (name.startsWith(R.errorClassPrefix)) out.errorsByClass[name.slice(R.errorClassPrefix.length)] = Number(fields[name]);
    else if (name.startsWith(R.statusClassPrefix)) out.requestsByStatusClass[name.slice(R.statusClassPrefix.length)] = Number(fields[name]);
    else if (name.startsWith(R.costVersionPrefix)) out.costVersions.push(name.slice(R.costVersionPrefix.length));
    else if (name.startsWith(R.chargeVersionPrefix)) out.chargeVersions.push(name.slice(R.chargeVersionPrefix.length));
  }
  out.costVersions.sort();
  out.chargeVersions.sort();
  return out;
}

/** The dimensions JSON of a group, parsed once per distinct value. */
const dimsCache = new Map<string, [string, string, string, string]>();
function parseDims(json: string): [string, string, string, string] {
  let dims = dimsCache.get(json);
  if (dims === undefined) {
    if (dimsCache.size >= 100_000) dimsCache.clear();
    dims = JSON.parse(json) as [string, string, string, string];
    dimsCache.set(json, dims);
  }
  return dims;
}

/** Turns outbox entries into Kafka messages for usage-rollups and quota-alerts. */
export function decodeOutbox(tenantId: string, entries: readonly string[], rollupCodec: AvroCodec<UsageRollupRecord>, alertCodec: AvroCodec<QuotaAlertRecord>): DecodedOutbox {
  const result: DecodedOutbox = { rollups: [], alerts: [] };
  for (const raw of entries) {
    const entry = JSON.parse(raw) as OutboxEntry;
    if (entry.t === 'a') {
      const meta = JSON.parse(entry.m) as AlertMeta;
      const threshold = Number(entry.th);
      const alert: QuotaAlertRecord = {
        alert_id: alertId(meta.tenant_id, meta.quota_id, meta.period_label, threshold),
        tenant_id: meta.tenant_id,
        quota_id: meta.quota_id,
        metric: meta.metric,
        period_label: meta.period_label,
        period_start: meta.period_start,
        period_end: meta.period_end,
        threshold_percent: threshold,
        limit: meta.limit,
        used: entry.u,
        enforcement: meta.enforcement,
        crossed_at: Number(entry.at),
      };
      result.alerts.push({ alert, message: { key: meta.tenant_id, value: alertCodec.encode(alert), headers: { 'meterline-alert-id': alert.alert_id } } });
      continue;
    }
    const [project_id, provider, model, operation] = parseDims(entry.d);
    const f = entry.f;
    const keyed = keyedFields(f);
    const record: UsageRollupRecord = {
      kind: entry.t === 'r' ? 'cumulative' : 'correction',
      tenant_id: tenantId,
      project_id,
      provider,
      model,
      operation,
      hour_start: Number(entry.h),
      source_partition: Number(entry.p),
      correction_offset: entry.t === 'c' ? Number(entry.o) : -1,
      version: entry.t === 'r' ? Number(entry.v) : Number(entry.o),
      requests: num(f, R.requests),
      input_tokens: num(f, R.input),
      cache_read_tokens: num(f, R.cacheRead),
      cache_write_tokens: num(f, R.cacheWrite),
      cache_write_1h_tokens: num(f, R.cacheWrite1h),
      output_tokens: num(f, R.output),
      reasoning_tokens: num(f, R.reasoning),
      audio_input_tokens: num(f, R.audioInput),
      audio_output_tokens: num(f, R.audioOutput),
      image_input_tokens: num(f, R.imageInput),
      image_output_tokens: num(f, R.imageOutput),
      units: keyed.units,
      errors: num(f, R.errors),
      errors_by_class: keyed.errorsByClass,
      requests_by_status_class: keyed.requestsByStatusClass,
      latency_ms_sum: num(f, R.latencyMsSum),
      latency_ms_max: num(f, R.latencyMsMax),
      latency_count: num(f, R.latencyCount),
      ttft_ms_sum: num(f, R.ttftMsSum),
      ttft_ms_max: num(f, R.ttftMsMax),
      ttft_count: num(f, R.ttftCount),
      // Microseconds since usage-event v2; whole ms of a hash written before it stay in the ms fields.
      latency_us_sum: num(f, R.latencyUsSum),
      latency_us_max: num(f, R.latencyUsMax),
      ttft_us_sum: num(f, R.ttftUsSum),
      ttft_us_max: num(f, R.ttftUsMax),
      late_events: num(f, R.late),
      cost_pico: joinPico(f[R.costHi], f[R.costLo]).toString(),
      charge_pico: joinPico(f[R.chargeHi], f[R.chargeLo]).toString(),
      cache_savings_pico: joinPico(f[R.savingsHi], f[R.savingsLo]).toString(),
      unpriced_cost_events: num(f, R.unpricedCost),
      unpriced_charge_events: num(f, R.unpricedCharge),
      cost_price_versions: keyed.costVersions,
      charge_price_versions: keyed.chargeVersions,
    };
    const key = `${tenantId}|${record.source_partition}|${record.hour_start}|${entry.d}${entry.t === 'c' ? `|${entry.o}` : ''}`;
    result.rollups.push({ key, value: rollupCodec.encode(record) });
  }
  return result;
}

/**
 * Marks alerts "sending" before they are published, so a crash after Kafka's ack is resolved
 * by looking in the topic. Throws when any mark failed: publishing unmarked alerts would
 * republish them after a crash.
 */
export async function markAlertsSending(redis: Redis, alerts: readonly QuotaAlertRecord[], now: number): Promise<void> {
  if (alerts.length === 0) return;
  const mark = redis.pipeline();
  for (const alert of alerts) mark.hset(redisKeys.alertsSending(alert.tenant_id), alert.alert_id, now);
  await execChecked(mark, 'marking quota alerts sending');
}

/** Drops the published head of each outbox and the "sending" marks of its alerts; throws when any command failed. */
export async function trimOutboxes(redis: Redis, outboxes: readonly { tenantId: string; partition: number; published: number }[], alerts: readonly QuotaAlertRecord[]): Promise<void> {
  const trim = redis.pipeline();
  for (const { tenantId, partition, published } of outboxes) trim.ltrim(redisKeys.outbox(tenantId, partition), published, -1);
  for (const alert of alerts) trim.hdel(redisKeys.alertsSending(alert.tenant_id), alert.alert_id);
  await execChecked(trim, 'trimming published outbox entries');
}
