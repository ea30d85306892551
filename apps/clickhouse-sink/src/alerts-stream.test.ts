import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { AlertsTable } from '@meterline/clickhouse';
import { invoiceAlertCodec, pricingAlertCodec, quotaAlertCodec, type InvoiceAlertRecord, type PricingAlertRecord, type QuotaAlertRecord } from '@meterline/contract';
import { alertsStream } from './sink-stream';

// The alert history's decode: each topic's record becomes one row (its own columns, the record as
// JSON); anything else is a dead letter with a reason, never a failed batch.
const topics = { quotaAlerts: 'qa', pricingAlerts: 'pa', invoiceAlerts: 'ia' };
const stream = alertsStream({} as AlertsTable, topics);
const T = Date.UTC(2026, 4, 14, 9, 30);

const quota: QuotaAlertRecord = { alert_id: 'qa1', tenant_id: 'acme', quota_id: 'usd', metric: 'charge_pico_usd', period_label: '2026-05', period_start: Date.UTC(2026, 4), period_end: Date.UTC(2026, 5), threshold_percent: 80, limit: '100000000000000', used: '80000000000001', enforcement: 'hard', crossed_at: T };
const pricing: PricingAlertRecord = { alert_id: 'pa1', kind: 'unpriced_model', provider: 'openai', model: 'gpt-x', reason: 'unknown_model', message: 'no price', first_tenant_id: 'acme', first_seen_at: T, price_books_id: 'h1' };
const invoice: InvoiceAlertRecord = { alert_id: 'ia1', kind: 'reconciliation_mismatch', tenant_id: 'globex', period: '2026-04', mismatch_count: 3, report: 'table', detected_at: T };

const message = (value: Buffer | null, offset = '7'): KafkaMessage => ({ key: null, value, timestamp: String(T + 5), attributes: 0, offset, headers: {} });

describe('alerts stream: records to rows', () => {
  it.each([
    { name: 'quota alert', topic: 'qa', value: quotaAlertCodec().encode(quota), row: { kind: 'quota', alert_id: 'qa1', tenant_id: 'acme', type: 'threshold_crossed', occurred_at: T, quota_id: 'usd', metric: 'charge_pico_usd', threshold_percent: 80, period: '2026-05', quota_limit: '100000000000000', quota_used: '80000000000001', enforcement: 'hard', record: JSON.stringify(quota) } },
    { name: 'pricing alert: fleet-wide (no tenant)', topic: 'pa', value: pricingAlertCodec().encode(pricing), row: { kind: 'pricing', alert_id: 'pa1', tenant_id: '', type: 'unpriced_model', occurred_at: T, provider: 'openai', model: 'gpt-x', reason: 'unknown_model', quota_limit: '0', record: JSON.stringify(pricing) } },
    { name: 'invoice alert', topic: 'ia', value: invoiceAlertCodec().encode(invoice), row: { kind: 'invoice', alert_id: 'ia1', tenant_id: 'globex', type: 'reconciliation_mismatch', occurred_at: T, period: '2026-04', mismatch_count: 3, record: JSON.stringify(invoice) } },
  ])('$name', ({ topic, value, row }) => {
    const { rows, deadLetters } = stream.decode(topic, 2, [message(value)]);
    expect(deadLetters).toEqual([]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ ...row, emitted_at: T + 5, source_topic: topic, source_partition: 2, source_offset: '7' });
  });
});

describe('alerts stream: dead letters', () => {
  it.each([
    { name: 'no value (a tombstone)', topic: 'qa', value: null, reason: 'not_single_object_encoding' },
    { name: 'not Avro', topic: 'qa', value: Buffer.from('{"alert_id":"x"}'), reason: 'not_single_object_encoding' },
    { name: "another topic's record", topic: 'qa', value: pricingAlertCodec().encode(pricing), reason: 'wrong_record' },
    { name: 'limit not an integer', topic: 'qa', value: quotaAlertCodec().encode({ ...quota, limit: '1e9' }), reason: 'invalid_alert' },
    { name: 'used negative', topic: 'qa', value: quotaAlertCodec().encode({ ...quota, used: '-1' }), reason: 'invalid_alert' },
    { name: 'used past Int128', topic: 'qa', value: quotaAlertCodec().encode({ ...quota, used: '9'.repeat(39) }), reason: 'invalid_alert' },
    { name: 'threshold past UInt16', topic: 'qa', value: quotaAlertCodec().encode({ ...quota, threshold_percent: 70_000 }), reason: 'invalid_alert' },
    { name: 'negative mismatch count', topic: 'ia', value: invoiceAlertCodec().encode({ ...invoice, mismatch_count: -1 }), reason: 'invalid_alert' },
    { name: 'empty alert id', topic: 'pa', value: pricingAlertCodec().encode({ ...pricing, alert_id: '' }), reason: 'invalid_alert' },
    { name: 'time before 1970', topic: 'pa', value: pricingAlertCodec().encode({ ...pricing, first_seen_at: -1 }), reason: 'invalid_alert' },
  ])('$name -> $reason; the good record beside it is a row', ({ topic, value, reason }) => {
    const good = { qa: quotaAlertCodec().encode(quota), pa: pricingAlertCodec().encode(pricing), ia: invoiceAlertCodec().encode(invoice) }[topic]!;
    const { rows, deadLetters } = stream.decode(topic, 0, [message(value, '1'), message(good, '2')]);
    expect(deadLetters.map((d) => ({ reason: d.reason, offset: d.message.offset, where: d.detail.startsWith(`${topic}[0]@1: `) }))).toEqual([{ reason, offset: '1', where: true }]);
    expect(rows.map((r) => r.source_offset)).toEqual(['2']);
  });

  it('refuses a topic that is not one of the three (a wiring error, not a bad record)', () => {
    expect(() => stream.decode('usage-events', 0, [message(quotaAlertCodec().encode(quota))])).toThrow(/not an alert topic/);
  });
});
