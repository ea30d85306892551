import { usageEventV2Defaults, type UsageEvent } from '@meterline/domain';

/** Small, fast, seedable PRNG (mulberry32): generated traffic is reproducible from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ModelProfile {
  provider: string;
  model: string;
  operation: string;
  /** Typical uncached prompt and output sizes. */
  prompt: number;
  output: number;
  reasoning?: number;
  caches?: boolean;
}

export const sampleModels: readonly ModelProfile[] = [
  { provider: 'openai', model: 'gpt-4o', operation: 'chat', prompt: 1_800, output: 420, caches: true },
  { provider: 'openai', model: 'gpt-4o-mini', operation: 'chat', prompt: 900, output: 250, caches: true },
  { provider: 'openai', model: 'o4-mini', operation: 'responses', prompt: 1_200, output: 300, reasoning: 1_500, caches: true },
  { provider: 'anthropic', model: 'claude-sonnet-4', operation: 'chat', prompt: 3_000, output: 600, caches: true },
  { provider: 'anthropic', model: 'claude-3-5-haiku', operation: 'chat', prompt: 700, output: 180 },
  { provider: 'google', model: 'gemini-2.5-flash', operation: 'chat', prompt: 1_500, output: 350, reasoning: 400 },
  { provider: 'openai', model: 'text-embedding-3-small', operation: 'embedding', prompt: 500, output: 0 },
];

/** The sample models the shipped price books (pricing/catalog) price on both sides. */
export const pricedSampleModels: readonly ModelProfile[] = sampleModels.filter((m) => m.operation !== 'embedding');

export const sampleTenants = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka'] as const;

const errorKinds: readonly [number, string][] = [
  [429, 'rate_limit'],
  [408, 'timeout'],
  [500, 'internal_error'],
  [503, 'service_unavailable'],
  [400, 'validation_error'],
];

export interface GeneratorOptions {
  seed?: number;
  tenants?: readonly string[];
  /** Event time of generated events (default: the clock at generation). */
  occurredAt?: () => number;
  errorRate?: number;
  cacheHitRate?: number;
  idPrefix?: string;
  /** Models to draw from (default: sampleModels, which include one no shipped price book prices). */
  models?: readonly ModelProfile[];
}

/**
 * Realistic usage: several tenants, providers and models, token sizes spread around each
 * model's profile, cache hits, reasoning tokens, some errors. Returns complete events (with
 * ids), so a test can keep an independent reference of what it recorded.
 */
export function usageGenerator(options: GeneratorOptions = {}): () => UsageEvent {
  const random = seededRandom(options.seed ?? 1);
  const tenants = options.tenants ?? sampleTenants;
  const errorRate = options.errorRate ?? 0.02;
  const cacheHitRate = options.cacheHitRate ?? 0.3;
  const occurredAt = options.occurredAt ?? Date.now;
  const models = options.models ?? sampleModels;
  const prefix = options.idPrefix ?? `gen-${(options.seed ?? 1).toString(36)}`;
  let seq = 0;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const around = (mean: number): number => (mean === 0 ? 0 : Math.max(1, Math.round(mean * (0.2 + 1.6 * random()) * (random() < 0.05 ? 8 : 1))));
  return () => {
    const profile = pick(models);
    const tenant = pick(tenants);
    const failed = random() < errorRate;
    const [status, errorType] = failed ? pick(errorKinds) : [200, null];
    const prompt = around(profile.prompt);
    const cached = !failed && profile.caches === true && random() < cacheHitRate ? Math.floor(prompt * (0.5 + 0.4 * random())) : 0;
    const cacheWrite = !failed && profile.caches === true && profile.provider === 'anthropic' && cached === 0 && random() < 0.2 ? Math.floor(prompt * 0.6) : 0;
    seq++;
    return {
      ...usageEventV2Defaults(),
      event_id: `${prefix}-${seq}`,
      occurred_at: occurredAt(),
      tenant_id: tenant,
      project_id: random() < 0.7 ? pick(['search', 'support-bot', 'copilot']) : null,
      api_key_hash: null,
      client_id: null,
      user_id: random() < 0.5 ? `user-${Math.floor(random() * 500)}` : null,
      trace_id: null,
      endpoint_id: null,
      provider: profile.provider,
      model: profile.model,
      operation: profile.operation,
      input_tokens: failed ? 0 : prompt - cached - cacheWrite,
      cache_read_tokens: cached,
      cache_write_tokens: cacheWrite,
      output_tokens: failed ? 0 : around(profile.output),
      reasoning_tokens: failed || profile.reasoning === undefined ? 0 : around(profile.reasoning),
      latency_ms: Math.round(200 + random() * 4_000),
      ttft_ms: Math.round(50 + random() * 800),
      status_code: status,
      error_type: errorType,
      metadata: {},
    };
  };
}
