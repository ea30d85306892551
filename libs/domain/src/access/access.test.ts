import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AccessError, authorize, generateApiKey, parseApiKey, parseScopes, secretMatches, signTenantToken, verifyTenantToken, type Principal } from './index';

const NOW = Date.UTC(2026, 11, 7, 12);
const key = (p: Partial<Principal> = {}): Principal => ({ keyId: 'k1', kind: 'api-key', scopes: ['usage:read'], ...p });

describe('parseScopes', () => {
  it.each([
    { input: 'usage:read', out: ['usage:read'] },
    { input: ' events:write , usage:read,usage:read ', out: ['events:write', 'usage:read'] },
    { input: ['admin'], out: ['admin'] },
  ])('$input', ({ input, out }) => expect(parseScopes(input)).toEqual(out));

  it.each([
    { input: 'usage:read,usage:write,billing', message: /unknown scopes "usage:write", "billing"; known: admin, usage:read/ },
    { input: '', message: /at least one scope/ },
  ])('refuses $input', ({ input, message }) => {
    expect(() => parseScopes(input)).toThrow(message);
  });
});

describe('authorize', () => {
  it.each([
    { name: 'scope held, all tenants', principal: key(), scope: 'usage:read', tenant: undefined, result: undefined },
    { name: 'scope held, one tenant', principal: key(), scope: 'usage:read', tenant: 'acme', result: 'acme' },
    { name: 'admin implies every scope', principal: key({ scopes: ['admin'] }), scope: 'quotas:write', tenant: 'acme', result: 'acme' },
    { name: 'bound key: the filter is injected', principal: key({ tenantId: 'acme' }), scope: 'usage:read', tenant: undefined, result: 'acme' },
    { name: 'bound key, its own tenant', principal: key({ tenantId: 'acme' }), scope: 'usage:read', tenant: 'acme', result: 'acme' },
    { name: 'not yet expired', principal: key({ expiresAt: NOW + 1 }), scope: 'usage:read', tenant: undefined, result: undefined },
  ] as const)('allows: $name', ({ principal, scope, tenant, result }) => {
    expect(authorize(principal, scope, tenant, NOW)).toBe(result);
  });

  it.each([
    { name: 'scope missing', principal: key(), scope: 'events:write', tenant: undefined, code: 'SCOPE_MISSING', status: 403 },
    { name: 'another tenant', principal: key({ tenantId: 'acme' }), scope: 'usage:read', tenant: 'globex', code: 'TENANT_FORBIDDEN', status: 403 },
    { name: 'expired key', principal: key({ expiresAt: NOW }), scope: 'usage:read', tenant: undefined, code: 'KEY_EXPIRED', status: 401 },
    { name: 'expired token', principal: key({ kind: 'tenant-token', expiresAt: NOW - 1 }), scope: 'usage:read', tenant: undefined, code: 'TOKEN_EXPIRED', status: 401 },
  ] as const)('refuses: $name', ({ principal, scope, tenant, code, status }) => {
    try {
      authorize(principal, scope, tenant, NOW);
      expect.unreachable('authorized');
    } catch (error) {
      expect(error).toBeInstanceOf(AccessError);
      expect({ code: (error as AccessError).code, status: (error as AccessError).status }).toEqual({ code, status });
    }
  });
});

describe('API keys', () => {
  it('a generated key parses back, matches its stored hash only, and the hash depends on the pepper', () => {
    const created = generateApiKey(randomBytes, 'pepper-1');
    const parsed = parseApiKey(created.token);
    expect(parsed?.id).toBe(created.id);
    expect(secretMatches(parsed!.secret, created.secretHash, 'pepper-1')).toBe(true);
    expect(secretMatches(parsed!.secret, created.secretHash, 'pepper-2')).toBe(false);
    const other = generateApiKey(randomBytes, 'pepper-1');
    expect(secretMatches(parseApiKey(other.token)!.secret, created.secretHash, 'pepper-1')).toBe(false);
    expect(created.token).not.toContain(created.secretHash);
  });

  it.each(['', 'Bearer x', 'mlk_short_secret', `mlk_${'a'.repeat(16)}_${'b'.repeat(42)}`, `mlt_${'a'.repeat(16)}_${'b'.repeat(43)}`])('refuses %j', (token) => {
    expect(parseApiKey(token)).toBeUndefined();
  });
});

describe('tenant read tokens', () => {
  const secret = 'token-secret';
  const request = { issuerKeyId: 'k1', tenantId: 'acme', scopes: ['usage:read'] as const, ttlMs: 15 * 60_000 };

  it('verifies to a principal bound to the tenant with read scopes, until it expires', () => {
    const { token, expiresAt } = signTenantToken(request, secret, NOW);
    expect(expiresAt).toBe(NOW + 15 * 60_000);
    expect(verifyTenantToken(token, secret, NOW + 60_000)).toEqual({ keyId: 'k1', kind: 'tenant-token', scopes: ['usage:read'], tenantId: 'acme', expiresAt });
    expect(() => verifyTenantToken(token, secret, expiresAt)).toThrow(/expired/);
  });

  it('refuses a token signed with another secret, or altered', () => {
    const { token } = signTenantToken(request, secret, NOW);
    expect(() => verifyTenantToken(token, 'other-secret', NOW)).toThrow(/signature/);
    const [body, signature] = token.slice(4).split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), tenant: 'globex' })).toString('base64url');
    expect(() => verifyTenantToken(`mlt_${forged}.${signature}`, secret, NOW)).toThrow(/signature/);
  });

  it.each([
    { name: 'a write scope', change: { scopes: ['events:write'] as const }, message: /read scopes only/ },
    { name: 'no expiry', change: { ttlMs: 0 }, message: /at most 24 h/ },
    { name: 'too long', change: { ttlMs: 25 * 3_600_000 }, message: /at most 24 h/ },
  ])('cannot be issued with $name', ({ change, message }) => {
    expect(() => signTenantToken({ ...request, ...change }, secret, NOW)).toThrow(message);
  });
});
