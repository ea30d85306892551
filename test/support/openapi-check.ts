import { Ajv2020 } from 'ajv/dist/2020.js';

interface Operation { responses?: Record<string, { content?: Record<string, { schema?: object }> }> }
interface Document { paths: Record<string, Record<string, Operation>> }

/**
 * Checks API answers against the OpenAPI document the server serves: the route template that
 * matches the path, the operation of the method, the schema of the status. An answer whose
 * status the operation declares must match its schema; a declared JSON answer must exist for
 * every 2xx with a body.
 */
export class OpenApiCheck {
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true });
  readonly #routes: { template: string; pattern: RegExp; methods: Record<string, Operation> }[];
  checked = 0;

  constructor(document: Document) {
    this.#routes = Object.entries(document.paths).map(([template, methods]) => ({
      template,
      // An empty parameter (`/v1/usage/`) reaches its route too (and is refused there).
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]*')}$`),
      methods,
    }));
  }

  /** Whether the document has an operation for this method and URL (false: the router's 404 or a body refused before routing). */
  documents(method: string, url: string): boolean {
    const route = this.#route(url);
    return route !== undefined && route.methods[method.toLowerCase()] !== undefined;
  }

  #route(url: string) {
    const path = url.split('?')[0] ?? url;
    // The most literal template wins: "/v1/usage/query" over "/v1/usage/{tenant}",
    // "/v1/quotas/{tenant}/check" over "/v1/quotas/{tenant}/{quota_id}".
    const params = (template: string): number => template.split('{').length;
    return this.#routes.filter((r) => r.pattern.test(path)).sort((a, b) => params(a.template) - params(b.template))[0];
  }

  /** Throws naming the route, status and schema errors when the answer does not match. */
  check(method: string, url: string, status: number, body: unknown): void {
    const path = url.split('?')[0] ?? url;
    if (path === '/openapi.json') return; // the document itself
    const route = this.#route(url);
    if (route === undefined) {
      if (status === 404) return;
      throw new Error(`${method} ${path}: no route in the document answers it (got ${status})`);
    }
    const operation = route.methods[method.toLowerCase()];
    if (operation === undefined) throw new Error(`${method} ${route.template}: no such operation in the document`);
    const schema = operation.responses?.[String(status)]?.content?.['application/json']?.schema;
    if (schema === undefined) {
      if (status >= 200 && status < 300 && body !== undefined) throw new Error(`${method} ${route.template} ${status}: the document declares no JSON answer for it`);
      return;
    }
    const validate = this.#ajv.compile(schema);
    if (!validate(body)) throw new Error(`${method} ${route.template} ${status}: the answer does not match the document: ${this.#ajv.errorsText(validate.errors)}`);
    this.checked++;
  }
}
