import { UsageEventsTable, reconcileUsage } from '@meterline/clickhouse';
import { rawPathTopics } from '@meterline/kafka';
import { createMeter } from '@meterline/producer';
import { QuotaChecker } from '@meterline/quotas';
import type { App } from '@meterline/runtime';
import { startHttpApi } from './http-api';

/**
 * The HTTP API: usage totals, quota checks, reconciliation, and JSON ingest through the
 * producer shim (`usage-events`). Serves /livez and /readyz on its own port.
 */
export const apiApp: App = {
  name: 'api',
  async start(context) {
    const { config, log, lifecycle, health } = context;
    const kafka = context.kafka();
    await context.ensureTopics(rawPathTopics(config.topics));
    const clickhouse = await context.clickhouse();
    const redis = context.redis();
    const meter = createMeter({ kafka, topic: config.topics.usageEvents, spoolDir: config.producer.spoolDir, apiKeyPepper: config.producer.apiKeyPepper, limits: config.events, log });
    lifecycle.onStop('meter', () => meter.close());
    const api = await startHttpApi(
      {
        usage: new UsageEventsTable(clickhouse),
        meter,
        log,
        health,
        quotas: new QuotaChecker(redis),
        reconcile: (tenant, from, to) => reconcileUsage(clickhouse, tenant, from, to),
      },
      config.http.host,
      config.http.port,
    );
    lifecycle.onStop('http-api', () => api.close());
  },
};
