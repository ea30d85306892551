import { Health, silentLogger } from '@meterline/platform';
import { buildApiServer, type ApiDeps } from './server';

/** Stands in for every dependency: building the document registers the routes and calls none. */
const notWhileDocumenting = new Proxy({}, {
  get: (_target, property) => {
    throw new Error(`the OpenAPI document is built without dependencies (${String(property)} was used)`);
  },
});

/**
 * The API's OpenAPI 3.1 document, from the same route schemas that validate requests, without
 * running anything (`meterline openapi`; docs/openapi.json is this, checked by a test).
 */
export async function openApiDocument(): Promise<unknown> {
  const deps = { clickhouse: notWhileDocumenting, quotas: notWhileDocumenting, quotaStore: notWhileDocumenting, reconcile: notWhileDocumenting, meter: notWhileDocumenting, keys: notWhileDocumenting, keyStore: notWhileDocumenting } as unknown as Omit<ApiDeps, 'health' | 'log' | 'tokenSecret'>;
  const app = await buildApiServer({ ...deps, health: new Health(), log: silentLogger(), tokenSecret: undefined });
  try {
    return app.swagger();
  } finally {
    await app.close();
  }
}
