export { InvoiceJobs, PeriodNotClosableYet, ReconciliationFailed, type InvoiceJobsDeps, type InvoiceStore, type InvoiceDocuments, type InvoiceAnnouncer } from './invoice-jobs';
export { InvoiceScheduler, type InvoiceSchedulerOptions } from './scheduler';
// The queue's jobs and ids live in libs/invoice-queue (the API queues runs too); re-exported for the CLI and tests.
export { invoiceJobId, closeJobId, CLOSE_PERIOD_JOB, INVOICE_JOB, MONTHLY_SCHEDULER_ID, type ClosePeriodData, type InvoiceJobData, type CloseResult, type TenantInvoiceOutcome } from '@meterline/invoice-queue';
export { KafkaPipelineProgress, waitForPipeline, type PipelineProgress, type CatchUpTarget } from './pipeline-progress';
export { FileInvoiceDocuments } from './invoice-documents';
export { KafkaInvoiceAnnouncer } from './invoice-announcer';
export { Coalescer } from './coalescer';
export { invoiceSchedulerFromConfig, type InvoiceFleet } from './wire';
export { invoiceSchedulerApp } from './app';
