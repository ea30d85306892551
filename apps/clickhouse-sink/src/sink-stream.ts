import type { KafkaMessage } from 'kafkajs';
import { defaultEventLimits, type EventLimits } from '@meterline/domain';
import { DecodeError, usageEventCodec, usageRollupCodec } from '@meterline/contract';
import type { DeadLetter } from '@meterline/kafka';
import type { UsageEventRow, UsageEventsTable, UsageRollupRow, UsageRollupsTable } from '@meterline/clickhouse';
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

/** usage-rollups -> usage_rollups_hourly. Undecodable rollups go to the DLQ like events. */
export function usageRollupsStream(table: UsageRollupsTable): SinkStream<UsageRollupRow> {
  const codec = usageRollupCodec();
  return {
    name: 'usage-rollups',
    decode: (topic, partition, messages) => {
      const rows: UsageRollupRow[] = [];
      const deadLetters: DeadLetter[] = [];
      for (const message of messages) {
        try {
          if (message.value === null) throw new DecodeError('not_single_object_encoding', 'rollup message has no value');
          rows.push(codec.decode(message.value));
        } catch (error) {
          const reason = error instanceof DecodeError ? error.reason : 'decode_failed';
          deadLetters.push({ reason, detail: `${topic}[${partition}]@${message.offset}: ${error instanceof Error ? error.message : String(error)}`, topic, partition, message });
        }
      }
      return { rows, deadLetters };
    },
    write: (rows, token) => table.insert(rows, token),
  };
}
