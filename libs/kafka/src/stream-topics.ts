import type { TopicSpec } from './topics';

export interface StreamTopicNames {
  usageEvents: string;
  usageEventsPartitions: number;
  usageRollups: string;
  quotaAlerts: string;
  quotaDefinitions: string;
  pricingAlerts: string;
}

/** Topics of the stream core: rollups, alerts and the durable quota definitions (compacted). */
export function streamTopics(topics: StreamTopicNames): TopicSpec[] {
  return [
    { topic: topics.usageRollups, numPartitions: topics.usageEventsPartitions },
    { topic: `${topics.usageRollups}.dlq`, numPartitions: 1 },
    { topic: topics.quotaAlerts, numPartitions: 3 },
    { topic: topics.pricingAlerts, numPartitions: 1 },
    { topic: topics.quotaDefinitions, numPartitions: 1, configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' } },
  ];
}

/** Topics of the invoice scheduler: InvoiceReady per finished invoice (keyed by tenant) and blocked invoices. */
export function invoiceTopics(topics: { invoices: string; invoiceAlerts: string }): TopicSpec[] {
  return [
    { topic: topics.invoices, numPartitions: 3 },
    { topic: topics.invoiceAlerts, numPartitions: 1 },
  ];
}

/** The alert history's dead letters (records of any alert topic it cannot read, the reason in headers). */
export function alertHistoryTopics(topics: { alertsDlq: string }): TopicSpec[] {
  return [{ topic: topics.alertsDlq, numPartitions: 1 }];
}

/** The durable store of API keys (compacted: the latest record of each key id). */
export function accessTopics(topics: { apiKeys: string }): TopicSpec[] {
  return [{ topic: topics.apiKeys, numPartitions: 1, configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' } }];
}
