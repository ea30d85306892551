import type { FastifyRequest } from 'fastify';
import type { ApiServer } from './server';
import { authorize, type Principal, type Scope } from '@meterline/domain';
import type { KeyBook } from '@meterline/access';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; absent: the route is open (only /livez, /readyz, /openapi.json). */
    scope?: Scope;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/**
 * Authentication as route metadata: one hook resolves the bearer credential (an API key or a
 * tenant read token) to a principal and checks the route's scope, before the body is read.
 * Tenant filters are applied by the handlers through `tenantOf`.
 */
export function installAuth(app: ApiServer, keys: KeyBook, clock: () => number): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const scope = request.routeOptions.config.scope;
    if (scope === undefined) return done();
    try {
      const principal = keys.resolve(bearer(request), clock());
      authorize(principal, scope, undefined, clock());
      request.principal = principal;
      done();
    } catch (error) {
      done(error as Error);
    }
  });
}

/**
 * The tenant an operation is confined to: the one asked for, checked against the key's binding,
 * or the key's own tenant when none was asked for (the injected filter). Undefined: all tenants.
 */
export function tenantOf(request: FastifyRequest, asked: string | undefined, now: number): string | undefined {
  const scope = request.routeOptions.config.scope;
  if (request.principal === undefined || scope === undefined) return asked;
  return authorize(request.principal, scope, asked, now);
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? '';
}
