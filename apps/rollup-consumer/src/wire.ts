import type { Kafka } from 'kafkajs';
import type { ClickHouseHandle } from '@meterline/clickhouse';
import type { FleetConfig, Logger } from '@meterline/platform';
import type { QuotaBook } from '@meterline/quotas';
import type { ScriptedRedis } from '@meterline/redis';
import { RollupConsumer } from './rollup-consumer';
import { rebuildStreamState } from './state-rebuild';

/** The rollup consumer as configured for the fleet (its own process or `meterline start`). */
export function rollupConsumerFromConfig(deps: { kafka: Kafka; redis: ScriptedRedis; quotas: QuotaBook; clickhouse: ClickHouseHandle; config: FleetConfig; log: Logger }): RollupConsumer {
  const { kafka, redis, quotas, clickhouse, config, log } = deps;
  return new RollupConsumer(kafka, redis, quotas, {
    groupId: config.rollups.groupId,
    topic: config.topics.usageEvents,
    rollupsTopic: config.topics.usageRollups,
    alertsTopic: config.topics.quotaAlerts,
    allowedLatenessMs: config.rollups.allowedLatenessMs,
    dedupWindowSeconds: config.rollups.dedupWindowSeconds,
    limits: config.events,
    rebuildState: async () => {
      await rebuildStreamState({
        kafka, redis, clickhouse, log,
        topic: config.topics.usageEvents,
        groupId: config.rollups.groupId,
        rawSinkGroupId: config.sink.groupId,
        alertsTopic: config.topics.quotaAlerts,
        allowedLatenessMs: config.rollups.allowedLatenessMs,
        dedupWindowSeconds: config.rollups.dedupWindowSeconds,
        quotas: () => quotas.all(),
      });
      await quotas.mirrorAll();
    },
  }, log);
}
