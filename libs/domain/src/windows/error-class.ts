/**
 * Error and status classes for rollups: a bounded set of labels, so rollup rows and dashboards
 * do not grow with every provider's spelling of "too many requests".
 *
 * `classifyError(error_type, status_code)`:
 *   1. No error_type (null or blank) and status_code null or < 400: a successful call, `null`.
 *   2. error_type, normalised (trimmed, lower case, runs of space, `-`, `.` and `/` turned into
 *      `_`), found in ERROR_TYPE_ALIASES below: that class.
 *   3. error_type that is a 3-digit HTTP status (`"429"`): the status table below.
 *   4. status_code >= 400 in the status table: that class.
 *   5. Anything else that is an error (unknown error_type, or an unmapped status >= 400): `other`.
 *
 * Status table (STATUS_CLASSES):
 *   400 validation_error   401 authentication_error   403 authorization_error
 *   404 model_unavailable  408 timeout                413 validation_error
 *   422 validation_error   429 rate_limit             500 internal_error
 *   502 service_unavailable  503 service_unavailable  504 timeout
 *   524 timeout (Cloudflare "a timeout occurred")     529 service_unavailable (Anthropic overloaded)
 * Every other status >= 400 (405, 409, 418, 501, 507, ...) is `other`.
 *
 * A recognised error_type wins over the status: providers report `context_length_exceeded`
 * with 400, `insufficient_quota` with 429, and a gateway may time out with 500.
 */

export const errorClasses = [
  'rate_limit',
  'timeout',
  'validation_error',
  'authentication_error',
  'authorization_error',
  'internal_error',
  'service_unavailable',
  'out_of_memory',
  'model_unavailable',
] as const;

/** A known class or `other`. */
export type ErrorClass = (typeof errorClasses)[number] | 'other';

/** Every value `classifyError` can return besides null, `other` last. */
export const allErrorClasses: readonly ErrorClass[] = [...errorClasses, 'other'];

const aliasGroups: Record<(typeof errorClasses)[number], readonly string[]> = {
  rate_limit: [
    'rate_limit', 'ratelimit', 'rate_limited', 'rate_limit_error', 'rate_limit_exceeded', 'ratelimitexceeded', 'ratelimiterror',
    'too_many_requests', 'toomanyrequests', 'throttled', 'throttling', 'throttlingexception', 'resource_exhausted',
    'quota_exceeded', 'insufficient_quota', 'tokens_per_minute_exceeded', 'requests_per_minute_exceeded',
  ],
  timeout: [
    'timeout', 'timed_out', 'timeout_error', 'timeouterror', 'request_timeout', 'read_timeout', 'connect_timeout',
    'connection_timeout', 'gateway_timeout', 'deadline_exceeded', 'etimedout', 'esockettimedout', 'apitimeouterror',
  ],
  validation_error: [
    'validation_error', 'validation', 'validationerror', 'validationexception', 'invalid_request', 'invalid_request_error',
    'bad_request', 'badrequest', 'badrequesterror', 'invalid_argument', 'invalid_parameter', 'invalid_input',
    'unprocessable_entity', 'failed_precondition', 'context_length_exceeded', 'request_too_large', 'payload_too_large',
    'content_filter', 'content_policy_violation',
  ],
  authentication_error: [
    'authentication_error', 'authentication', 'authenticationerror', 'unauthenticated', 'unauthorized', 'unauthorised',
    'invalid_api_key', 'invalid_key', 'expired_api_key', 'incorrect_api_key',
  ],
  authorization_error: [
    'authorization_error', 'authorization', 'permission_error', 'permission_denied', 'permissiondeniederror',
    'forbidden', 'access_denied', 'accessdeniedexception', 'not_authorized',
  ],
  internal_error: [
    'internal_error', 'internal', 'internal_server_error', 'internalservererror', 'internalserverexception',
    'server_error', 'api_error', 'apierror',
  ],
  service_unavailable: [
    'service_unavailable', 'serviceunavailable', 'serviceunavailableexception', 'unavailable', 'overloaded',
    'overloaded_error', 'server_overloaded', 'bad_gateway', 'connection_error', 'apiconnectionerror',
    'econnrefused', 'econnreset', 'engine_overloaded',
  ],
  out_of_memory: ['out_of_memory', 'outofmemory', 'oom', 'oom_killed', 'oomkilled', 'cuda_out_of_memory', 'cuda_oom', 'gpu_out_of_memory'],
  model_unavailable: [
    'model_unavailable', 'model_not_available', 'model_not_found', 'model_not_loaded', 'model_loading', 'model_overloaded',
    'model_deprecated', 'model_decommissioned', 'not_found', 'not_found_error', 'notfounderror', 'deployment_not_found',
    'resourcenotfoundexception', 'modelnotreadyexception',
  ],
};

