export { redisKeys, tenantPrefix, quotaCounterSuffix, KEY_ROOT } from './keys';
export { streamLayout, luaTable } from './layout';
export { loadScripts, withScripts, type ScriptedRedis, type ScriptFile } from './scripts';
export { execChecked, RedisPipelineError, type RedisCommandFailure } from './exec-checked';
export { Lease, LeaseLostError, type LeaseOptions } from './lease';
