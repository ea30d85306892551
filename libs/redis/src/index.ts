export { redisKeys, tenantPrefix, quotaCounterSuffix, KEY_ROOT } from './keys';
export { loadScripts, withScripts, type ScriptedRedis, type ScriptFile } from './scripts';
