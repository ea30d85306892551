// A local HTTP front for the embedded ClickHouse engine (chdb), speaking enough of ClickHouse's
// HTTP interface for @clickhouse/client, curl and other HTTP clients. libchdb binds one data
// directory per process and no second process can open it; this server runs in the process that
// owns the directory so others can share it. A documented local convenience, not a production
// server: no TLS, no quotas, no HTTP sessions, results buffered in memory.
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Session, drainPending } from 'chdb';
import type { Logger } from '@meterline/platform';
import { authenticate, headerValue, readCredentials, type ClickHouseHttpUser } from './auth';
import { runQuery } from './engine';
import { clickHouseError, toClickHouseError, type ClickHouseHttpError } from './errors';
import { planQuery } from './plan';
import { multipartFields, queryInput, readBody, requestQueryId, type QueryInput } from './request';
import { sendError, sendResult, sendText, type ServerIdentity } from './response';

export type { ClickHouseHttpUser } from './auth';

export interface ClickHouseHttpServerOptions {
  /** The chdb data directory; the process must not have another one open. */
  chdbPath: string;
  /** Default 127.0.0.1: reachable from this machine only. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default: one user `default`, no password, read-write. */
  users?: ClickHouseHttpUser[];
  /** Debug line per query (never credentials, parameter or setting values). */
  log?: Logger;
  /** Largest request body accepted, after decompression; default 256 MiB. */
  maxBodyBytes?: number;
}

export interface ClickHouseHttpServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stops accepting, lets running queries finish, then releases the engine connection. */
  close(): Promise<void>;
}

interface Context {
  path: string;
  tmpDir: string;
  users: readonly ClickHouseHttpUser[];
  log: Logger | undefined;
  maxBodyBytes: number;
  identity: ServerIdentity;
}

const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;
const OK = 'Ok.\n';

/**
 * One connection for the server's lifetime: it keeps the engine up between requests (opening the
 * first connection to a directory boots the engine, ~40 ms; a further one is ~2 ms) and holds the
 * directory for this process.
 */
