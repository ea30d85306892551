export { MeterlineError, InfrastructureError, UnrecoverableError, ConfigError, isRetriable, errorMessage } from './errors';
export { retry, backoffDelay, sleep, defaultBackoff, type BackoffPolicy, type RetryOptions } from './retry';
export { createLogger, silentLogger, redactedPaths, type Logger, type LoggerConfig } from './logging';
export { Lifecycle, type StopFn } from './lifecycle';
export { parseConfig, loadConfigOrExit, parseDurationMs } from './config';
export { fleetConfigSchema, type FleetConfig } from './fleet-config';
export { Health, serveHealthRoute, startHealthServer, type ReadinessCheck, type Readiness, type CheckResult, type HealthServer } from './health';
export { SampledWarnings } from './sampled-log';
