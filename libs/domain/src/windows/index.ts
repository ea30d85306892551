export { HOUR_MS, hourStart, lateness, type Lateness } from './hour';
export {
  errorClasses,
  allErrorClasses,
  ERROR_TYPE_ALIASES,
  STATUS_CLASSES,
  classifyError,
  normaliseErrorType,
  statusClasses,
  statusClass,
  type ErrorClass,
  type StatusClass,
} from './error-class';
export { rollupDimensions, rollupGroupKey, parseRollupGroupKey, type RollupDimensions } from './group-key';
