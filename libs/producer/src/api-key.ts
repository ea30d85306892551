import { createHash, createHmac } from 'node:crypto';

/** Recent key -> hash per pepper: a service sends the same few keys over and over. */
const MAX_CACHED_KEYS = 1_024;
const caches = new Map<string, Map<string, string>>();

function digest(apiKey: string, pepper: string): string {
  if (pepper.length > 0) return createHmac('sha256', pepper).update(apiKey).digest('hex');
  return createHash('sha256').update(apiKey).digest('hex');
}

/**
 * The only form of an API key that leaves the caller: SHA-256 hex, or HMAC-SHA-256 keyed by
 * a pepper so hashes of short keys cannot be brute-forced from a leaked table.
 *
 * The last 1,024 keys seen (per pepper) keep their hash in memory, so record() does not pay
 * for SHA-256 on every call. The keys are already in the caller's memory; they are never
 * logged or sent, only their hashes.
 */
export function hashApiKey(apiKey: string, pepper?: string): string {
  const p = pepper ?? '';
  let cache = caches.get(p);
  if (cache === undefined) {
    if (caches.size >= 16) caches.clear();
    cache = new Map();
    caches.set(p, cache);
  }
  let hash = cache.get(apiKey);
  if (hash === undefined) {
    hash = digest(apiKey, p);
    if (cache.size >= MAX_CACHED_KEYS) cache.delete(cache.keys().next().value as string);
    cache.set(apiKey, hash);
  }
  return hash;
}