function openAnchor(path: string): Session {
  try {
    return new Session(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot open the chdb directory ${path} for the ClickHouse HTTP server (libchdb binds one directory per process): ${reason}`, { cause: error });
  }
}

async function identify(anchor: Session): Promise<ServerIdentity> {
  const [version = '', timezone = ''] = (await anchor.queryAsync('SELECT version(), timezone()', { format: 'TabSeparated' })).text().trim().split('\t');
  return { version, timezone, displayName: hostname() };
}

async function readInput(context: Context, req: IncomingMessage, params: URLSearchParams): Promise<QueryInput> {
  const body = await readBody(req, context.maxBodyBytes);
  const contentType = headerValue(req.headers, 'content-type');
  const fields = contentType.toLowerCase().startsWith('multipart/form-data') ? multipartFields(body, contentType) : undefined;
  return queryInput(req, params, body, fields);
}

interface QueryLog {
  queryId: string;
  user: string;
  sql?: string;
  format?: string;
  code?: number;
  started: number;
}

function logQuery(log: Logger | undefined, entry: QueryLog, error?: ClickHouseHttpError): void {
  if (!log?.isLevelEnabled('debug')) return;
  const fields = {
    queryId: entry.queryId,
    user: entry.user,
    sql: entry.sql?.slice(0, 300),
    format: entry.format,
    ms: Math.round(performance.now() - entry.started),
    ...(error === undefined ? {} : { code: error.code, error: error.message.slice(0, 300) }),
  };
  log.debug(fields, error === undefined ? 'clickhouse-http query' : 'clickhouse-http query failed');
}

async function handleQuery(context: Context, req: IncomingMessage, res: ServerResponse, params: URLSearchParams): Promise<void> {
  const entry: QueryLog = { queryId: requestQueryId(req, params), user: '', started: performance.now() };
  try {
    const credentials = readCredentials(req.headers, params);
    entry.user = credentials.user;
    const user = authenticate(context.users, credentials);
    const input = await readInput(context, req, params);
    const planned = planQuery(input, user, req.method ?? 'GET');
    if (planned === undefined) return sendText(req, res, 200, OK, context.identity);
    entry.sql = planned.sql;
    const format = planned.info.keyword === 'INSERT' ? undefined : planned.outputFormat;
    entry.format = format;
    const outcome = await runQuery(context.path, context.tmpDir, planned);
    const compression = input.compressionLevel === undefined ? {} : { compressionLevel: input.compressionLevel };
    await sendResult(req, res, outcome.body, { queryId: entry.queryId, format, summary: outcome.summary, compress: input.compressResponse, ...compression }, context.identity);
    logQuery(context.log, entry);
  } catch (error) {
    const failure = toClickHouseError(error);
    sendError(req, res, failure, entry.queryId, context.identity);
    logQuery(context.log, entry, failure);
  }
}

const QUERY_METHODS = new Set(['GET', 'HEAD', 'POST']);

async function handle(context: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/ping' || url.pathname === '/replicas_status') return sendText(req, res, 200, OK, context.identity);
  if (url.pathname !== '/') {
    return sendText(req, res, 404, `There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\nSend queries with POST / or GET /?query=...\n`, context.identity);
  }
  if (!QUERY_METHODS.has(req.method ?? '')) {
    return sendError(req, res, clickHouseError('NOT_IMPLEMENTED', `HTTP method ${req.method ?? ''} is not supported`), undefined, context.identity);
  }
  await handleQuery(context, req, res, url.searchParams);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen((server.address() as AddressInfo).port);
    });
  });
}

/** The HTTP server; `inFlight` holds the requests still being answered, for close(). */
function serve(context: Context): { server: Server; inFlight: Set<Promise<void>> } {
  const inFlight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const done = handle(context, req, res).catch((error: unknown) => {
      context.log?.error({ err: error }, 'clickhouse-http: request handler failed');
      res.destroy();
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });
  return { server, inFlight };
}

async function settle(inFlight: Set<Promise<void>>): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}

function closer(server: Server, inFlight: Set<Promise<void>>, anchor: Session, tmpDir: string): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    server.closeIdleConnections();
    await settle(inFlight);
    server.closeAllConnections();
    await closed;
    await settle(inFlight);
    anchor.close();
    // Connections close lazily while queries of theirs still run; the directory is free after this.
    await drainPending();
    await rm(tmpDir, { recursive: true, force: true });
  };
  return () => (closing ??= close());
}

/**
 * Starts the HTTP front on the chdb directory `chdbPath`. The process may also hold the same
 * directory open through `openClickHouse({ chdbPath })` (chdb/connection): same-directory
 * connections share one in-process engine, so writes through either are visible to both.
 */
export async function startClickHouseHttpServer(options: ClickHouseHttpServerOptions): Promise<ClickHouseHttpServer> {
  const path = resolve(options.chdbPath);
  mkdirSync(path, { recursive: true });
  const anchor = openAnchor(path);
  let tmpDir: string | undefined;
  try {
    const identity = await identify(anchor);
    tmpDir = await mkdtemp(join(tmpdir(), 'meterline-ch-http-'));
    const context: Context = { path, tmpDir, users: options.users ?? [{ name: 'default' }], log: options.log, maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, identity };
    const { server, inFlight } = serve(context);
    const host = options.host ?? '127.0.0.1';
    const port = await listen(server, options.port ?? 0, host);
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    options.log?.info({ url, chdbPath: path, version: identity.version }, 'ClickHouse HTTP front for chdb listening');
    return { url, port, close: closer(server, inFlight, anchor, tmpDir) };
  } catch (error) {
    anchor.close();
    if (tmpDir !== undefined) await rm(tmpDir, { recursive: true, force: true });
    throw error;
  }
}
