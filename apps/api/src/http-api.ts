import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidEventError } from '@meterline/contract';
import type { ReconcileReport, UsageEventsTable } from '@meterline/clickhouse';
import type { QuotaChecker } from '@meterline/quotas';
import type { Meter, UsageRecord } from '@meterline/producer';
import { MeterlineError, errorMessage, serveHealthRoute, type Health, type Logger } from '@meterline/platform';

export interface HttpApiDeps {
  usage: UsageEventsTable;
  /** GET /v1/quotas/:tenant/check (from Redis). */
  quotas?: QuotaChecker;
  /** GET /v1/reconcile?tenant=&from=&to= (raw events vs rollups). */
  reconcile?: (tenantId: string, fromMs: number, toMs: number) => Promise<ReconcileReport>;
  /** Ingest endpoint writes through the producer shim; absent: POST /v1/events answers 503. */
  meter?: Meter;
  /** Readiness checks of this process, served at /livez and /readyz (no key needed). */
  health: Health;
  log: Logger;
}

export interface HttpApi {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 5 * 1024 * 1024;
const MAX_EVENTS_PER_REQUEST = 10_000;

class HttpError extends MeterlineError {
  constructor(readonly status: number, code: string, message: string) {
    super(code, message);
  }
}

/**
 * Health, live per-tenant totals and JSON ingest. The embedded ClickHouse can be opened by
 * one process only, so while the fleet runs this is how the CLI (`meterline usage`) reads.
 */
export async function startHttpApi(deps: HttpApiDeps, host: string, port: number): Promise<HttpApi> {
  const log = deps.log.child({ component: 'http-api' });
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : error instanceof URIError ? 400 : 500;
      if (status >= 500) log.error({ err: errorMessage(error), url: req.url }, 'request failed');
      // A 500 says nothing of the internals; the log has the detail.
      const body = status >= 500 && !(error instanceof HttpError) ? { code: 'INTERNAL', message: 'internal error; the server log has the details' }
        : error instanceof URIError ? { code: 'BAD_PATH', message: `the path has a malformed percent-encoding: ${req.url ?? ''}` }
        : { code: error instanceof MeterlineError ? error.code : 'INTERNAL', message: errorMessage(error) };
      send(res, status, { error: body });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (serveHealthRoute(deps.health, req, res)) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (req.method === 'GET' && path === '/v1/usage') {
      const tenant = url.searchParams.get('tenant') ?? undefined;
      send(res, 200, { tenants: await deps.usage.tenantTotals(tenant) });
      return;
    }
    const tenantMatch = /^\/v1\/usage\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && tenantMatch) {
      const tenant = decodeURIComponent(tenantMatch[1] as string);
      const [totals] = await deps.usage.tenantTotals(tenant);
      if (!totals) throw new HttpError(404, 'TENANT_NOT_FOUND', `no usage recorded for tenant "${tenant}"`);
      send(res, 200, totals);
      return;
    }
    const quotaMatch = /^\/v1\/quotas\/([^/]+)\/check$/.exec(path);
    if (req.method === 'GET' && quotaMatch) {
      if (!deps.quotas) throw new HttpError(503, 'QUOTAS_DISABLED', 'quota checks are not enabled in this process');
      const scope = Object.fromEntries(['project_id', 'api_key_hash', 'model'].flatMap((name) => {
        const value = url.searchParams.get(name);
        return value === null ? [] : [[name, value]];
      }));
      const check = await deps.quotas.checkQuota(decodeURIComponent(quotaMatch[1] as string), scope);
      send(res, check.allowed ? 200 : 429, check);
      return;
    }
    if (req.method === 'GET' && path === '/v1/reconcile') {
      if (!deps.reconcile) throw new HttpError(503, 'RECONCILE_DISABLED', 'reconciliation is not enabled in this process');
      const tenant = url.searchParams.get('tenant');
      const from = Date.parse(url.searchParams.get('from') ?? '');
      const to = Date.parse(url.searchParams.get('to') ?? '');
      if (tenant === null || Number.isNaN(from) || Number.isNaN(to) || from >= to) {
        throw new HttpError(400, 'BAD_REQUEST', 'reconcile needs tenant, from and to (ISO times, from < to), e.g. ?tenant=acme&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z');
      }
      send(res, 200, await deps.reconcile(tenant, from, to));
      return;
    }
    if (req.method === 'POST' && path === '/v1/events') {
      if (!deps.meter) throw new HttpError(503, 'INGEST_DISABLED', 'ingest is not enabled in this process');
      const body = await readJson(req);
      const records: unknown[] = Array.isArray(body) ? body : [body];
      if (records.length > MAX_EVENTS_PER_REQUEST) throw new HttpError(413, 'TOO_MANY_EVENTS', `${records.length} events in one request, over the limit of ${MAX_EVENTS_PER_REQUEST}`);
      const accepted: string[] = [];
      const rejected: { index: number; error: string; violations?: unknown }[] = [];
      records.forEach((record, index) => {
        try {
          if (typeof record !== 'object' || record === null) throw new HttpError(400, 'EVENT_INVALID', `event ${index} is not a JSON object`);
          accepted.push(deps.meter!.record(record as UsageRecord));
        } catch (error) {
          rejected.push({ index, error: errorMessage(error), ...(error instanceof InvalidEventError ? { violations: error.violations } : {}) });
        }
      });
      const status = rejected.length === 0 ? 202 : accepted.length === 0 ? 400 : 207;
      send(res, status, { accepted, rejected });
      return;
    }
    throw new HttpError(404, 'NOT_FOUND', `no route for ${req.method ?? 'GET'} ${path}`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${host}:${address.port}`;
  log.info({ url }, 'http api listening');
  return {
    url,
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  // Token counts and money are bigint in the domain: decimal strings on the wire.
  const text = JSON.stringify(body, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'BODY_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (error) {
    throw new HttpError(400, 'BODY_NOT_JSON', `request body is not valid JSON: ${errorMessage(error)}`);
  }
}
