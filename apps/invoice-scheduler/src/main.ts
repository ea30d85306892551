// invoice-scheduler as its own process: parse config once, build adapters, schedule the monthly
// run, work the queue, drain on SIGTERM.
import { migrate, openClickHouse } from '@meterline/clickhouse';
import { createKafka, ensureTopics, invoiceTopics } from '@meterline/kafka';
import { Lifecycle, createLogger, fleetConfigSchema, loadConfigOrExit } from '@meterline/platform';
import { PriceBookStore } from '@meterline/pricing';
import { invoiceSchedulerFromConfig } from './wire';

const config = loadConfigOrExit(fleetConfigSchema);
const log = createLogger({ ...config.log, name: 'invoice-scheduler' });
const lifecycle = new Lifecycle(log);
lifecycle.stopOnSignals();

const kafka = createKafka(config.kafka, log);
await ensureTopics(kafka, invoiceTopics(config.topics), log);
const clickhouse = openClickHouse(config.clickhouse);
lifecycle.onStop('clickhouse', () => clickhouse.close());
await migrate(clickhouse, log, { rawTtlMonths: config.clickhouse.rawTtlMonths });
const prices = new PriceBookStore(config.pricing.dir, log).watch();
lifecycle.onStop('price-books', () => Promise.resolve(prices.close()));
// A pinned clock (METERLINE_INVOICE_CLOCK) decides which month a scheduled run closes and whether
// it may close yet; BullMQ's own timers stay on real time.
const pinned = config.invoices.pinnedClockMs;
const clock = pinned === undefined ? Date.now : () => pinned;
const invoices = await invoiceSchedulerFromConfig({ kafka, redisUrl: config.redis.url, clickhouse, prices, config, log, clock });
lifecycle.onStop('invoice-scheduler', () => invoices.close());
await invoices.scheduler.schedule();
invoices.scheduler.startWorker();
log.info({ queue: config.invoices.queue, dir: invoices.documents.dir }, 'invoice scheduler running');
