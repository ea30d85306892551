import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isValidTimeZone, quotaPeriodKinds, type QuotaPeriodKind } from './period';
import { MeterlineError } from '../errors';

/**
 * Quota definitions: a limit on one metric of a tenant's usage (optionally narrowed to a project,
 * an API key or a model) per calendar day or month in the tenant's time zone.
 */

/**
 * What a quota counts per event (buckets are disjoint, see UsageEvent):
 * - total_tokens: every token bucket;
 * - prompt_tokens: everything the model read: input (uncached text) + cache reads + cache writes
 *   (5-minute and 1-hour) + audio and image input;
 * - completion_tokens: everything it produced: output (visible text) + reasoning + audio and image output;
 * - a bucket's own name (cache_read_tokens ... image_output_tokens): exactly that bucket, as the
 *   rollup column of that name counts it;
 * - requests: 1; cost_pico_usd: what the provider charges the platform; charge_pico_usd: what the
 *   tenant is charged.
 */
export const quotaMetrics = [
  'total_tokens',
  'prompt_tokens',
  'completion_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'reasoning_tokens',
  'audio_input_tokens',
  'audio_output_tokens',
  'image_input_tokens',
  'image_output_tokens',
  'requests',
  'cost_pico_usd',
  'charge_pico_usd',
] as const;
export type QuotaMetric = (typeof quotaMetrics)[number];

/**
 * Metric names of stored definitions from before usage-event v2, read as their new names. The
 * quota metric `input_tokens` counted cached input too, unlike the rollup column `input_tokens`
 * (uncached text only); `output_tokens` counted reasoning too. The names now say what they count.
 * A definition stored without a quota_id keeps the id its old name generated (its counters and
 * alerts stay its own).
 */
export const legacyQuotaMetrics: Readonly<Record<string, QuotaMetric>> = { input_tokens: 'prompt_tokens', output_tokens: 'completion_tokens' };

export const quotaEnforcements = ['hard', 'soft'] as const;
/** `hard`: calls are refused once the limit is reached. `soft`: alerts only. */
export type QuotaEnforcement = (typeof quotaEnforcements)[number];

/** Narrows a quota to events whose fields equal every field given here. */
export interface QuotaScope {
  project_id?: string;
  /** SHA-256 of the API key, 64 lowercase hex characters, as on the event. */
  api_key_hash?: string;
  model?: string;
}

export interface QuotaDefinition {
  /** Unique within the tenant. */
  quota_id: string;
  tenant_id: string;
  scope: QuotaScope;
  metric: QuotaMetric;
  period: QuotaPeriodKind;
  /** IANA time zone name the day or month is counted in. */
  time_zone: string;
  /** Tokens, requests or pico-USD, by metric. 1 .. 2^63-1 (a Redis / ClickHouse Int64). */
  limit: bigint;
  /** Alert thresholds in percent of the limit: integers 1..1000, ascending, unique. */
  thresholds: number[];
  enforcement: QuotaEnforcement;
  /** When the definition last changed, epoch ms. */
  updated_at: number;
}

export const DEFAULT_QUOTA_THRESHOLDS: readonly number[] = [50, 80, 100];
/** Largest limit: counters are signed 64-bit integers in Redis and ClickHouse. */
export const MAX_QUOTA_LIMIT = 2n ** 63n - 1n;
export const MAX_QUOTA_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 256;
const MAX_THRESHOLDS = 32;
const QUOTA_ID = /^[A-Za-z0-9_.:-]*$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A quota definition is invalid; `problems` names every field and rule at fault. */
export class QuotaDefinitionError extends MeterlineError {
  /** One line per problem: `field: message [rule]`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], label = 'quota definition') {
    const n = problems.length;
    super('QUOTA_DEFINITION_INVALID', `invalid ${label}: ${n} problem${n === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** zod error callback: `is required (...)` when absent, `must be ..., got ...` otherwise. */
function expected(what: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined ? `is required (${what})` : `must be ${what}, got ${describeValue(issue.input)}`;
}

/** zod error callback for enums. */
function oneOf(values: readonly string[]) {
  return expected(`one of ${values.join(', ')}`);
}

/** A required non-blank name (tenant, project, model), at most 256 characters like event fields. */
function nameSchema() {
  return z
    .string({ error: expected('a non-empty string') })
    .refine((s) => s.trim().length > 0, { error: 'must not be empty or blank', params: { rule: 'non_empty' } })
    .refine((s) => s.length <= MAX_NAME_LENGTH, {
      error: (i) => `is ${typeof i.input === 'string' ? i.input.length : '?'} characters, over the limit of ${MAX_NAME_LENGTH}`,
      params: { rule: 'max_length' },
    });
}

function parseLimit(value: unknown, ctx: z.RefinementCtx): bigint {
  const fail = (rule: string, message: string): bigint => {
    ctx.addIssue({ code: 'custom', message, params: { rule } });
    return z.NEVER;
  };
  const hint = 'a positive integer: a safe integer number or a string of digits such as "5000000000000"';
  let limit: bigint;
  if (value === undefined) return fail('required', `is required (${hint})`);
  if (typeof value === 'bigint') limit = value;
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      return fail('positive_integer', `must be ${hint}, got ${describeValue(value)}${Number.isInteger(value) ? ' (beyond 2^53: write it as a string)' : ''}`);
    }
    limit = BigInt(value);
  } else if (typeof value === 'string') {
    if (!/^[0-9]{1,30}$/.test(value)) return fail('positive_integer', `must be ${hint}, got ${describeValue(value)}`);
    limit = BigInt(value);
  } else {
    return fail('positive_integer', `must be ${hint}, got ${describeValue(value)}`);
  }
  if (limit <= 0n) return fail('positive_integer', `must be ${hint}, got ${limit}`);
  if (limit > MAX_QUOTA_LIMIT) return fail('max_int64', `is ${limit}, over the largest counter value ${MAX_QUOTA_LIMIT} (2^63-1)`);
  return limit;
}

