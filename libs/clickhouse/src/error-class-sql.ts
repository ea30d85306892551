import { ERROR_TYPE_ALIASES, STATUS_CLASSES } from '@meterline/domain';

/**
 * classifyError and statusClass (libs/domain/src/windows/error-class.ts) as ClickHouse
 * expressions over a raw row's error_type and status_code, built from the domain's own tables
 * (ERROR_TYPE_ALIASES, STATUS_CLASSES), passed as query parameters: one definition of the rules.
 * A successful call's error class is `'none'` (the domain's null). Known gap: the SQL treats only
 * ASCII whitespace as a separator (re2 `\s`), JavaScript's `\s` also Unicode spaces.
 */
export function errorClassSql(errorType: string, statusCode: string, params: Record<string, unknown>): string {
  params.ec_alias_names = [...ERROR_TYPE_ALIASES.keys()];
  params.ec_alias_classes = [...ERROR_TYPE_ALIASES.values()];
  params.ec_status_codes = [...STATUS_CLASSES.keys()];
  params.ec_status_classes = [...STATUS_CLASSES.values()];
  // normaliseErrorType: lower case, runs of whitespace, `-`, `.`, `/` to `_`, `_` trimmed at both ends.
  const normalised = `replaceRegexpAll(replaceRegexpAll(lowerUTF8(ifNull(${errorType}, '')), '[\\\\s\\\\-./]+', '_'), '^_+|_+$', '')`;
  const byStatus = (code: string) => `transform(toUInt32(${code}), {ec_status_codes:Array(UInt32)}, {ec_status_classes:Array(String)}, 'other')`;
  const isErrorStatus = `ifNull(${statusCode}, 0) >= 400`;
  return `multiIf(
    ${normalised} = '', if(${isErrorStatus}, ${byStatus(`ifNull(${statusCode}, 0)`)}, 'none'),
    has({ec_alias_names:Array(String)}, ${normalised}), transform(${normalised}, {ec_alias_names:Array(String)}, {ec_alias_classes:Array(String)}, 'other'),
    match(${normalised}, '^[1-5][0-9][0-9]$') AND has({ec_status_codes:Array(UInt32)}, toUInt32OrZero(${normalised})), ${byStatus(`toUInt32OrZero(${normalised})`)},
    ${isErrorStatus}, ${byStatus(`ifNull(${statusCode}, 0)`)},
    'other')`;
}

/** statusClass: `'2xx'` for 200..299 and so on, `'none'` for NULL or anything outside 100..599. */
export function statusClassSql(statusCode: string): string {
  return `if(${statusCode} IS NULL OR ${statusCode} < 100 OR ${statusCode} > 599, 'none', concat(toString(intDiv(assumeNotNull(${statusCode}), 100)), 'xx'))`;
}
