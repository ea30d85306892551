import { maxUnitsPerEvent, optionalStringFields, tokenBuckets, unitNamePattern, type UsageEvent } from './usage-event';

export interface EventLimits {
  /** How far before the reference time `occurred_at` may be. */
  maxPastMs: number;
  /** How far after the reference time `occurred_at` may be (clock skew allowance). */
  maxFutureMs: number;
  /** Longest id-like string (tenant, project, ids, provider, model, operation), in UTF-16 units. */
  maxStringLength: number;
  maxMetadataEntries: number;
  /** Sum of metadata key and value lengths. */
  maxMetadataChars: number;
  /** Longest plausible latency or time to first token, ms: past it the telemetry value is dropped (reported, the usage kept). */
  maxTelemetryMs: number;
}

export const defaultEventLimits: EventLimits = {
  maxPastMs: 90 * 86_400_000,
  maxFutureMs: 10 * 60_000,
  maxStringLength: 256,
  maxMetadataEntries: 32,
  maxMetadataChars: 4_096,
  maxTelemetryMs: 86_400_000,
};

export interface Violation {
  /** The field at fault, as named in the contract (e.g. `input_tokens`, `metadata.region`). */
  field: string;
  /** A stable rule name callers can branch on (e.g. `non_negative_integer`). */
  rule: string;
  message: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks an event against the contract. Returns every violation (empty when valid), so the
 * caller's error names each field and rule at once. `referenceTime` is "now" for a producer
 * and the Kafka message timestamp for a consumer, so replaying an old topic stays valid.
 * Only what decides the bill is checked here (identity, time, buckets, units, tier, metadata):
 * telemetry (latency, ttft, status code) never rejects an event, see {@link screenTelemetry}.
 */
export function validateUsageEvent(event: UsageEvent, referenceTime: number, limits: EventLimits = defaultEventLimits): Violation[] {
  // Checks are module functions, not closures: this runs once per event in the consumers.
  const violations: Violation[] = [];
  requiredString(violations, limits, event.event_id, 'event_id');
  requiredString(violations, limits, event.tenant_id, 'tenant_id');
  requiredString(violations, limits, event.provider, 'provider');
  requiredString(violations, limits, event.model, 'model');
  requiredString(violations, limits, event.operation, 'operation');
  for (const field of optionalStringFields) {
    const value = event[field];
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string') add(violations, field, 'string', `${field} must be a string or null, got ${typeof value}`);
    else if (value.length === 0) add(violations, field, 'non_empty', `${field} must be null or a non-empty string`);
    else if (value.length > limits.maxStringLength) add(violations, field, 'max_length', `${field} is ${value.length} characters, over the limit of ${limits.maxStringLength}`);
  }
  if (typeof event.api_key_hash === 'string' && event.api_key_hash.length > 0 && !HEX64.test(event.api_key_hash)) {
    add(violations, 'api_key_hash', 'sha256_hex', 'api_key_hash must be 64 lowercase hex characters (a SHA-256 digest); pass the raw key as `api_key` to the shim, which hashes it');
  }

  if (!Number.isSafeInteger(event.occurred_at)) {
    add(violations, 'occurred_at', 'epoch_millis', `occurred_at must be an integer number of epoch milliseconds, got ${formatValue(event.occurred_at)}`);
  } else if (event.occurred_at < referenceTime - limits.maxPastMs) {
    add(violations, 'occurred_at', 'max_past', `occurred_at ${instant(event.occurred_at)} is more than ${limits.maxPastMs} ms before ${instant(referenceTime)}`);
  } else if (event.occurred_at > referenceTime + limits.maxFutureMs) {
    add(violations, 'occurred_at', 'max_future', `occurred_at ${instant(event.occurred_at)} is more than ${limits.maxFutureMs} ms after ${instant(referenceTime)}`);
  }

  for (const bucket of tokenBuckets) nonNegativeInteger(violations, event[bucket], bucket, false);
  checkUnits(violations, event.units);

  const metadata: unknown = event.metadata;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    add(violations, 'metadata', 'string_map', 'metadata must be an object of string values');
  } else {
    let entries = 0;
    let chars = 0;
    for (const key in metadata) {
      if (!Object.hasOwn(metadata, key)) continue;
      entries++;
      const value: unknown = (metadata as Record<string, unknown>)[key];
      if (typeof value !== 'string') add(violations, `metadata.${key}`, 'string', `metadata.${key} must be a string, got ${typeof value}`);
      else chars += key.length + value.length;
    }
    if (entries > limits.maxMetadataEntries) {
      add(violations, 'metadata', 'max_entries', `metadata has ${entries} entries, over the limit of ${limits.maxMetadataEntries}`);
    }
    if (chars > limits.maxMetadataChars) {
      add(violations, 'metadata', 'max_size', `metadata keys and values total ${chars} characters, over the limit of ${limits.maxMetadataChars}`);
    }
  }
  return violations;
}