const scopeSchema = z.strictObject(
  {
    project_id: nameSchema().optional(),
    api_key_hash: z
      .string({ error: expected('a SHA-256 hex digest') })
      .regex(SHA256_HEX, { error: (i) => `must be 64 lowercase hex characters (the SHA-256 of the key, as on events), got ${describeValue(i.input)}` })
      .optional(),
    model: nameSchema().optional(),
  },
  { error: expected('an object with any of project_id, api_key_hash, model') },
);

const definitionSchema = z.strictObject(
  {
    quota_id: z
      .string({ error: expected('a string') })
      .min(1, { error: 'must not be empty (leave it out for a generated id)' })
      .max(MAX_QUOTA_ID_LENGTH, { error: `must be at most ${MAX_QUOTA_ID_LENGTH} characters` })
      .regex(QUOTA_ID, { error: (i) => `may only contain letters, digits, "_", ".", ":" and "-", got ${describeValue(i.input)}` })
      .optional(),
    tenant_id: nameSchema(),
    scope: scopeSchema.optional(),
    metric: z.enum(quotaMetrics, { error: oneOf(quotaMetrics) }),
    period: z.enum(quotaPeriodKinds, { error: oneOf(quotaPeriodKinds) }),
    time_zone: z
      .string({ error: expected('an IANA time zone name such as "Europe/Berlin"') })
      .refine(isValidTimeZone, {
        error: (i) => `unknown time zone ${describeValue(i.input)}; use an IANA name such as "UTC", "Europe/Berlin" or "America/New_York"`,
        params: { rule: 'time_zone' },
      })
      .optional(),
    limit: z.unknown().transform(parseLimit),
    thresholds: z
      .array(
        z
          .number({ error: expected('a whole percentage from 1 to 1000') })
          .int({ error: (i) => `must be a whole percentage from 1 to 1000, got ${describeValue(i.input)}` })
          .min(1, { error: (i) => `must be a whole percentage from 1 to 1000, got ${describeValue(i.input)}` })
          .max(1000, { error: (i) => `must be a whole percentage from 1 to 1000, got ${describeValue(i.input)}` }),
        { error: expected('an array of percentages such as [50, 80, 100]') },
      )
      .max(MAX_THRESHOLDS, { error: `must have at most ${MAX_THRESHOLDS} entries` })
      .optional(),
    enforcement: z.enum(quotaEnforcements, { error: oneOf(quotaEnforcements) }),
    updated_at: z
      .number({ error: expected('epoch milliseconds') })
      .int({ error: (i) => `must be an integer number of epoch milliseconds, got ${describeValue(i.input)}` })
      .min(0, { error: (i) => `must be epoch milliseconds (>= 0), got ${describeValue(i.input)}` }),
  },
  { error: expected('an object') },
);

const allowedKeys: Record<string, readonly string[]> = {
  '': Object.keys(definitionSchema.shape),
  scope: Object.keys(scopeSchema.shape),
};

function joinPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function ruleOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'custom') return typeof issue.params?.rule === 'string' ? issue.params.rule : 'invalid';
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'required';
    return issue.expected === 'int' && typeof issue.input === 'number' ? 'integer' : 'type';
  }
  if (issue.code === 'too_small') return issue.origin === 'string' ? 'non_empty' : 'range';
  if (issue.code === 'too_big') {
    if (issue.origin === 'string') return 'max_length';
    return issue.origin === 'array' ? 'max_items' : 'range';
  }
  if (issue.code === 'invalid_format') return 'pattern';
  if (issue.code === 'invalid_value') return issue.input === undefined ? 'required' : 'one_of';
  if (issue.code === 'unrecognized_keys') return 'unknown_field';
  return issue.code;
}

/** `field: message [rule]` lines for zod issues. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys[joinPath(issue.path)] ?? [];
      for (const key of issue.keys) {
        out.push(`${joinPath([...issue.path, key])}: unknown field (check the spelling; allowed: ${allowed.join(', ')}) [unknown_field]`);
      }
    } else {
      out.push(`${joinPath(issue.path) || '(root)'}: ${issue.message} [${ruleOf(issue)}]`);
    }
  }
  return out;
}

/** The parts of a value kept as-is in a generated quota id. */
function idPart(value: string): string {
  const safe = value.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (safe === value && value.length <= 64) return value;
  // Changed or shortened: a hash of the original keeps distinct values apart.
  const hash = createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 8);
  return `${safe.slice(0, 48)}.${hash}`;
}

/**
 * The id a definition gets when it has none: `<daily|monthly>-<metric>` then, for each scope
 * field given, `-project:<id>`, `-key:<first 16 hex of the hash>`, `-model:<name>`; e.g.
 * `monthly-total_tokens-model:gpt-4o`. Values holding characters outside `[A-Za-z0-9_.-]` (or
 * longer than 64) have them replaced by `_` and get `.` + 8 hex of their SHA-256 appended, so
 * different scopes keep different ids. The tenant is not part of it: quota ids are unique within
 * a tenant and every key that stores them (counters, alerts) carries the tenant too.
 */
export function defaultQuotaId(def: Pick<QuotaDefinition, 'scope' | 'metric' | 'period'>): string {
  const parts = [`${def.period === 'day' ? 'daily' : 'monthly'}`, def.metric];
  if (def.scope.project_id !== undefined) parts.push(`project:${idPart(def.scope.project_id)}`);
  if (def.scope.api_key_hash !== undefined) parts.push(`key:${idPart(def.scope.api_key_hash.slice(0, 16))}`);
  if (def.scope.model !== undefined) parts.push(`model:${idPart(def.scope.model)}`);
  return parts.join('-');
}

/**
 * Validates a quota definition (JSON from an API or a file, or an object built in code) and fills
 * defaults: `scope` `{}`, `time_zone` `UTC`, `thresholds` [50, 80, 100] (sorted, duplicates
 * dropped), `quota_id` from `defaultQuotaId`. `limit` is a safe integer, a string of digits or a
 * bigint. Throws a {@link QuotaDefinitionError} listing every problem at once.
 */
export function parseQuotaDefinition(input: unknown): QuotaDefinition {
  const written = typeof input === 'object' && input !== null ? (input as Record<string, unknown>).metric : undefined;
  const legacy = typeof written === 'string' && Object.hasOwn(legacyQuotaMetrics, written) ? written : undefined;
  if (legacy !== undefined) input = { ...(input as Record<string, unknown>), metric: legacyQuotaMetrics[legacy] };
  const parsed = definitionSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    const id = typeof input === 'object' && input !== null ? (input as Record<string, unknown>).quota_id : undefined;
    throw new QuotaDefinitionError(describeIssues(parsed.error.issues), typeof id === 'string' ? `quota definition ${JSON.stringify(id)}` : undefined);
  }
  const doc = parsed.data;
  const scope: QuotaScope = {};
  if (doc.scope?.project_id !== undefined) scope.project_id = doc.scope.project_id;
  if (doc.scope?.api_key_hash !== undefined) scope.api_key_hash = doc.scope.api_key_hash;
  if (doc.scope?.model !== undefined) scope.model = doc.scope.model;
  const thresholds = [...new Set(doc.thresholds ?? DEFAULT_QUOTA_THRESHOLDS)].sort((a, b) => a - b);
  return {
    quota_id: doc.quota_id ?? defaultQuotaId({ scope, metric: (legacy ?? doc.metric) as QuotaMetric, period: doc.period }),
    tenant_id: doc.tenant_id,
    scope,
    metric: doc.metric,
    period: doc.period,
    time_zone: doc.time_zone ?? 'UTC',
    limit: doc.limit,
    thresholds,
    enforcement: doc.enforcement,
    updated_at: doc.updated_at,
  };
}
