import type { KafkaMessage } from 'kafkajs';
import { describeViolations, validateUsageEvent, type EventLimits, type UsageEvent } from '@meterline/domain';
import { DecodeError, type AvroCodec } from '@meterline/contract';
import type { DeadLetter } from '@meterline/kafka';
import type { UsageEventRow } from '@meterline/clickhouse';

export interface DecodedBatch {
  rows: UsageEventRow[];
  deadLetters: DeadLetter[];
}

/**
 * Splits a Kafka batch into rows for ClickHouse and dead letters. A message that cannot be
 * decoded or breaks the contract is a dead letter with the reason; it never stops the rest.
 * Time bounds are checked against the message's own timestamp (when it was recorded), so a
 * replay of an old topic or spool stays valid.
 */
export function decodeBatch(topic: string, partition: number, messages: readonly KafkaMessage[], codec: AvroCodec<UsageEvent>, limits: EventLimits): DecodedBatch {
  const rows: UsageEventRow[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const message of messages) {
    const where = `${topic}[${partition}]@${message.offset}`;
    if (message.value === null) {
      deadLetters.push({ reason: 'empty_value', detail: `${where}: message has no value (tombstone?)`, topic, partition, message });
      continue;
    }
    let event: UsageEvent;
    try {
      event = codec.decode(message.value);
    } catch (error) {
      const reason = error instanceof DecodeError ? error.reason : 'decode_failed';
      deadLetters.push({ reason, detail: `${where}: ${error instanceof Error ? error.message : String(error)}`, topic, partition, message });
      continue;
    }
    const recordedAt = Number(message.timestamp);
    const violations = validateUsageEvent(event, recordedAt > 0 ? recordedAt : Date.now(), limits);
    if (violations.length > 0) {
      deadLetters.push({ reason: 'invalid_event', detail: `${where}: event ${event.event_id}: ${describeViolations(violations)}`, topic, partition, message });
      continue;
    }
    rows.push({ ...event, source_partition: partition, source_offset: message.offset });
  }
  return { rows, deadLetters };
}
