import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, createZstdDecompress } from 'node:zlib';
import { headerValue } from './auth';
import { clickHouseError } from './errors';

/** One HTTP query, sorted into what the engine needs. */
export interface QueryInput {
  /** The `query` parameter (URL or multipart field); '' when the body holds the query. */
  query: string;
  /** The decompressed body: the query, or the data following `query` (empty for multipart). */
  body: Buffer;
  /** Parameters that are ClickHouse settings, in request order. */
  settings: [string, string][];
  /** `param_<name>` values for `{name:Type}` placeholders, as sent (ClickHouse's escaped form). */
  queryParams: [string, string][];
  database: string;
  defaultFormat: string;
  /** enable_http_compression=1: the response may be compressed per Accept-Encoding. */
  compressResponse: boolean;
  compressionLevel?: number;
}

// Parameters ClickHouse's HTTP handler consumes itself (HTTPHandler.cpp), plus the ones it
// reads before settings apply. Everything else is a setting.
const RESERVED = new Set([
  'query', 'user', 'password', 'quota_key', 'query_id', 'stacktrace', 'buffer_size', 'wait_end_of_query',
  'session_id', 'session_timeout', 'session_check', 'client_protocol_version', 'close_session', 'role',
  'database', 'default_format', 'enable_http_compression', 'http_zlib_compression_level', 'compress', 'decompress',
]);

const DECOMPRESSORS: Record<string, (() => Transform) | undefined> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
  zstd: createZstdDecompress,
};

function decompressor(encoding: string): Transform | undefined {
  const name = encoding.trim().toLowerCase();
  if (name === '' || name === 'identity' || name === 'none') return undefined;
  const create = DECOMPRESSORS[name];
  if (create === undefined) {
    throw clickHouseError('NOT_IMPLEMENTED', `Unknown compression method '${encoding}'. Only 'none', 'gzip', 'deflate', 'br', 'zstd' are supported as compression methods by this local server`);
  }
  return create();
}

/**
 * The body, decompressed per Content-Encoding, up to `limit` bytes after decompression (a small
 * gzip body can inflate enormously). Past the limit, or on corrupt input, the rest of the body is
 * read and dropped so the error still reaches the client and the connection stays usable.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const decoder = decompressor(headerValue(req.headers, 'content-encoding'));
  const source = decoder ?? req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      source.off('data', onData).off('end', onEnd).off('error', onDecodeError);
      req.off('error', onRequestError);
      if (decoder) req.unpipe(decoder);
      decoder?.destroy();
      req.resume();
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      reject(clickHouseError('QUERY_IS_TOO_LARGE', `The request body is larger than ${limit} bytes, the limit of this local server (maxBodyBytes)`));
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onDecodeError = (error: Error): void => {
      stop();
      reject(clickHouseError('CANNOT_DECOMPRESS', `Cannot decompress the request body: ${error.message}`));
    };
    const onRequestError = (error: Error): void => {
      stop();
      reject(error);
    };
    source.on('data', onData).once('end', onEnd);
    if (decoder) decoder.once('error', onDecodeError);
    req.once('error', onRequestError);
    if (decoder) req.pipe(decoder);
  });
}

function boundaryOf(contentType: string): string {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (boundary === undefined) throw clickHouseError('BAD_ARGUMENTS', 'multipart/form-data without a boundary');
  return boundary;
}

/**
 * The fields of a multipart/form-data body (clickhouse-js sends `query` and `param_*` this way
 * when the parameters are too long for a URL). File parts are ClickHouse's external tables,
 * which the embedded engine cannot take over HTTP.
 */
export function multipartFields(body: Buffer, contentType: string): Map<string, string> {
  const delimiter = Buffer.from(`--${boundaryOf(contentType)}`);
  const fields = new Map<string, string>();
  for (let at = body.indexOf(delimiter); at !== -1;) {
    const start = at + delimiter.length;
    const next = body.indexOf(delimiter, start);
    if (next === -1 || body.subarray(start, start + 2).toString() === '--') break;
    const part = body.subarray(start, next);
    const headersEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, Math.max(headersEnd, 0)).toString('latin1');
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    if (/filename=/i.test(headers)) throw clickHouseError('NOT_IMPLEMENTED', 'External tables (multipart file parts) are not supported by this local server');
    if (name !== undefined && headersEnd !== -1) fields.set(name, part.subarray(headersEnd + 4, part.length - 2).toString('utf8'));
    at = next;
  }
  return fields;
}

function refuseNativeCompression(params: URLSearchParams): void {
  for (const name of ['compress', 'decompress']) {
    if (params.get(name) === '1') throw clickHouseError('NOT_IMPLEMENTED', `'${name}=1' (ClickHouse's native block compression) is not supported by this local server; use HTTP compression`);
  }
}

/** The client's query id (URL, else X-ClickHouse-Query-Id), or a new one. */
export function requestQueryId(req: IncomingMessage, params: URLSearchParams): string {
  return params.get('query_id') || headerValue(req.headers, 'x-clickhouse-query-id') || randomUUID();
}

/** First value wins for a repeated `param_` (ClickHouse keeps the first it sees). */
function firstOfEach(entries: [string, string][]): [string, string][] {
  const seen = new Map<string, string>();
  for (const [key, value] of entries) if (!seen.has(key)) seen.set(key, value);
  return [...seen.entries()];
}

/**
 * Sorts URL parameters (and multipart fields, which extend them) into settings, query
 * parameters and the rest. `fields` is set for a multipart body, which then carries no data.
 */
export function queryInput(req: IncomingMessage, params: URLSearchParams, body: Buffer, fields?: Map<string, string>): QueryInput {
  refuseNativeCompression(params);
  const entries = [...params.entries(), ...(fields?.entries() ?? [])];
  const settings: [string, string][] = [];
  const queryParams: [string, string][] = [];
  for (const [key, value] of entries) {
    if (key.startsWith('param_')) queryParams.push([key.slice('param_'.length), value]);
    else if (key !== '' && !RESERVED.has(key)) settings.push([key, value]);
  }
  const level = params.get('http_zlib_compression_level');
  const compression = params.get('enable_http_compression');
  return {
    query: fields?.get('query') ?? params.get('query') ?? '',
    body: fields === undefined ? body : Buffer.alloc(0),
    settings,
    queryParams: firstOfEach(queryParams),
    database: headerValue(req.headers, 'x-clickhouse-database') || (params.get('database') ?? ''),
    defaultFormat: headerValue(req.headers, 'x-clickhouse-format') || (params.get('default_format') ?? ''),
    compressResponse: compression === '1' || compression === 'true',
    ...(level === null ? {} : { compressionLevel: Number(level) }),
  };
}
