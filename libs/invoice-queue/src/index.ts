export {
  CLOSE_PERIOD_JOB,
  INVOICE_JOB,
  MONTHLY_SCHEDULER_ID,
  invoiceJobId,
  closeJobId,
  runTenants,
  type ClosePeriodData,
  type InvoiceJobData,
  type CloseResult,
  type TenantInvoiceOutcome,
} from './jobs';
export { InvoiceQueue, invoiceJobOptions, type InvoiceQueueOptions, type InvoiceRunState, type InvoiceRunStatus } from './invoice-queue';
