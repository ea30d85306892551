import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Principal } from './principal';
import { AccessError, parseScopes, type Scope } from './scopes';

/**
 * Short-lived tenant read tokens, for a platform that embeds a tenant's usage in its own UI
 * (OpenMeter's portal tokens): `mlt_<payload>.<signature>`, the payload base64url JSON
 * `{ v, kid, tenant, scopes, iat, exp }`, the signature HMAC-SHA-256 over the payload with the
 * server's token secret. Expiry is required and bounded; scopes are read scopes only.
 */
const PREFIX = 'mlt_';
export const TENANT_TOKEN_SCOPES: readonly Scope[] = ['usage:read', 'quotas:read', 'invoices:read'];
export const MAX_TENANT_TOKEN_TTL_MS = 24 * 3_600_000;

interface Payload {
  v: 1;
  /** The key that issued the token: revoking it ends its tokens. */
  kid: string;
  tenant: string;
  scopes: Scope[];
  iat: number;
  exp: number;
}

export interface TenantTokenRequest {
  issuerKeyId: string;
  tenantId: string;
  scopes: readonly Scope[];
  ttlMs: number;
}

export function signTenantToken(request: TenantTokenRequest, secret: string, now: number): { token: string; expiresAt: number } {
  const notRead = request.scopes.filter((s) => !TENANT_TOKEN_SCOPES.includes(s));
  if (notRead.length > 0) throw new AccessError('SCOPE_UNKNOWN', `a tenant token carries read scopes only (${TENANT_TOKEN_SCOPES.join(', ')}), not ${notRead.join(', ')}`);
  if (!(request.ttlMs > 0 && request.ttlMs <= MAX_TENANT_TOKEN_TTL_MS)) throw new AccessError('TOKEN_INVALID', `a tenant token lives more than 0 and at most ${MAX_TENANT_TOKEN_TTL_MS / 3_600_000} h`);
  const payload: Payload = { v: 1, kid: request.issuerKeyId, tenant: request.tenantId, scopes: [...request.scopes], iat: now, exp: now + request.ttlMs };
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return { token: `${PREFIX}${body}.${sign(body, secret)}`, expiresAt: payload.exp };
}

/** The principal a valid, unexpired token stands for; AccessError otherwise. */
export function verifyTenantToken(token: string, secret: string, now: number): Principal {
  const match = /^mlt_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) throw new AccessError('TOKEN_INVALID', 'not a tenant token');
  const [, body, signature] = match as unknown as [string, string, string];
  const expected = Buffer.from(sign(body, secret), 'base64url');
  const presented = Buffer.from(signature, 'base64url');
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) throw new AccessError('TOKEN_INVALID', 'the tenant token signature does not match');
  const payload = readPayload(body);
  if (now >= payload.exp) throw new AccessError('TOKEN_EXPIRED', `the tenant token expired at ${new Date(payload.exp).toISOString()}`);
  return { keyId: payload.kid, kind: 'tenant-token', scopes: payload.scopes, tenantId: payload.tenant, expiresAt: payload.exp };
}

function sign(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('base64url');
}

function readPayload(body: string): Payload {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new AccessError('TOKEN_INVALID', 'the tenant token payload is not JSON');
  }
  const p = value as Partial<Payload>;
  if (p.v !== 1 || typeof p.kid !== 'string' || typeof p.tenant !== 'string' || !Array.isArray(p.scopes) || typeof p.exp !== 'number' || typeof p.iat !== 'number') {
    throw new AccessError('TOKEN_INVALID', 'the tenant token payload is not a v1 token');
  }
  return { v: 1, kid: p.kid, tenant: p.tenant, scopes: parseScopes(p.scopes), iat: p.iat, exp: p.exp };
}
