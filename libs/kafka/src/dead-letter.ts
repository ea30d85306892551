import type { KafkaMessage, Message } from 'kafkajs';

/** Header names on DLQ records; a replay tool reads these to know where a record came from. */
export const dlqHeaders = {
  reason: 'meterline-dlq-reason',
  detail: 'meterline-dlq-detail',
  sourceTopic: 'meterline-source-topic',
  sourcePartition: 'meterline-source-partition',
  sourceOffset: 'meterline-source-offset',
  sourceTimestamp: 'meterline-source-timestamp',
  failedAt: 'meterline-dlq-at',
  app: 'meterline-dlq-app',
} as const;

export interface DeadLetter {
  /** Short machine-readable reason, e.g. `invalid_event` or `not_single_object_encoding`. */
  reason: string;
  /** Human-readable: what, where, why. */
  detail: string;
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/** The original bytes and key, untouched, with the reason and origin in headers. */
export function toDeadLetterMessage(letter: DeadLetter, app: string, now: number): Message {
  const headers: Record<string, string | Buffer> = {};
  for (const [name, value] of Object.entries(letter.message.headers ?? {})) {
    if (typeof value === 'string' || Buffer.isBuffer(value)) headers[name] = value;
  }
  headers[dlqHeaders.reason] = letter.reason;
  headers[dlqHeaders.detail] = letter.detail.slice(0, 4_000);
  headers[dlqHeaders.sourceTopic] = letter.topic;
  headers[dlqHeaders.sourcePartition] = String(letter.partition);
  headers[dlqHeaders.sourceOffset] = letter.message.offset;
  headers[dlqHeaders.sourceTimestamp] = letter.message.timestamp;
  headers[dlqHeaders.failedAt] = new Date(now).toISOString();
  headers[dlqHeaders.app] = app;
  return { key: letter.message.key, value: letter.message.value, headers };
}

export function headerText(message: KafkaMessage, name: string): string | undefined {
  const value = message.headers?.[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value[0]?.toString();
  return value.toString();
}
