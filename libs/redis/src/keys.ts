/**
 * Every key of one tenant carries the same `{tenant}` hash tag, so a Lua script that touches
 * a tenant's counters, rollups, dedup sets and outbox stays in one Redis Cluster slot.
 * The tenant id is URI-encoded inside the tag so braces in an id cannot break it.
 */
export const KEY_ROOT = 'ml';

export function tenantPrefix(tenantId: string): string {
  return `${KEY_ROOT}:{${encodeURIComponent(tenantId)}}:`;
}

export const redisKeys = {
  /** Last applied source offset and max event time of a tenant in a partition. */
  watermark: (tenantId: string, partition: number) => `${tenantPrefix(tenantId)}wm:${partition}`,
  /** Entries (rollups, corrections, alerts) applied but not yet published. */
  outbox: (tenantId: string, partition: number) => `${tenantPrefix(tenantId)}outbox:${partition}`,
  /** Alert ids being published (for the crash window between Kafka's ack and the outbox trim). */
  alertsSending: (tenantId: string) => `${tenantPrefix(tenantId)}alerts-sending`,
  /** A quota's counter for one period. */
  quotaCounter: (tenantId: string, quotaId: string, periodStart: number) => `${tenantPrefix(tenantId)}q:${quotaCounterSuffix(quotaId, periodStart)}`,
  /** The tenant's quota definitions (mirror of the durable store), quota_id -> JSON. */
  quotaDefinitions: (tenantId: string) => `${tenantPrefix(tenantId)}quotas`,
  /** Set once the pricing alert for a model without a price was published (fleet-wide, not per tenant). */
  unpricedAnnounced: (provider: string, model: string) => `${KEY_ROOT}:unpriced-announced:${encodeURIComponent(provider)}/${encodeURIComponent(model)}`,
  /** API key id -> last use (epoch ms). Outside `ml:` so a stream state rebuild keeps it. */
  apiKeysLastUsed: () => 'meterline:api-keys:last-used',
  /** Set when the stream state was built; its absence means Redis lost its data. */
  epoch: () => `${KEY_ROOT}:epoch`,
} as const;

export function quotaCounterSuffix(quotaId: string, periodStart: number): string {
  return `${quotaId}:${periodStart}`;
}
