import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { Redis } from 'ioredis';
import { InvoicesTable, type ClickHouseHandle } from '@meterline/clickhouse';
import { invoiceAlertCodec, invoiceReadyCodec } from '@meterline/contract';
import type { FleetConfig, Logger } from '@meterline/platform';
import { loadTenantBilling, type PriceBookStore } from '@meterline/pricing';
import { redisCloseLock } from './close-lock';
import { KafkaInvoiceAnnouncer } from './invoice-announcer';
import { FileInvoiceDocuments } from './invoice-documents';
import { InvoiceJobs } from './invoice-jobs';
import { KafkaPipelineProgress } from './pipeline-progress';
import { InvoiceScheduler } from './scheduler';

export interface InvoiceFleet {
  jobs: InvoiceJobs;
  scheduler: InvoiceScheduler;
  documents: FileInvoiceDocuments;
  /** Closes the worker, the queue and the connections it opened (not `kafka` or `clickhouse`). */
  close(): Promise<void>;
}

/**
 * The invoice scheduler as configured for the fleet: its own process, `meterline start`, or the
 * CLI's `invoice run`. `clock` is injected (tests control it); BullMQ's own timers use real time.
 */
export async function invoiceSchedulerFromConfig(deps: { kafka: Kafka; redisUrl: string; clickhouse: ClickHouseHandle; prices: PriceBookStore; config: FleetConfig; log: Logger; clock?: () => number }): Promise<InvoiceFleet> {
  const { kafka, clickhouse, prices, config, log } = deps;
  const clock = deps.clock ?? Date.now;
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const redis = new Redis(deps.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', (error: Error) => log.warn({ err: error.message }, 'redis connection error (ioredis reconnects)'));
  const progress = new KafkaPipelineProgress(kafka);
  const documents = new FileInvoiceDocuments(config.invoices.dir);
  // The jobs queue tenant jobs through the scheduler, which runs the jobs: tie the knot lazily.
  const enqueue = { to: undefined as InvoiceScheduler | undefined };
  const jobs = new InvoiceJobs({
    store: new InvoicesTable(clickhouse),
    progress,
    catchUp: {
      usageEventsTopic: config.topics.usageEvents,
      usageEventGroups: [config.sink.groupId, config.rollups.groupId],
      usageRollupsTopic: config.topics.usageRollups,
      rollupSinkGroup: config.rollups.sinkGroupId,
    },
    documents,
    announcer: new KafkaInvoiceAnnouncer(producer, redis, { ready: invoiceReadyCodec(), alert: invoiceAlertCodec() }, { invoices: config.topics.invoices, invoiceAlerts: config.topics.invoiceAlerts }, `meterline:invoices:${config.invoices.queue}:announced`),
    prices: () => prices.books,
    billing: () => loadTenantBilling(prices.dir),
    enqueueInvoices: (period, tenants) => enqueue.to!.enqueueInvoices(period, tenants),
    clock,
    allowedLatenessMs: config.rollups.allowedLatenessMs,
    catchUpTimeoutMs: config.invoices.catchUpTimeoutMs,
    closeLock: redisCloseLock(redis, `meterline:invoices:${config.invoices.queue}:close-lock`),
    log,
  });
  // BullMQ keeps its own connection (a worker blocks on it); shared instances are not closed by BullMQ.
  const bullRedis = new Redis(deps.redisUrl, { maxRetriesPerRequest: null });
  bullRedis.on('error', (error: Error) => log.warn({ err: error.message }, 'redis connection error (ioredis reconnects)'));
  const scheduler = new InvoiceScheduler(
    bullRedis,
    jobs,
    { queue: config.invoices.queue, cron: config.invoices.cron, timeZone: config.invoices.timeZone, concurrency: config.invoices.concurrency, attempts: config.invoices.attempts, stalledIntervalMs: config.invoices.stalledIntervalMs, clock },
    log,
  );
  enqueue.to = scheduler;
  return {
    jobs,
    scheduler,
    documents,
    async close() {
      await scheduler.close();
      await producer.disconnect();
      await progress.close();
      await redis.quit();
      await bullRedis.quit();
    },
  };
}
