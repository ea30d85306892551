export { QuotaStore, serializeQuota, quotaKey } from './quota-store';
export { QuotaBook, mirrorQuota } from './quota-book';
export { QuotaChecker, type QuotaCheck, type QuotaScope } from './check-quota';
