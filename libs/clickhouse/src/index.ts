export { openClickHouse, ensureDatabase, quoteIdentifier, type ClickHouseConfig, type ClickHouseHandle, type ClickHouseClient } from './client';
export { migrate, loadMigrations, splitStatements, defaultMigrationsDir, type Migration, type MigrateResult } from './migrations';
export { UsageEventsTable, type UsageEventRow, type TenantUsageTotals } from './usage-events-table';
export { UsageRollupsTable, type UsageRollupRow, type HourlyUsage } from './usage-rollups-table';
export { reconcileUsage, type ReconcileReport, type ReconcileDifference } from './reconcile';
export { InvoicesTable, type PeriodClose, type StoredInvoiceSummary, type StoredInvoiceRow, type InvoiceCursor, type InvoiceListQuery, type TenantInvoiceHistory } from './invoices-table';
export { queryUsage, dimensionValues, usageDimensions, usageGranularities, type UsageQuery, type UsageQueryRow, type UsageQueryPage, type UsageDimension, type UsageGranularity, type DimensionFilter } from './usage-query';
export { AlertsTable, InvalidAlertError, alertRow, alertKinds, type AlertKind, type AlertKey, type AlertListQuery, type AlertPage, type AlertRow, type AlertSource, type StoredAlert } from './alerts-table';
export { sealDays, cleanDays, SEAL_MARGIN_SECONDS, type SealResult, type SealOptions } from './daily-rollups';
