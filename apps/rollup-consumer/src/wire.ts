import type { Kafka } from 'kafkajs';
import type { ClickHouseHandle } from '@meterline/clickhouse';
import type { FleetConfig, Logger } from '@meterline/platform';
import type { QuotaBook } from '@meterline/quotas';
import type { PriceBookStore } from '@meterline/pricing';
import type { ScriptedRedis } from '@meterline/redis';
import { RollupConsumer } from './rollup-consumer';
import { rebuildStreamState } from './state-rebuild';

/** The rollup consumer as configured for the fleet (its own process or `meterline start`). */
export function rollupConsumerFromConfig(deps: { kafka: Kafka; redis: ScriptedRedis; quotas: QuotaBook; prices: PriceBookStore; clickhouse: ClickHouseHandle; config: FleetConfig; log: Logger }): RollupConsumer {
  const { kafka, redis, quotas, prices, clickhouse, config, log } = deps;
  return new RollupConsumer(kafka, redis, quotas, prices, {
    groupId: config.rollups.groupId,
    topic: config.topics.usageEvents,
    rollupsTopic: config.topics.usageRollups,
    alertsTopic: config.topics.quotaAlerts,
    pricingAlertsTopic: config.topics.pricingAlerts,
    deadLetterTopic: config.topics.usageEventsDlq,
    allowedLatenessMs: config.rollups.allowedLatenessMs,
    dedupWindowSeconds: config.rollups.dedupWindowSeconds,
    limits: config.events,
    rebuildState: async () => {
      await rebuildStreamState({
        kafka, redis, clickhouse, log,
        topic: config.topics.usageEvents,
        groupId: config.rollups.groupId,
        rawSinkGroupId: config.sink.groupId,
        rollupsTopic: config.topics.usageRollups,
        rollupSinkGroupId: config.rollups.sinkGroupId,
        maxPastMs: config.events.maxPastMs,
        alertsTopic: config.topics.quotaAlerts,
        allowedLatenessMs: config.rollups.allowedLatenessMs,
        dedupWindowSeconds: config.rollups.dedupWindowSeconds,
        quotas: () => quotas.all(),
        price: (event) => prices.price(event),
      });
      await quotas.mirrorAll();
    },
  }, log);
}
