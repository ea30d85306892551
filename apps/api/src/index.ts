export { startHttpApi, type HttpApi } from './http-api';
export { buildApiServer, type ApiDeps, type ApiServer } from './server';
export { apiApp } from './app';
export { openApiDocument } from './openapi';
