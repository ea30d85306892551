import { createHash, createHmac } from 'node:crypto';

/**
 * The only form of an API key that leaves the caller: SHA-256 hex, or HMAC-SHA-256 keyed by
 * a pepper so hashes of short keys cannot be brute-forced from a leaked table.
 */
export function hashApiKey(apiKey: string, pepper?: string): string {
  if (pepper !== undefined && pepper.length > 0) return createHmac('sha256', pepper).update(apiKey).digest('hex');
  return createHash('sha256').update(apiKey).digest('hex');
}
