import type { KafkaMessage } from 'kafkajs';
import { defaultEventLimits, type EventLimits } from '@meterline/domain';
import { DecodeError, invoiceAlertCodec, pricingAlertCodec, quotaAlertCodec, usageEventCodec, usageRollupCodec } from '@meterline/contract';
import type { DeadLetter } from '@meterline/kafka';
import { InvalidAlertError, alertRow, type AlertRow, type AlertsTable, type StoredAlert, type UsageEventRow, type UsageEventsTable, type UsageRollupRow, type UsageRollupsTable } from '@meterline/clickhouse';
import { decodeBatch, type EventPricer } from './decode-batch';

/** What the sink needs to know about one topic -> table stream. */
export interface SinkStream<Row> {
  /** For logs and the DLQ's app header. */
  name: string;
  /**
   * Rows to write and poison to dead-letter; never throws for one bad message. Each message
   * gives one row or one dead letter, in the messages' order (the sink maps a row ClickHouse
   * rejects back to its message).
   */
  decode(topic: string, partition: number, messages: readonly KafkaMessage[]): { rows: Row[]; deadLetters: DeadLetter[] };
  /** Idempotent for the same token. */
  write(rows: readonly Row[], dedupToken: string): Promise<void>;
}

/**
 * usage-events -> usage_events, each row priced by `pricer` (the fleet's PriceBookStore, the
 * same books and priceEvent as the rollup consumer), so the raw row answers what a call cost.
 */
export function usageEventsStream(table: UsageEventsTable, limits: Partial<EventLimits> = {}, pricer?: EventPricer): SinkStream<UsageEventRow> {
  const codec = usageEventCodec();
  const effective = { ...defaultEventLimits, ...limits };
  return {
    name: 'usage-events',
    decode: (topic, partition, messages) => decodeBatch(topic, partition, messages, codec, effective, pricer),
    write: (rows, token) => table.insert(rows, token),
  };
}

/** usage-rollups -> usage_rollups_hourly. Undecodable rollups go to the DLQ like events. */
export function usageRollupsStream(table: UsageRollupsTable): SinkStream<UsageRollupRow> {
  const codec = usageRollupCodec();
  return {
    name: 'usage-rollups',
    decode: (topic, partition, messages) => decodeEach(topic, partition, messages, (value) => codec.decode(value)),
    write: (rows, token) => table.insert(rows, token),
  };
}

export interface AlertTopics {
  quotaAlerts: string;
  pricingAlerts: string;
  invoiceAlerts: string;
}

/**
 * quota-alerts, pricing-alerts and invoice-alerts -> alerts (one stream, one group). Each topic's
 * own codec reads it; a record that is not its topic's alert, or that the table cannot hold, is
 * a dead letter.
 */
export function alertsStream(table: AlertsTable, topics: AlertTopics): SinkStream<AlertRow> {
  const [quota, pricing, invoice] = [quotaAlertCodec(), pricingAlertCodec(), invoiceAlertCodec()];
  const readers = new Map<string, (value: Buffer, emittedAt: number) => StoredAlert>([
    [topics.quotaAlerts, (value, at) => ({ kind: 'quota', record: quota.decode(value), emitted_at: at })],
    [topics.pricingAlerts, (value, at) => ({ kind: 'pricing', record: pricing.decode(value), emitted_at: at })],
    [topics.invoiceAlerts, (value, at) => ({ kind: 'invoice', record: invoice.decode(value), emitted_at: at })],
  ]);
  return {
    name: 'alerts',
    decode: (topic, partition, messages) => {
      const read = readers.get(topic);
      if (read === undefined) throw new Error(`alerts stream: ${topic} is not an alert topic`);
      return decodeEach(topic, partition, messages, (value, message) => alertRow(read(value, Number(message.timestamp)), { topic, partition, offset: message.offset }));
    },
    write: (rows, token) => table.insert(rows, token),
  };
}

/** Reads each message on its own: one that cannot be read is a dead letter with the reason, never the batch. */
function decodeEach<Row>(topic: string, partition: number, messages: readonly KafkaMessage[], read: (value: Buffer, message: KafkaMessage) => Row): { rows: Row[]; deadLetters: DeadLetter[] } {
  const rows: Row[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const message of messages) {
    try {
      if (message.value === null) throw new DecodeError('not_single_object_encoding', 'message has no value');
      rows.push(read(message.value, message));
    } catch (error) {
      deadLetters.push({ reason: reasonOf(error), detail: `${topic}[${partition}]@${message.offset}: ${error instanceof Error ? error.message : String(error)}`, topic, partition, message });
    }
  }
  return { rows, deadLetters };
}

function reasonOf(error: unknown): string {
  if (error instanceof DecodeError) return error.reason;
  if (error instanceof InvalidAlertError) return 'invalid_alert';
  return 'decode_failed';
}
