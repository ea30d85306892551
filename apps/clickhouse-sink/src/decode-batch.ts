import type { KafkaMessage } from 'kafkajs';
import { describeTelemetryWarnings, describeViolations, screenTelemetry, TELEMETRY_DROPPED_METADATA_KEY, validateUsageEvent, type EventLimits, type EventMoney, type UsageEvent } from '@meterline/domain';
import { DecodeError, type AvroCodec } from '@meterline/contract';
import type { DeadLetter } from '@meterline/kafka';
import type { UsageEventRow } from '@meterline/clickhouse';

/** Prices an event as the rollup consumer does (the fleet's PriceBookStore). */
export interface EventPricer {
  price(event: UsageEvent): EventMoney;
}

export interface DecodedBatch {
  rows: UsageEventRow[];
  deadLetters: DeadLetter[];
}

/**
 * Splits a Kafka batch into rows for ClickHouse and dead letters. A message that cannot be
 * decoded or breaks the contract is a dead letter with the reason; it never stops the rest.
 * Time bounds are checked against the message's own timestamp (when it was recorded), so a
 * replay of an old topic or spool stays valid. Bad telemetry (latency, ttft, status code) is
 * not a reason to drop the usage: it is stored as null and named in the row's metadata under
 * `meterline.telemetry_dropped`. With a pricer each row carries its cost and
 * charge (without one, rows are stored unpriced).
 */
export function decodeBatch(topic: string, partition: number, messages: readonly KafkaMessage[], codec: AvroCodec<UsageEvent>, limits: EventLimits, pricer?: EventPricer): DecodedBatch {
  const rows: UsageEventRow[] = [];
  const deadLetters: DeadLetter[] = [];
  // `where` is only built for dead letters (the rare case).
  const where = (message: KafkaMessage): string => `${topic}[${partition}]@${message.offset}`;
  for (const message of messages) {
    if (message.value === null) {
      deadLetters.push({ reason: 'empty_value', detail: `${where(message)}: message has no value (tombstone?)`, topic, partition, message });
      continue;
    }
    let event: UsageEvent;
    try {
      event = codec.decode(message.value);
    } catch (error) {
      const reason = error instanceof DecodeError ? error.reason : 'decode_failed';
      deadLetters.push({ reason, detail: `${where(message)}: ${error instanceof Error ? error.message : String(error)}`, topic, partition, message });
      continue;
    }
    const recordedAt = Number(message.timestamp);
    const violations = validateUsageEvent(event, recordedAt > 0 ? recordedAt : Date.now(), limits);
    if (violations.length > 0) {
      deadLetters.push({ reason: 'invalid_event', detail: `${where(message)}: event ${event.event_id}: ${describeViolations(violations)}`, topic, partition, message });
      continue;
    }
    // Bad telemetry is dropped, never the usage: the stored row says what was dropped.
    const dropped = screenTelemetry(event, limits);
    if (dropped.length > 0) event.metadata = { ...event.metadata, [TELEMETRY_DROPPED_METADATA_KEY]: describeTelemetryWarnings(dropped) };
    // The decoded object is this batch's own: it becomes the row (no copy of every field).
    const row = event as UsageEventRow;
    row.source_partition = partition;
    row.source_offset = message.offset;
    if (pricer !== undefined) {
      const money = pricer.price(event);
      row.cost_pico = money.costPico;
      row.charge_pico = money.chargePico;
      row.cost_price_version = money.costVersion;
      row.charge_price_version = money.chargeVersion;
    }
    rows.push(row);
  }
  return { rows, deadLetters };
}
