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
  millisToMicros,
  microsDecimal,
  millisDecimal,
  type UsageEventV2Fields,
} from './usage-event/usage-event';
export {
  validateUsageEvent,
  MAX_EVENT_INTEGER,
  describeViolations,
  defaultEventLimits,
  screenTelemetry,
  telemetryWarnings,
  describeTelemetryWarnings,
  TELEMETRY_DROPPED_METADATA_KEY,
  type EventLimits,
  type Violation,
  type TelemetryWarning,
} from './usage-event/validate';
export { MeterlineError } from './errors';
export * from './pricing';
export * from './windows';
export * from './quotas';
export * from './invoices';
export * from './access';
export * from './usage-query';
