export {
  type UsageEvent,
  type TokenBucket,
  type UsageBuckets,
  tokenBuckets,
  inputTokenBuckets,
  outputTokenBuckets,
  emptyUsageBuckets,
  unitNamePattern,
  maxUnitsPerEvent,
  knownUnits,
  optionalStringFields,
  totalTokens,
  usageEventV2Defaults,
  type UsageEventV2Fields,
} from './usage-event/usage-event';
export { validateUsageEvent, describeViolations, defaultEventLimits, type EventLimits, type Violation } from './usage-event/validate';
export * from './pricing';
export * from './windows';
export * from './quotas';
export * from './invoices';
export * from './access';
export * from './usage-query';
