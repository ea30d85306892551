export { startHttpApi, type HttpApi, type HttpApiDeps } from './http-api';
export { apiApp } from './app';
