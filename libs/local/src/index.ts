// Running meterline on one machine without installed services: Kafka from Maven jars,
// redis-server, the embedded ClickHouse over HTTP, and sample traffic. For `meterline start`
// and the tests; never imported by an app's production wiring (lint-enforced).
export { repoRoot } from './paths';
export { freePort, freePorts } from './ports';
export {
  spawnManaged,
  spawnWatchdog,
  waitForExit,
  waitForPidGone,
  waitUntilReady,
  withTimeout,
  isPidAlive,
  tailFile,
  type ManagedProcess,
  type SpawnManagedOptions,
  type ExitInfo,
  type WaitUntilReadyOptions,
} from './processes';
export {
  startKafka,
  ensureKafkaJars,
  newKafkaClusterId,
  KAFKA_VERSION,
  type KafkaBroker,
  type StartKafkaOptions,
} from './kafka-broker';
export { startRedis, findOnPath, type RedisServer, type StartRedisOptions } from './redis-server';
export { usageGenerator, seededRandom, sampleModels, pricedSampleModels, sampleTenants, type GeneratorOptions, type ModelProfile } from './usage-generator';
export { startSampleTraffic } from './sample-traffic';
export { startClickHouseHttpServer, type ClickHouseHttpServer, type ClickHouseHttpServerOptions, type ClickHouseHttpUser } from './clickhouse-http/server';
