export {
  quotaMetrics,
  legacyQuotaMetrics,
  quotaEnforcements,
  DEFAULT_QUOTA_THRESHOLDS,
  MAX_QUOTA_LIMIT,
  MAX_QUOTA_ID_LENGTH,
  QuotaDefinitionError,
  parseQuotaDefinition,
  defaultQuotaId,
  type QuotaDefinition,
  type QuotaScope,
  type QuotaMetric,
  type QuotaEnforcement,
} from './definition';
export { quotaPeriodKinds, quotaPeriod, isValidTimeZone, zoneOffsetMs, type QuotaPeriod, type QuotaPeriodKind, type PeriodSpec } from './period';
export {
  matchesQuota,
  quotaAmount,
  quotaAmountOfTotals,
  crossedThresholds,
  alertId,
  evaluateQuota,
  checkAllowed,
  type QuotaStatus,
  type AllowDecision,
} from './evaluate';
export { projectQuota, type QuotaProjection } from './projection';