/**
 * Known error_type spellings, normalised (see `normaliseErrorType`), to their class.
 * `model_overloaded` is model_unavailable (that model, not the service); `resource_exhausted`
 * (gRPC) and `insufficient_quota` (OpenAI) are rate_limit, as providers send them with 429.
 */
export const ERROR_TYPE_ALIASES: ReadonlyMap<string, ErrorClass> = buildAliases();

function buildAliases(): Map<string, ErrorClass> {
  const map = new Map<string, ErrorClass>();
  for (const cls of errorClasses) {
    for (const alias of aliasGroups[cls]) {
      const seen = map.get(alias);
      if (seen !== undefined) throw new Error(`error_type alias ${JSON.stringify(alias)} is listed under ${seen} and ${cls}`);
      map.set(alias, cls);
    }
  }
  return map;
}

/** HTTP status to class, for statuses >= 400 that mean something specific. */
export const STATUS_CLASSES: ReadonlyMap<number, ErrorClass> = new Map<number, ErrorClass>([
  [400, 'validation_error'],
  [401, 'authentication_error'],
  [403, 'authorization_error'],
  [404, 'model_unavailable'],
  [408, 'timeout'],
  [413, 'validation_error'],
  [422, 'validation_error'],
  [429, 'rate_limit'],
  [500, 'internal_error'],
  [502, 'service_unavailable'],
  [503, 'service_unavailable'],
  [504, 'timeout'],
  [524, 'timeout'],
  [529, 'service_unavailable'],
]);

/** `Rate-Limit Exceeded ` -> `rate_limit_exceeded`; `ThrottlingException` -> `throttlingexception`. */
export function normaliseErrorType(errorType: string): string {
  return errorType
    .trim()
    .toLowerCase()
    .replace(/[\s\-./]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

function isErrorStatus(status: number | null): status is number {
  return status !== null && Number.isFinite(status) && status >= 400;
}

/** The class of a call, or null when it succeeded. See the module comment for the table. */
export function classifyError(error_type: string | null, status_code: number | null): ErrorClass | null {
  const normalised = error_type === null ? '' : normaliseErrorType(error_type);
  if (normalised === '') {
    if (!isErrorStatus(status_code)) return null;
    return STATUS_CLASSES.get(status_code) ?? 'other';
  }
  const byName = ERROR_TYPE_ALIASES.get(normalised);
  if (byName !== undefined) return byName;
  if (/^[1-5]\d\d$/.test(normalised)) {
    const byCode = STATUS_CLASSES.get(Number(normalised));
    if (byCode !== undefined) return byCode;
  }
  if (isErrorStatus(status_code)) return STATUS_CLASSES.get(status_code) ?? 'other';
  return 'other';
}

export const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const;
export type StatusClass = (typeof statusClasses)[number];

/** `'2xx'` for 200..299 and so on; `'none'` for null or anything not an integer in 100..599. */
export function statusClass(status_code: number | null): StatusClass {
  if (status_code === null || !Number.isInteger(status_code) || status_code < 100 || status_code > 599) return 'none';
  switch (Math.floor(status_code / 100)) {
    case 1:
      return '1xx';
    case 2:
      return '2xx';
    case 3:
      return '3xx';
    case 4:
      return '4xx';
    default:
      return '5xx';
  }
}
