import { KeyBook, KeyStore } from '@meterline/access';
import { reconcileUsage } from '@meterline/clickhouse';
import { InvoiceQueue } from '@meterline/invoice-queue';
import { accessTopics, rawPathTopics, streamTopics } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { QuotaChecker, QuotaStore } from '@meterline/quotas';
import type { App } from '@meterline/runtime';
import { rollupCompleteness } from './completeness';
import { startHttpApi } from './http-api';

/**
 * The HTTP API: usage totals, quota checks, reconciliation, JSON ingest through the producer
 * shim (`usage-events`), API keys and tenant read tokens, invoices (on-demand runs on the invoice
 * queue) and price books. Every route but /livez and /readyz needs a key; they are served on its
 * own port.
 */
export const apiApp: App = {
  name: 'api',
  async start(context) {
    const { config, log, lifecycle, health } = context;
    const kafka = context.kafka();
    await context.ensureTopics([...rawPathTopics(config.topics), ...streamTopics(config.topics), ...accessTopics(config.topics)]);
    const clickhouse = await context.clickhouse();
    const redis = context.redis();
    const keys = new KeyBook(kafka, redis, { topic: config.topics.apiKeys, pepper: config.access.pepper, tokenSecret: config.access.tokenSecret }, log);
    await keys.start();
    lifecycle.onStop('key-book', () => keys.stop());
    const keyStore = new KeyStore(kafka, config.topics.apiKeys, config.access.pepper, log);
    lifecycle.onStop('key-store', () => keyStore.close());
    const quotaStore = new QuotaStore(kafka, config.topics.quotaDefinitions, log);
    lifecycle.onStop('quota-store', () => quotaStore.close());
    const meter = createMeter({ kafka, topic: config.topics.usageEvents, spoolDir: config.producer.spoolDir, apiKeyPepper: config.producer.apiKeyPepper, limits: config.events, log });
    lifecycle.onStop('meter', () => meter.close());
    const prices = context.prices();
    // On-demand invoice runs go on the fleet's invoice queue (same Redis, same name), worked by the
    // invoice schedulers; a queue does not block, so it shares the process's Redis connection.
    const invoiceQueue = new InvoiceQueue(redis, { name: config.invoices.queue, attempts: config.invoices.attempts });
    lifecycle.onStop('invoice-queue', () => invoiceQueue.close());
    const invoiceClock = config.invoices.pinnedClockMs === undefined ? Date.now : () => config.invoices.pinnedClockMs as number;
    const api = await startHttpApi(
      {
        clickhouse,
        completeness: rollupCompleteness(kafka, { usageEvents: config.topics.usageEvents, usageRollups: config.topics.usageRollups, rollupGroup: config.rollups.groupId, rollupSinkGroup: config.rollups.sinkGroupId }),
        quotas: new QuotaChecker(redis),
        quotaStore,
        reconcile: (tenant, from, to) => reconcileUsage(clickhouse, tenant, from, to),
        meter,
        health,
        keys,
        keyStore,
        tokenSecret: config.access.tokenSecret,
        rateLimit: config.http.rateLimitPerMinute === 0 ? undefined : { redis, perMinute: config.http.rateLimitPerMinute },
        prices: () => prices.books,
        invoiceRuns: { queue: invoiceQueue, allowedLatenessMs: config.rollups.allowedLatenessMs, clock: invoiceClock },
        log,
      },
      config.http.host,
      config.http.port,
    );
    lifecycle.onStop('http-api', () => api.close());
  },
};
