import type { KafkaMessage } from 'kafkajs';
import { defaultEventLimits, type EventLimits } from '@meterline/domain';
import { usageEventCodec } from '@meterline/contract';
import type { DeadLetter } from '@meterline/kafka';
import type { UsageEventRow, UsageEventsTable } from '@meterline/clickhouse';
import { decodeBatch } from './decode-batch';

/** What the sink needs to know about one topic -> table stream. */
export interface SinkStream<Row> {
  /** For logs and the DLQ's app header. */
  name: string;
  /** Rows to write and poison to dead-letter; never throws for one bad message. */
  decode(topic: string, partition: number, messages: readonly KafkaMessage[]): { rows: Row[]; deadLetters: DeadLetter[] };
  /** Idempotent for the same token. */
  write(rows: readonly Row[], dedupToken: string): Promise<void>;
}

/** usage-events -> usage_events. */
export function usageEventsStream(table: UsageEventsTable, limits: Partial<EventLimits> = {}): SinkStream<UsageEventRow> {
  const codec = usageEventCodec();
  const effective = { ...defaultEventLimits, ...limits };
  return {
    name: 'usage-events',
    decode: (topic, partition, messages) => decodeBatch(topic, partition, messages, codec, effective),
    write: (rows, token) => table.insert(rows, token),
  };
}
