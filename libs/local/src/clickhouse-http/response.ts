import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { brotliCompress, constants, deflate, gzip, zstdCompress, type InputType } from 'node:zlib';
import { headerValue } from './auth';
import { errorBody, httpStatusFor, type ClickHouseHttpError } from './errors';
import type { QuerySummary } from './engine';

const BINARY_FORMATS = new Set(['native', 'parquet', 'arrow', 'arrowstream', 'orc', 'avro', 'msgpack', 'bson', 'npy', 'capnproto', 'rawblob']);

/** The Content-Type ClickHouse gives a result in `format`. */
export function contentTypeFor(format: string): string {
  const f = format.toLowerCase();
  if (f.startsWith('json') || f.startsWith('prettyjson')) return 'application/json; charset=UTF-8';
  if (f.startsWith('tabseparated') || f.startsWith('tsv')) return 'text/tab-separated-values; charset=UTF-8';
  if (f === 'csv') return 'text/csv; charset=UTF-8; header=absent';
  if (f.startsWith('csvwithnames')) return 'text/csv; charset=UTF-8; header=present';
  if (f === 'xml') return 'application/xml; charset=UTF-8';
  if (BINARY_FORMATS.has(f) || f.startsWith('rowbinary') || f.startsWith('protobuf')) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

type Encoding = 'gzip' | 'deflate' | 'br' | 'zstd';

const compressors: Record<Encoding, (data: InputType, level: number | undefined) => Promise<Buffer>> = {
  gzip: (data, level) => promisify(gzip)(data, level === undefined ? {} : { level }),
  deflate: (data, level) => promisify(deflate)(data, level === undefined ? {} : { level }),
  br: (data, level) => promisify(brotliCompress)(data, level === undefined ? {} : { params: { [constants.BROTLI_PARAM_QUALITY]: level } }),
  zstd: (data, level) => promisify(zstdCompress)(data, level === undefined ? {} : { params: { [constants.ZSTD_c_compressionLevel]: level } }),
};

/** The first of our codecs the client accepts (clickhouse-js names exactly one). */
function chooseEncoding(acceptEncoding: string): Encoding | undefined {
  const accepted = acceptEncoding.toLowerCase().split(',').map((part) => part.split(';')[0]?.trim());
  return (['gzip', 'br', 'zstd', 'deflate'] as const).find((encoding) => accepted.includes(encoding));
}

export interface ResultMeta {
  queryId: string;
  /** Output format; undefined for statements without output (INSERT). */
  format?: string;
  summary: QuerySummary;
  compress: boolean;
  compressionLevel?: number;
}

export interface ServerIdentity {
  version: string;
  timezone: string;
  displayName: string;
}

function commonHeaders(res: ServerResponse, identity: ServerIdentity, queryId: string | undefined): void {
  res.setHeader('X-ClickHouse-Server-Display-Name', identity.displayName);
  if (queryId !== undefined) res.setHeader('X-ClickHouse-Query-Id', queryId);
}

/** A result, whole (queries run to the end before answering: wait_end_of_query always holds). */
export async function sendResult(req: IncomingMessage, res: ServerResponse, body: Uint8Array, meta: ResultMeta, identity: ServerIdentity): Promise<void> {
  commonHeaders(res, identity, meta.queryId);
  res.setHeader('Content-Type', meta.format === undefined ? 'text/plain; charset=UTF-8' : contentTypeFor(meta.format));
  if (meta.format !== undefined) res.setHeader('X-ClickHouse-Format', meta.format);
  res.setHeader('X-ClickHouse-Timezone', identity.timezone);
  res.setHeader('X-ClickHouse-Summary', JSON.stringify(meta.summary));
  const encoding = meta.compress ? chooseEncoding(headerValue(req.headers, 'accept-encoding')) : undefined;
  const payload = encoding === undefined ? body : await compressors[encoding](body, meta.compressionLevel);
  if (encoding !== undefined) res.setHeader('Content-Encoding', encoding);
  res.setHeader('Content-Length', payload.byteLength);
  res.writeHead(200);
  res.end(req.method === 'HEAD' ? undefined : payload);
}

/** An exception as ClickHouse sends one: status from the code, code in a header, text body. */
export function sendError(req: IncomingMessage, res: ServerResponse, error: ClickHouseHttpError, queryId: string | undefined, identity: ServerIdentity): void {
  if (res.headersSent) return void res.destroy();
  // A failure while answering (compressing, say) may leave a result's headers behind.
  for (const header of ['Content-Encoding', 'X-ClickHouse-Format', 'X-ClickHouse-Summary', 'X-ClickHouse-Timezone']) res.removeHeader(header);
  commonHeaders(res, identity, queryId);
  const body = errorBody(error, identity.version);
  res.setHeader('Content-Type', 'text/plain; charset=UTF-8');
  res.setHeader('X-ClickHouse-Exception-Code', String(error.code));
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.writeHead(httpStatusFor(error.code));
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Plain answers: `Ok.` for health checks, the 404 text for unknown paths. */
export function sendText(req: IncomingMessage, res: ServerResponse, status: number, text: string, identity: ServerIdentity): void {
  commonHeaders(res, identity, undefined);
  res.setHeader('Content-Type', 'text/plain; charset=UTF-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.writeHead(status);
  res.end(req.method === 'HEAD' ? undefined : text);
}
