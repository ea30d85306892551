export { InvoiceJobs, PeriodNotClosableYet, ReconciliationFailed, EarlierPeriodOpen, EarlierInvoicePending, PeriodOutOfOrder, type InvoiceJobsDeps, type InvoiceStore, type InvoiceDocuments, type InvoiceAnnouncer } from './invoice-jobs';
export { InvoiceScheduler, unrecoverableUnlessRetriable, type InvoiceSchedulerOptions, type InvoiceJobRunner } from './scheduler';
// The queue's jobs and ids live in libs/invoice-queue (the API queues runs too); re-exported for the CLI and tests.
export {
  invoiceJobId,
  closeJobId,
  CLOSE_PERIOD_JOB,
  INVOICE_JOB,
  REVISE_INVOICE_JOB,
  MONTHLY_SCHEDULER_ID,
  type ClosePeriodData,
  type InvoiceJobData,
  type CloseResult,
  type TenantInvoiceOutcome,
  type InvoiceRevisionOutcome,
} from '@meterline/invoice-queue';
export { KafkaPipelineProgress, waitForPipeline, type PipelineProgress, type CatchUpTarget } from './pipeline-progress';
export { FileInvoiceDocuments } from './invoice-documents';
export { redisCloseLock, type CloseLock } from './close-lock';
export { KafkaInvoiceAnnouncer } from './invoice-announcer';
export { Coalescer } from './coalescer';
export { invoiceSchedulerFromConfig, type InvoiceFleet } from './wire';
export { invoiceSchedulerApp } from './app';
