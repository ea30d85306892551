export { createKafka, type KafkaClientConfig } from './client';
export { ensureTopics, rawPathTopics, type TopicSpec } from './topics';
export { toDeadLetterMessage, dlqHeaders, headerText, type DeadLetter } from './dead-letter';
export { CompactedTopicTable } from './compacted-topic-table';
export { streamTopics, invoiceTopics, accessTopics, alertHistoryTopics, type StreamTopicNames } from './stream-topics';
export { consumerGroupLag } from './group-lag';
export { GroupMembership } from './group-membership';
