export {
  INVOICE_FORMAT,
  invoiceLineKinds,
  invoiceStatuses,
  type Invoice,
  type InvoiceLine,
  type InvoiceLineKind,
  type InvoiceStatus,
  type InvoiceBucket,
  type InvoiceInput,
  type PricedUsageAggregate,
  type LateUsageAdjustment,
  type BillingTerms,
  type UnitPriceBasis,
} from './types';
export { InvoiceInputError } from './errors';
export {
  CURRENCY_MINOR_UNITS,
  DEFAULT_CURRENCY,
  currencyMinorUnit,
  parseExchangeRate,
  picoToMinor,
  exactQuotient,
  formatMinor,
  formatMinorGrouped,
  type ExchangeRate,
} from './currency';
export { invoiceId, parseInvoiceId, isInvoicePeriod, type ParsedInvoiceId } from './invoice-id';
export { aggregateChargedEvents, averageUnitPrice, type ChargedEvent } from './aggregate';
export { unitBucket, unitOfBucket, isInvoiceBucket, compareBuckets, bucketLabel, fixedInvoiceBuckets, type UnitBucket } from './buckets';
export { computeInvoice } from './compute';
export {
  toInvoiceJson,
  toInvoiceCsv,
  csvField,
  invoiceCsvColumns,
  invoiceTotalFields,
  invoiceTotal,
  toInvoiceReady,
  type InvoiceReady,
  type InvoiceCsvOptions,
  type InvoiceTotalField,
} from './export';
export { renderInvoiceHtml, escapeHtml } from './html';
export { invoiceDocumentFormats, invoiceDocuments, renderInvoiceDocument, invoiceDocumentFormatOf, type InvoiceDocumentFormat, type InvoiceDocumentKind } from './documents';
export { reconcileInvoiceInputs, pricedTotals, type UsageTotal, type ReconcileInput, type ReconcileMismatch, type ReconcileResult } from './reconcile';
export { periodBounds, periodOf, previousPeriod, nextPeriod, periodClosableAt, type PeriodBounds } from './period';
export { encodeInvoice, decodeInvoice } from './stored';
export { parseTenantBilling, defaultBilling, BillingTermsError, TENANT_BILLING_FORMAT, type TenantBilling, type TenantBillingBook } from './billing-terms';
export { prepareTenantInvoice, rawTotals, belowCut, NO_ORIGINAL_INVOICE, type BillableEvent, type TenantInvoiceInput, type TenantInvoiceResult } from './tenant-invoice';
export { closeDecision, type ClosedMonths, type CloseDecision } from './close-order';
export { commitmentTenants, tenantsForClose, invoiceDue } from './selection';
export { nextRevision, sameCharges, periodBilled } from './revision';
