export { RollupConsumer, type RollupConsumerConfig, type RollupConsumerStats } from './rollup-consumer';
export { planTenantBatch, eventIdHash, thresholdTrigger, type OffsetEvent, type TenantBatchPlan } from './plan-batch';
export { decodeOutbox } from './outbox';
export { findPublishedAlertIds } from './published-alerts';
export { rebuildStreamState, defaultRebuildTimeouts, type RebuildDeps, type RebuildSummary, type RebuildTimeouts } from './state-rebuild';
export { rollupConsumerFromConfig } from './wire';
export { rollupConsumerApp } from './app';
