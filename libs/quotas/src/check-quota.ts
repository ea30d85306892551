import type { Redis } from 'ioredis';
import { checkAllowed, evaluateQuota, parseQuotaDefinition, quotaPeriod, type QuotaDefinition, type QuotaStatus } from '@meterline/domain';
import { redisKeys } from '@meterline/redis';

export interface QuotaScope {
  project_id?: string;
  api_key_hash?: string;
  model?: string;
}

export interface QuotaCheck {
  tenant_id: string;
  /** False when any hard quota that applies is used up. */
  allowed: boolean;
  quotas: QuotaStatus[];
}

/**
 * Answers "may this tenant make the next call, and how much is left?" from Redis. Definitions
 * are cached for `definitionsTtlMs` (they change rarely); the counters are read in one round
 * trip per check.
 */
export class QuotaChecker {
  readonly #cache = new Map<string, { at: number; definitions: QuotaDefinition[] }>();

  constructor(
    private readonly redis: Redis,
    private readonly options: { definitionsTtlMs?: number; clock?: () => number } = {},
  ) {}

  async checkQuota(tenantId: string, scope: QuotaScope = {}): Promise<QuotaCheck> {
    const now = (this.options.clock ?? Date.now)();
    const definitions = (await this.#definitions(tenantId, now)).filter((d) => applies(d, scope));
    if (definitions.length === 0) return { tenant_id: tenantId, allowed: true, quotas: [] };
    const periods = definitions.map((d) => quotaPeriod(d, now));
    const pipeline = this.redis.pipeline();
    definitions.forEach((d, i) => pipeline.hget(redisKeys.quotaCounter(tenantId, d.quota_id, (periods[i] as { start: number }).start), 'used'));
    const replies = (await pipeline.exec()) ?? [];
    const statuses = definitions.map((d, i) => {
      const [error, used] = replies[i] ?? [null, null];
      if (error) throw error;
      return evaluateQuota(d, BigInt((used as string | null) ?? '0'), now);
    });
    const verdict = checkAllowed(statuses);
    return { tenant_id: tenantId, allowed: verdict.allowed, quotas: verdict.quotas };
  }

  async #definitions(tenantId: string, now: number): Promise<QuotaDefinition[]> {
    const cached = this.#cache.get(tenantId);
    if (cached && now - cached.at < (this.options.definitionsTtlMs ?? 1_000)) return cached.definitions;
    const raw = await this.redis.hgetall(redisKeys.quotaDefinitions(tenantId));
    const definitions = Object.values(raw).map((json) => parseQuotaDefinition(JSON.parse(json)));
    this.#cache.set(tenantId, { at: now, definitions });
    return definitions;
  }
}

/** A quota applies to a call when each field it narrows by matches the call's. */
function applies(definition: QuotaDefinition, scope: QuotaScope): boolean {
  const s = definition.scope;
  return (s.project_id === undefined || s.project_id === scope.project_id) && (s.api_key_hash === undefined || s.api_key_hash === scope.api_key_hash) && (s.model === undefined || s.model === scope.model);
}
