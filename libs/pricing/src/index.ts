export { loadPriceBooks, PriceBookStore, PriceBooksError, PRICE_FILES } from './price-book-store';
export { rerateUsage, rerateReportCsv, listUnpriced, RERATE_PARTITION, type RerateDiff, type RerateResult, type UnpricedUsage } from './rerate';
export { loadTenantBilling, BILLING_FILE } from './tenant-billing';
