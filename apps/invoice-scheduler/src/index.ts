export { InvoiceJobs, PeriodNotClosableYet, ReconciliationFailed, type InvoiceJobsDeps, type InvoiceStore, type InvoiceDocuments, type InvoiceAnnouncer, type CloseResult, type TenantInvoiceOutcome } from './invoice-jobs';
export { InvoiceScheduler, invoiceJobId, closeJobId, CLOSE_PERIOD_JOB, INVOICE_JOB, MONTHLY_SCHEDULER_ID, type ClosePeriodData, type InvoiceJobData, type InvoiceSchedulerOptions } from './scheduler';
export { KafkaPipelineProgress, waitForPipeline, type PipelineProgress, type CatchUpTarget } from './pipeline-progress';
export { FileInvoiceDocuments } from './invoice-documents';
export { KafkaInvoiceAnnouncer } from './invoice-announcer';
export { Coalescer } from './coalescer';
export { invoiceSchedulerFromConfig, type InvoiceFleet } from './wire';
export { invoiceSchedulerApp } from './app';