/** Per-request units are billed: a malformed map rejects the event like a malformed bucket. */
function checkUnits(violations: Violation[], units: unknown): void {
  if (units === null || typeof units !== 'object' || Array.isArray(units)) {
    add(violations, 'units', 'count_map', 'units must be an object of unit name -> non-negative integer count');
    return;
  }
  let entries = 0;
  for (const name in units) {
    if (!Object.hasOwn(units, name)) continue;
    entries++;
    if (!unitNamePattern.test(name)) add(violations, `units.${name.slice(0, 64)}`, 'unit_name', `unit name ${JSON.stringify(name.slice(0, 64))} must match ${unitNamePattern.source} (e.g. web_search)`);
    nonNegativeInteger(violations, (units as Record<string, unknown>)[name], `units.${name.slice(0, 64)}`, false);
  }
  if (entries > maxUnitsPerEvent) add(violations, 'units', 'max_entries', `units has ${entries} names, over the limit of ${maxUnitsPerEvent}`);
}

/** A telemetry value that was dropped (set to null) instead of rejecting the event's usage. */
export interface TelemetryWarning {
  field: 'latency_ms' | 'ttft_ms' | 'status_code';
  rule: 'finite_non_negative' | 'max_ms' | 'http_status';
  /** The value as given, for the report. */
  value: string;
}

/**
 * Screens the telemetry of an event that passed {@link validateUsageEvent}: a latency or time to
 * first token that is not a finite non-negative number of ms (fractions are fine) or is past
 * `maxTelemetryMs`, or a status code outside 100-599, is SET TO NULL on the event (so it cannot
 * poison averages or maxima) and returned as a warning. The billable usage is kept: a bad
 * stopwatch never costs a bill. Returns [] (and changes nothing) for clean telemetry.
 */
export function screenTelemetry(event: UsageEvent, limits: EventLimits = defaultEventLimits): TelemetryWarning[] {
  const warnings = telemetryWarnings(event, limits);
  for (const w of warnings) event[w.field] = null;
  return warnings;
}

/**
 * What {@link screenTelemetry} would drop, without changing the event: the shim counts these and
 * sends the values as they are, so the raw store records what was dropped (a consumer screens).
 */
export function telemetryWarnings(event: Pick<UsageEvent, 'latency_ms' | 'ttft_ms' | 'status_code'>, limits: EventLimits = defaultEventLimits): TelemetryWarning[] {
  let warnings: TelemetryWarning[] | undefined;
  const latency = telemetryProblem(event.latency_ms, limits.maxTelemetryMs);
  if (latency !== undefined) (warnings ??= []).push({ field: 'latency_ms', rule: latency, value: formatValue(event.latency_ms) });
  const ttft = telemetryProblem(event.ttft_ms, limits.maxTelemetryMs);
  if (ttft !== undefined) (warnings ??= []).push({ field: 'ttft_ms', rule: ttft, value: formatValue(event.ttft_ms) });
  const status: unknown = event.status_code;
  if (status !== null && status !== undefined && (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599)) {
    (warnings ??= []).push({ field: 'status_code', rule: 'http_status', value: formatValue(status) });
  }
  return warnings ?? NO_WARNINGS;
}

const NO_WARNINGS: TelemetryWarning[] = [];

function telemetryProblem(value: unknown, maxMs: number): TelemetryWarning['rule'] | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return 'finite_non_negative';
  return value > maxMs ? 'max_ms' : undefined;
}

/** The metadata key under which the raw store records dropped telemetry (the event's own metadata is unchanged otherwise). */
export const TELEMETRY_DROPPED_METADATA_KEY = 'meterline.telemetry_dropped';

/** One line for the report: `latency_ms=-3 [finite_non_negative]; status_code=42 [http_status]`. */
export function describeTelemetryWarnings(warnings: readonly TelemetryWarning[]): string {
  return warnings.map((w) => `${w.field}=${w.value} [${w.rule}]`).join('; ');
}

function add(violations: Violation[], field: string, rule: string, message: string): void {
  violations.push({ field, rule, message });
}

function requiredString(violations: Violation[], limits: EventLimits, value: unknown, field: string): void {
  if (typeof value !== 'string') add(violations, field, 'required', `${field} is required (a non-empty string), got ${value === null ? 'null' : typeof value}`);
  else if (value.trim().length === 0) add(violations, field, 'non_empty', `${field} must not be empty`);
  else if (value.length > limits.maxStringLength) add(violations, field, 'max_length', `${field} is ${value.length} characters, over the limit of ${limits.maxStringLength}`);
}

/** The largest count the wire carries: avsc encodes an Avro long exactly up to 2^53 - 2. */
export const MAX_EVENT_INTEGER = 9_007_199_254_740_990;

function nonNegativeInteger(violations: Violation[], value: unknown, field: string, nullable: boolean): void {
  if (nullable && (value === null || value === undefined)) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    add(violations, field, 'non_negative_integer', `${field} must be a non-negative integer, got ${formatValue(value)}`);
  } else if (value < 0) {
    add(violations, field, 'non_negative_integer', `${field} must be a non-negative integer, got ${value}`);
  } else if (value > MAX_EVENT_INTEGER) {
    add(violations, field, 'non_negative_integer', `${field} must be at most ${MAX_EVENT_INTEGER} (the largest integer an Avro long carries exactly here), got ${value}`);
  }
}

/**
 * ISO 8601 for the message; epoch ms past Date's range (±8.64e15 ms), where toISOString
 * throws: a safe-integer occurred_at or a Kafka timestamp can be out there.
 */
function instant(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms since the epoch` : date.toISOString();
}

/** The value for a message; never throws (String() does for an object without a prototype or with a throwing toString). */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** One line per violation, for error messages and DLQ headers. */
export function describeViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.field}: ${v.message} [${v.rule}]`).join('; ');
}
