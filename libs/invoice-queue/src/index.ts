export {
  CLOSE_PERIOD_JOB,
  INVOICE_JOB,
  REVISE_INVOICE_JOB,
  MONTHLY_SCHEDULER_ID,
  invoiceJobId,
  closeJobId,
  reviseJobId,
  runTenants,
  type ClosePeriodData,
  type InvoiceJobData,
  type CloseResult,
  type TenantInvoiceOutcome,
  type ReviseInvoiceData,
  type InvoiceRevisionOutcome,
} from './jobs';
export { InvoiceQueue, invoiceJobOptions, type InvoiceQueueOptions, type InvoiceRunState, type InvoiceRunStatus, type InvoiceRevisionState } from './invoice-queue';
