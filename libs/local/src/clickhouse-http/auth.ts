import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { clickHouseError } from './errors';

export interface ClickHouseHttpUser {
  name: string;
  /** Default: no password (an empty one). */
  password?: string;
  /** Reads only: writes, DDL and changing `readonly` are refused with READONLY (164). */
  readonly?: boolean;
}

export interface Credentials {
  user: string;
  password: string;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

function basicCredentials(authorization: string): Credentials {
  const [scheme = '', encoded = ''] = authorization.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() !== 'basic') {
    throw clickHouseError('AUTHENTICATION_FAILED', `Invalid authentication: '${scheme}' HTTP Authorization scheme is not supported`);
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  if (user === '') throw clickHouseError('AUTHENTICATION_FAILED', 'Got an empty user name from Authorization HTTP header');
  return { user, password: colon === -1 ? '' : decoded.slice(colon + 1) };
}

function mixed(first: string, second: string): Error {
  return clickHouseError('AUTHENTICATION_FAILED', `Invalid authentication: it is not allowed to use ${first} and ${second} simultaneously`);
}

/**
 * Credentials the way ClickHouse reads them: the X-ClickHouse-User/-Key headers, else HTTP Basic,
 * else the `user`/`password` URL parameters, else the user `default` with no password. Two
 * schemes in one request are refused, as ClickHouse refuses them.
 */
export function readCredentials(headers: IncomingHttpHeaders, params: URLSearchParams): Credentials {
  const user = headerValue(headers, 'x-clickhouse-user');
  const key = headerValue(headers, 'x-clickhouse-key');
  const authorization = headerValue(headers, 'authorization');
  const inParams = params.has('user') || params.has('password');
  if (user !== '' || key !== '') {
    if (authorization !== '') throw mixed('X-ClickHouse HTTP headers', 'Authorization HTTP header');
    if (inParams) throw mixed('X-ClickHouse HTTP headers', 'authentication via parameters');
    if (user === '') throw clickHouseError('AUTHENTICATION_FAILED', 'Got an empty user name from X-ClickHouse HTTP headers');
    return { user, password: key };
  }
  if (authorization !== '') {
    if (inParams) throw mixed('Authorization HTTP header', 'authentication via parameters');
    return basicCredentials(authorization);
  }
  return { user: params.get('user') || 'default', password: params.get('password') ?? '' };
}

// Digests have one length, so timingSafeEqual compares any two passwords without leaking theirs.
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** The user the credentials name, or AUTHENTICATION_FAILED worded as ClickHouse words it. */
export function authenticate(users: readonly ClickHouseHttpUser[], credentials: Credentials): ClickHouseHttpUser {
  const user = users.find((candidate) => candidate.name === credentials.user);
  if (user !== undefined && sameSecret(user.password ?? '', credentials.password)) return user;
  throw clickHouseError('AUTHENTICATION_FAILED', `${credentials.user}: Authentication failed: password is incorrect, or there is no user with such name`);
}
