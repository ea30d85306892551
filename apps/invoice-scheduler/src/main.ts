// invoice-scheduler as its own process (`npx meterline invoice-scheduler`).
import { runApp } from '@meterline/runtime';
import { invoiceSchedulerApp } from './app';

await runApp(invoiceSchedulerApp);
