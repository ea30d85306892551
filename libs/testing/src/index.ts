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
export { uniqueName, uniqueIdentifier } from './names';
export { default as integrationGlobalSetup } from './global-setup';
export { usageGenerator, seededRandom, sampleModels, sampleTenants, UsageReference, type GeneratorOptions, type TenantReference } from './usage-generator';
export { waitFor } from './wait';
