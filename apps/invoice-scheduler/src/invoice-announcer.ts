import type { Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { AvroCodec, InvoiceAlertRecord, InvoiceReadyRecord } from '@meterline/contract';
import { InfrastructureError } from '@meterline/platform';
import { execChecked } from '@meterline/redis';
import type { InvoiceAnnouncer } from './invoice-jobs';

/** How long the "already announced" marks are kept: longer than anyone re-runs a month. */
const MARK_TTL_SECONDS = 400 * 86_400;

/**
 * InvoiceReady on the `invoices` topic (key: tenant), once per invoice id: an id is marked in
 * Redis after the broker acknowledged it, so a re-run of a month publishes nothing. A crash
 * between the two publishes it again on the retry (at least once; consumers key on invoice_id,
 * as the schema says).
 */
export class KafkaInvoiceAnnouncer implements InvoiceAnnouncer {
  constructor(
    private readonly producer: Producer,
    private readonly redis: Redis,
    private readonly codecs: { ready: AvroCodec<InvoiceReadyRecord>; alert: AvroCodec<InvoiceAlertRecord> },
    private readonly topics: { invoices: string; invoiceAlerts: string },
    private readonly markPrefix = 'meterline:invoices:announced',
  ) {}

  #markKey(period: string): string {
    return `${this.markPrefix}:${period}`;
  }

  async announce(records: readonly InvoiceReadyRecord[]): Promise<void> {
    const byPeriod = new Map<string, InvoiceReadyRecord[]>();
    for (const r of records) {
      const list = byPeriod.get(r.period) ?? [];
      list.push(r);
      byPeriod.set(r.period, list);
    }
    for (const [period, list] of byPeriod) {
      const key = this.#markKey(period);
      const seen = await this.redis.smismember(key, ...list.map((r) => r.invoice_id));
      const fresh = list.filter((_, i) => seen[i] !== 1);
      if (fresh.length === 0) continue;
      try {
        await this.producer.send({
          topic: this.topics.invoices,
          messages: fresh.map((r) => ({ key: r.tenant_id, value: this.codecs.ready.encode(r), headers: { 'meterline-invoice-id': r.invoice_id } })),
        });
      } catch (error) {
        throw new InfrastructureError('INVOICE_ANNOUNCE_FAILED', `publishing ${fresh.length} InvoiceReady record(s) to ${this.topics.invoices} failed`, error);
      }
      await execChecked(this.redis.multi().sadd(key, ...fresh.map((r) => r.invoice_id)).expire(key, MARK_TTL_SECONDS), `marking ${fresh.length} InvoiceReady record(s) announced`);
    }
  }

  async alert(record: InvoiceAlertRecord): Promise<void> {
    try {
      await this.producer.send({ topic: this.topics.invoiceAlerts, messages: [{ key: record.tenant_id, value: this.codecs.alert.encode(record), headers: { 'meterline-alert-id': record.alert_id } }] });
    } catch (error) {
      throw new InfrastructureError('INVOICE_ALERT_FAILED', `publishing invoice alert ${record.alert_id} failed`, error);
    }
  }
}
