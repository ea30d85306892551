export { startHttpApi, type HttpApi } from './http-api';
export { buildApiServer, type ApiDeps, type ApiServer } from './server';
export { apiApp } from './app';
export { openApiDocument } from './openapi';
export { rollupCompleteness, type RollupCompleteness, type PipelineNames } from './completeness';
export { tenantUsageToWire, type TenantUsage } from './routes/usage';
