/**
 * What a key may do. `admin` implies every other scope; a tenant-bound key never gets `admin`
 * (it would reach other tenants).
 */
export const SCOPES = ['admin', 'usage:read', 'events:write', 'quotas:read', 'quotas:write', 'invoices:read'] as const;
import { MeterlineError } from '../errors';

export type Scope = (typeof SCOPES)[number];

export function isScope(text: string): text is Scope {
  return (SCOPES as readonly string[]).includes(text);
}

/** Scopes from "usage:read,events:write" or a list; every unknown name is reported at once. */
export function parseScopes(input: string | readonly string[]): Scope[] {
  const names = (typeof input === 'string' ? input.split(',') : input).map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((name) => !isScope(name));
  if (unknown.length > 0) throw new AccessError('SCOPE_UNKNOWN', `unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; known: ${SCOPES.join(', ')}`);
  if (names.length === 0) throw new AccessError('SCOPE_UNKNOWN', `a key needs at least one scope (${SCOPES.join(', ')})`);
  return [...new Set(names as Scope[])].sort();
}

export type AccessErrorCode =
  | 'SCOPE_UNKNOWN'
  | 'KEY_MISSING'
  | 'KEY_INVALID'
  | 'KEY_REVOKED'
  | 'KEY_EXPIRED'
  | 'SCOPE_MISSING'
  | 'TENANT_FORBIDDEN'
  | 'ADMIN_NOT_TENANT_BOUND'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED';

/** Why a caller may not do something; `status` is the HTTP answer (401 who are you, 403 not allowed). */
export class AccessError extends MeterlineError {
  declare readonly code: AccessErrorCode;
  constructor(code: AccessErrorCode, message: string) {
    super(code, message);
  }

  get status(): 400 | 401 | 403 {
    if (this.code === 'SCOPE_UNKNOWN' || this.code === 'ADMIN_NOT_TENANT_BOUND') return 400;
    if (this.code === 'SCOPE_MISSING' || this.code === 'TENANT_FORBIDDEN') return 403;
    return 401;
  }
}
