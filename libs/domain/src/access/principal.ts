import { AccessError, type Scope } from './scopes';

/** Who is calling, resolved from an API key or a tenant read token. */
export interface Principal {
  /** Key id (or the id of the key that signed a tenant token). */
  keyId: string;
  kind: 'api-key' | 'tenant-token';
  scopes: readonly Scope[];
  /** Bound to one tenant: every read is filtered to it, every write must name it. */
  tenantId?: string | undefined;
  /** Epoch ms; absent: no expiry. */
  expiresAt?: number | undefined;
}

/**
 * Whether `principal` may use `scope`, on `tenantId` when the operation concerns one tenant
 * (undefined: all tenants, which a tenant-bound principal may never do). Throws AccessError
 * naming what is missing; returns the tenant the operation is confined to.
 */
export function authorize(principal: Principal, scope: Scope, tenantId: string | undefined, now: number): string | undefined {
  if (principal.expiresAt !== undefined && now >= principal.expiresAt) {
    throw new AccessError(principal.kind === 'api-key' ? 'KEY_EXPIRED' : 'TOKEN_EXPIRED', `the ${principal.kind === 'api-key' ? 'key' : 'token'} expired at ${new Date(principal.expiresAt).toISOString()}`);
  }
  if (!principal.scopes.includes(scope) && !principal.scopes.includes('admin')) {
    throw new AccessError('SCOPE_MISSING', `this ${principal.kind === 'api-key' ? 'key' : 'token'} lacks the scope ${scope} (it has ${principal.scopes.join(', ')})`);
  }
  const bound = principal.tenantId;
  if (bound === undefined) return tenantId;
  if (tenantId !== undefined && tenantId !== bound) throw new AccessError('TENANT_FORBIDDEN', `this key is bound to another tenant than "${tenantId}"`);
  return bound;
}
