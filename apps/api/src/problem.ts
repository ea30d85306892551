import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AccessError, QuotaDefinitionError } from '@meterline/domain';
import { MeterlineError, errorMessage, type Logger } from '@meterline/platform';

/** An error that is the caller's to fix (4xx) or a dependency's state (503), with a stable code. */
export class HttpProblem extends MeterlineError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

/** RFC 9457 problem details, as every error leaves (declared on every route's error statuses). */
export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  code: z.string().describe('stable, for programs: KEY_MISSING, SCOPE_MISSING, TENANT_FORBIDDEN, REQUEST_INVALID, RATE_LIMITED, ...'),
  detail: z.string(),
  instance: z.string().describe('the request id, also in the server log'),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

type ProblemBody = z.infer<typeof problemSchema>;

/**
 * Every error leaves as `application/problem+json` (RFC 9457) with a stable `code`; `instance`
 * is the request id, also in the log. A 500 says nothing of the internals.
 */
export function problemHandler(log: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const problem = toProblem(error, request);
    if (problem.status >= 500) log.error({ err: errorMessage(error), reqId: request.id, url: request.url }, 'request failed');
    if (problem.status === 401) void reply.header('www-authenticate', 'Bearer');
    return reply.code(problem.status).type('application/problem+json').send(problem);
  };
}

function toProblem(error: FastifyError, request: FastifyRequest): ProblemBody {
  const base = (status: number, code: string, detail: string): ProblemBody => ({ type: `https://meterline.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`, title: code, status, code, detail, instance: request.id });
  if (hasZodFastifySchemaValidationErrors(error)) {
    const errors = error.validation.map((issue) => ({ path: `${error.validationContext ?? 'request'}${issue.instancePath.replaceAll('/', '.')}`, message: issue.message ?? 'invalid' }));
    return { ...base(400, 'REQUEST_INVALID', `the request does not match the route's schema: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`), errors };
  }
  if (error instanceof AccessError) return base(error.status, error.code, error.message);
  if (error instanceof QuotaDefinitionError) return base(400, error.code, error.message);
  if (error instanceof HttpProblem) return base(error.status, error.code, error.message);
  // Fastify's own 4xx: unparseable JSON, a body too large, a bad URL, an unsupported media type.
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) return base(error.statusCode, error.code ?? 'BAD_REQUEST', error.message);
  return base(500, 'INTERNAL', 'internal error; the server log has the details (look for this instance id)');
}
