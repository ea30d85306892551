import { streamLayout } from './layout';

/**
 * Every key of one tenant carries the same `{tenant}` hash tag, so a Lua script that touches
 * a tenant's counters, rollups, dedup sets and outbox stays in one Redis Cluster slot.
 * The tenant id is URI-encoded inside the tag so braces in an id cannot break it.
 * Names come from `streamLayout`, which the Lua scripts read too.
 */
export const KEY_ROOT = streamLayout.root;

const tenantKey = streamLayout.tenantKeys;
const globalKey = streamLayout.globalKeys;

export function tenantPrefix(tenantId: string): string {
  return `${KEY_ROOT}:{${encodeURIComponent(tenantId)}}:`;
}

export const redisKeys = {
  /** Last applied source offset and max event time of a tenant in a partition. */
  watermark: (tenantId: string, partition: number) => `${tenantPrefix(tenantId)}${tenantKey.watermark}${partition}`,
  /** Entries (rollups, corrections, alerts) applied but not yet published. */
  outbox: (tenantId: string, partition: number) => `${tenantPrefix(tenantId)}${tenantKey.outbox}${partition}`,
  /** Alert ids being published (for the crash window between Kafka's ack and the outbox trim). */
  alertsSending: (tenantId: string) => `${tenantPrefix(tenantId)}${tenantKey.alertsSending}`,
  /** A quota's counter for one period. */
  quotaCounter: (tenantId: string, quotaId: string, periodStart: number) => `${tenantPrefix(tenantId)}${tenantKey.quotaCounter}${quotaCounterSuffix(quotaId, periodStart)}`,
  /** The tenant's quota definitions (mirror of the durable store), quota_id -> JSON. */
  quotaDefinitions: (tenantId: string) => `${tenantPrefix(tenantId)}${tenantKey.quotaDefinitions}`,
  /** Event id hashes seen in one hour (event time) within the dedup window. */
  seen: (tenantId: string, hourMs: number) => `${tenantPrefix(tenantId)}${tenantKey.seen}${hourMs}`,
  /** The cumulative rollup of an open hour; `dims` is the group's dimensions JSON. */
  rollup: (tenantId: string, partition: number, hourMs: number, dims: string) => `${tenantPrefix(tenantId)}${tenantKey.rollup}${partition}:${hourMs}:${dims}`,
  /** The open hours (with a rollup hash) of a tenant in a partition. */
  openHours: (tenantId: string, partition: number) => `${tenantPrefix(tenantId)}${tenantKey.openHours}${partition}`,
  /** Set once the pricing alert for a model without a price was published (fleet-wide, not per tenant). */
  unpricedAnnounced: (provider: string, model: string) => `${KEY_ROOT}:${globalKey.unpricedAnnounced}${encodeURIComponent(provider)}/${encodeURIComponent(model)}`,
  /** API key id -> last use (epoch ms). Outside `ml:` so a stream state rebuild keeps it. */
  apiKeysLastUsed: () => 'meterline:api-keys:last-used',
  /** Set when the stream state was built; its absence means Redis lost its data. */
  epoch: () => `${KEY_ROOT}:${globalKey.epoch}`,
  /** The state rebuild's lease (kept by a rebuild's cleanup). */
  rebuildLease: () => `${KEY_ROOT}:${globalKey.rebuildLease}`,
} as const;

export function quotaCounterSuffix(quotaId: string, periodStart: number): string {
  return `${quotaId}:${periodStart}`;
}
