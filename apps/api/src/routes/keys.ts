import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AccessError, SCOPES, TENANT_TOKEN_SCOPES, signTenantToken, type Scope } from '@meterline/domain';
import type { KeyBook, KeyStore } from '@meterline/access';
import { tenantOf } from '../auth';
import { HttpProblem } from '../problem';

export interface KeyRouteDeps {
  keys: KeyBook;
  store: KeyStore;
  tokenSecret: string | undefined;
  clock: () => number;
}

const keyView = z.object({
  id: z.string(), name: z.string(), scopes: z.array(z.enum(SCOPES)), tenant_id: z.string().nullable(),
  created_at: z.string(), expires_at: z.string().nullable(), revoked_at: z.string().nullable(), last_used_at: z.string().nullable(),
});
const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** Admin management of API keys, and tenant read tokens for embedding usage in a customer's UI. */
export const keyRoutes = ({ keys, store, tokenSecret, clock }: KeyRouteDeps): FastifyPluginCallbackZod => (app, _options, done) => {
  app.post('/v1/keys', {
    config: { scope: 'admin' },
    schema: {
      tags: ['keys'],
      summary: 'Create an API key; the token is in this answer only',
      body: z.strictObject({ name: z.string().min(1).max(200), scopes: z.array(z.enum(SCOPES)).min(1), tenant_id: z.string().min(1).max(256).optional(), expires_at: z.iso.datetime({ offset: true }).optional() }),
      response: { 201: keyView.extend({ token: z.string() }) },
    },
  }, async (request, reply) => {
    const { name, scopes, tenant_id, expires_at } = request.body;
    const { token, record } = await store.create({ name, scopes, tenantId: tenant_id, expiresAt: expires_at === undefined ? undefined : Date.parse(expires_at) });
    return reply.code(201).send({ id: record.id, name: record.name, scopes: record.scopes, tenant_id: record.tenant_id, created_at: iso(record.created_at) as string, expires_at: iso(record.expires_at), revoked_at: null, last_used_at: null, token });
  });

  app.get('/v1/keys', {
    config: { scope: 'admin' },
    schema: { tags: ['keys'], summary: 'Every key (never its secret), with its last use', response: { 200: z.object({ keys: z.array(keyView) }) } },
  }, async () => {
    const records = await store.list();
    const lastUsed = await keys.lastUsed(records.map((r) => r.id));
    return { keys: records.map((r) => ({ id: r.id, name: r.name, scopes: r.scopes, tenant_id: r.tenant_id, created_at: iso(r.created_at) as string, expires_at: iso(r.expires_at), revoked_at: iso(r.revoked_at), last_used_at: iso(lastUsed.get(r.id)) })) };
  });

  app.delete('/v1/keys/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['keys'], summary: 'Revoke a key (and the tenant tokens it issued)', params: z.object({ id: z.string().min(1) }) },
  }, async (request, reply) => {
    if (!(await store.revoke(request.params.id))) throw new HttpProblem(404, 'KEY_NOT_FOUND', `no API key has the id ${request.params.id}`);
    return reply.code(204).send();
  });

  app.post('/v1/tenant-tokens', {
    config: { scope: 'usage:read' },
    schema: {
      tags: ['keys'],
      summary: "A short-lived read token for one tenant, to embed its usage in the platform's own UI",
      body: z.strictObject({ tenant_id: z.string().min(1).max(256), scopes: z.array(z.enum(TENANT_TOKEN_SCOPES as [Scope, ...Scope[]])).min(1).default(['usage:read']), ttl_seconds: z.number().int().min(1).max(86_400).default(900) }),
      response: { 201: z.object({ token: z.string(), tenant_id: z.string(), scopes: z.array(z.string()), expires_at: z.string() }) },
    },
  }, async (request, reply) => {
    if (tokenSecret === undefined) throw new HttpProblem(503, 'TOKENS_DISABLED', 'tenant read tokens are not enabled on this server (set METERLINE_TOKEN_SECRET)');
    const principal = request.principal;
    if (principal?.kind !== 'api-key') throw new AccessError('SCOPE_MISSING', 'a tenant token is issued with an API key, not with another token');
    const tenant = tenantOf(request, request.body.tenant_id, clock()) as string;
    const { token, expiresAt } = signTenantToken({ issuerKeyId: principal.keyId, tenantId: tenant, scopes: request.body.scopes, ttlMs: request.body.ttl_seconds * 1000 }, tokenSecret, clock());
    return reply.code(201).send({ token, tenant_id: tenant, scopes: request.body.scopes, expires_at: new Date(expiresAt).toISOString() });
  });
  done();
};
