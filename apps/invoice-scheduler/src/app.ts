import { invoiceTopics, rawPathTopics, streamTopics } from '@meterline/kafka';
import type { App } from '@meterline/runtime';
import { invoiceSchedulerFromConfig } from './wire';

/**
 * Monthly invoices: the BullMQ job scheduler (period close at METERLINE_INVOICE_CRON) and a
 * worker of the invoice queue. Several processes may work one queue; job ids keep every
 * invoice computed once.
 */
export const invoiceSchedulerApp: App = {
  name: 'invoice-scheduler',
  healthPort: 8790,
  async start(context) {
    const { config, log, lifecycle } = context;
    const kafka = context.kafka();
    // A close also reads the pipeline's topics (it waits for them to catch up): created here
    // too, so this app does not depend on another having started first.
    await context.ensureTopics([...rawPathTopics(config.topics), ...streamTopics(config.topics), ...invoiceTopics(config.topics)]);
    context.redis(); // the readiness check of the Redis that holds the queue
    const clickhouse = await context.clickhouse();
    const prices = context.prices();
    // A pinned clock (METERLINE_INVOICE_CLOCK) decides which month a scheduled run closes and
    // whether it may close yet; BullMQ's own timers stay on real time.
    const pinned = config.invoices.pinnedClockMs;
    const clock = pinned === undefined ? Date.now : () => pinned;
    const invoices = await invoiceSchedulerFromConfig({ kafka, redisUrl: config.redis.url, clickhouse, prices, config, log, clock });
    lifecycle.onStop('invoice-scheduler', () => invoices.close());
    await invoices.scheduler.schedule();
    invoices.scheduler.startWorker();
    log.info({ queue: config.invoices.queue, dir: invoices.documents.dir }, 'invoice scheduler running');
  },
};
