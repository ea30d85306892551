import { Kafka, logLevel, type KafkaConfig, type LogEntry, type logCreator } from 'kafkajs';
import type { Logger } from '@meterline/platform';

export interface KafkaClientConfig {
  brokers: string[];
  clientId: string;
  /** Connection timeout per broker; short so a down broker is noticed quickly. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

// KafkaJS logs these at WARN/ERROR on every expected transition (our own retry/backoff handles
// them); they would bury real problems.
const expectedNoise = [
  'Limiting retries for the idempotent producer',
  'The group is rebalancing, re-joining',
  'KafkaJS v2.0.0 switched default partitioner',
];

// Broker states that pass by themselves (a coordinator loading after a start, a leader
// election, a topic just created): KafkaJS logs the failed request at ERROR, then its retrier
// retries it. Logged at DEBUG; if the retries run out, the caller's error says so.
const transientBrokerStates = [
  'coordinator is loading',
  'coordinator is not available',
  'not the correct coordinator',
  'no leader for this topic-partition',
  'not the leader for that topic-partition',
  'does not host this topic-partition',
  'group is rebalancing',
  // Two processes creating the same topics at once: KafkaJS treats "already exists" as done.
  'Topic creation errors',
];

/** Routes KafkaJS's own logs into pino, at WARN and above (transient broker states at DEBUG). */
function pinoLogCreator(log: Logger): logCreator {
  return () =>
    ({ level, label, log: entry }: LogEntry) => {
      const { message, ...rest } = entry;
      if (expectedNoise.some((noise) => message.includes(noise))) return;
      const fields = { kafkajs: label, ...rest };
      const errorText = typeof rest['error'] === 'string' ? rest['error'] : '';
      if (transientBrokerStates.some((state) => message.includes(state) || errorText.includes(state))) {
        log.debug(fields, `kafkajs: ${message}`);
        return;
      }
      // A broker that is down is reported once per attempt; the callers' own retry and
      // spool logic reports the outage, so these stay at WARN.
      const connection = message.startsWith('Connection error') || message.includes('ECONNREFUSED');
      if (level <= logLevel.ERROR && !connection) log.error(fields, `kafkajs: ${message}`);
      else if (level <= logLevel.WARN) log.warn(fields, `kafkajs: ${message}`);
      else log.debug(fields, `kafkajs: ${message}`);
    };
}

export function createKafka(config: KafkaClientConfig, log: Logger): Kafka {
  const options: KafkaConfig = {
    clientId: config.clientId,
    brokers: config.brokers,
    connectionTimeout: config.connectionTimeoutMs ?? 3_000,
    requestTimeout: config.requestTimeoutMs ?? 30_000,
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(log.child({ component: 'kafkajs' })),
    retry: { initialRetryTime: 100, retries: 8, maxRetryTime: 5_000 },
  };
  return new Kafka(options);
}
