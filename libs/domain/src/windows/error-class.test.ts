import { describe, expect, it } from 'vitest';
import { ERROR_TYPE_ALIASES, STATUS_CLASSES, allErrorClasses, classifyError, errorClasses, normaliseErrorType, statusClass, type ErrorClass } from './error-class';

describe('classifyError', () => {
  it.each<[string, string | null, number | null, ErrorClass | null]>([
    // successes
    ['no error, 200', null, 200, null],
    ['no error, no status', null, null, null],
    ['no error, 304', null, 304, null],
    ['no error, 101', null, 101, null],
    ['blank error_type, 200', '   ', 200, null],
    // error_type aliases, any case and separator
    ['rate_limit', 'rate_limit', 429, 'rate_limit'],
    ['RateLimit', 'RateLimit', null, 'rate_limit'],
    ['rate-limit-exceeded', 'rate-limit-exceeded', null, 'rate_limit'],
    ['Rate Limit Exceeded', 'Rate Limit Exceeded', null, 'rate_limit'],
    ['RESOURCE_EXHAUSTED (gRPC/Gemini)', 'RESOURCE_EXHAUSTED', null, 'rate_limit'],
    ['insufficient_quota (OpenAI)', 'insufficient_quota', 429, 'rate_limit'],
    ['ThrottlingException (Bedrock)', 'ThrottlingException', 400, 'rate_limit'],
    ['"429" as error_type', '429', null, 'rate_limit'],
    ['timeout', 'timeout', null, 'timeout'],
    ['DEADLINE_EXCEEDED', 'DEADLINE_EXCEEDED', null, 'timeout'],
    ['ETIMEDOUT', 'ETIMEDOUT', null, 'timeout'],
    ['"504" as error_type', '504', 200, 'timeout'],
    ['invalid_request_error (OpenAI/Anthropic)', 'invalid_request_error', 400, 'validation_error'],
    ['context_length_exceeded (400)', 'context_length_exceeded', 400, 'validation_error'],
    ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', null, 'validation_error'],
    ['unauthorized', 'unauthorized', null, 'authentication_error'],
    ['invalid_api_key', 'invalid_api_key', 401, 'authentication_error'],
    ['UNAUTHENTICATED', 'UNAUTHENTICATED', null, 'authentication_error'],
    ['permission_error (Anthropic)', 'permission_error', 403, 'authorization_error'],
    ['PERMISSION_DENIED', 'PERMISSION_DENIED', null, 'authorization_error'],
    ['forbidden', 'Forbidden', null, 'authorization_error'],
    ['api_error (Anthropic)', 'api_error', 500, 'internal_error'],
    ['server_error (OpenAI)', 'server_error', 500, 'internal_error'],
    ['overloaded_error (Anthropic 529)', 'overloaded_error', 529, 'service_unavailable'],
    ['UNAVAILABLE', 'UNAVAILABLE', null, 'service_unavailable'],
    ['ECONNREFUSED', 'ECONNREFUSED', null, 'service_unavailable'],
    ['CUDA out of memory', 'CUDA out of memory', null, 'out_of_memory'],
    ['OOMKilled', 'OOMKilled', null, 'out_of_memory'],
    ['model_not_found', 'model_not_found', 404, 'model_unavailable'],
    ['not_found_error (Anthropic)', 'not_found_error', 404, 'model_unavailable'],
    ['model overloaded', 'model.overloaded', 503, 'model_unavailable'],
    // a known error_type wins over the status
    ['timeout reported with 500', 'timeout', 500, 'timeout'],
    ['error_type on a 200 (stream broke)', 'timeout', 200, 'timeout'],
    // unknown error_type: fall back on the status, then other
    ['unknown error_type, 429', 'weird_thing', 429, 'rate_limit'],
    ['unknown error_type, 503', 'weird_thing', 503, 'service_unavailable'],
    ['unknown error_type, no status', 'weird_thing', null, 'other'],
    ['unknown error_type, 200', 'weird_thing', 200, 'other'],
    ['unknown error_type, unmapped 418', 'weird_thing', 418, 'other'],
    ['unmapped numeric error_type, 502', '418', 502, 'service_unavailable'],
    ['unmapped numeric error_type, no status', '418', null, 'other'],
    // status only
    ['status 400', null, 400, 'validation_error'],
    ['status 401', null, 401, 'authentication_error'],
    ['status 403', null, 403, 'authorization_error'],
    ['status 404', null, 404, 'model_unavailable'],
    ['status 408', null, 408, 'timeout'],
    ['status 413', null, 413, 'validation_error'],
    ['status 422', null, 422, 'validation_error'],
    ['status 429', null, 429, 'rate_limit'],
    ['status 500', null, 500, 'internal_error'],
    ['status 502', null, 502, 'service_unavailable'],
    ['status 503', null, 503, 'service_unavailable'],
    ['status 504', null, 504, 'timeout'],
    ['status 524', null, 524, 'timeout'],
    ['status 529', null, 529, 'service_unavailable'],
    ['status 409 (unmapped)', null, 409, 'other'],
    ['status 501 (unmapped)', null, 501, 'other'],
  ])('%s', (_what, errorType, status, expected) => {
    expect(classifyError(errorType, status)).toBe(expected);
  });

  it('gives each alias one class, and every class has aliases', () => {
    const classes = new Set(ERROR_TYPE_ALIASES.values());
    for (const cls of errorClasses) expect(classes.has(cls)).toBe(true);
    for (const alias of ERROR_TYPE_ALIASES.keys()) expect(normaliseErrorType(alias)).toBe(alias);
    for (const cls of errorClasses) expect(classifyError(cls, null)).toBe(cls);
  });

  it('only returns known classes', () => {
    const all = new Set<ErrorClass | null>([...allErrorClasses, null]);
    for (let status = 100; status <= 599; status++) {
      expect(all.has(classifyError(null, status))).toBe(true);
      expect(all.has(classifyError(String(status), null))).toBe(true);
    }
    for (const cls of STATUS_CLASSES.values()) expect(all.has(cls)).toBe(true);
  });
});

describe('normaliseErrorType', () => {
  it.each([
    ['Rate Limit Exceeded ', 'rate_limit_exceeded'],
    ['rate-limit', 'rate_limit'],
    ['model.not.found', 'model_not_found'],
    ['a - b', 'a_b'],
    ['__x__', 'x'],
    ['provider/timeout', 'provider_timeout'],
  ])('%j -> %j', (input, expected) => {
    expect(normaliseErrorType(input)).toBe(expected);
  });
});

describe('statusClass', () => {
  it.each<[number | null, string]>([
    [null, 'none'],
    [100, '1xx'],
    [199, '1xx'],
    [200, '2xx'],
    [204, '2xx'],
    [301, '3xx'],
    [399, '3xx'],
    [400, '4xx'],
    [429, '4xx'],
    [500, '5xx'],
    [599, '5xx'],
    [0, 'none'],
    [99, 'none'],
    [600, 'none'],
    [200.5, 'none'],
    [Number.NaN, 'none'],
  ])('%s -> %s', (status, expected) => {
    expect(statusClass(status)).toBe(expected);
  });
});
