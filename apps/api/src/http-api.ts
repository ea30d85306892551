import { buildApiServer, type ApiDeps } from './server';

export interface HttpApi {
  url: string;
  close(): Promise<void>;
}

/** The API listening on host:port (127.0.0.1 by default: keep it behind a proxy you trust). */
export async function startHttpApi(deps: ApiDeps, host: string, port: number): Promise<HttpApi> {
  const app = await buildApiServer(deps);
  await app.listen({ host, port });
  const address = app.server.address();
  const url = `http://${host}:${typeof address === 'object' && address !== null ? address.port : port}`;
  deps.log.info({ component: 'http-api', url }, 'http api listening');
  return { url, close: () => app.close() };
}
