import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * API keys: `mlk_<id>_<secret>`, a 16-character public id (shown in lists, logged) and a
 * 43-character secret (256 bits, base64url). Only an HMAC-SHA-256 of the secret (keyed by
 * the server's pepper) is stored, so a leaked store does not leak keys, and a lookup is by id,
 * never by the secret.
 */
const PREFIX = 'mlk';
const ID_BYTES = 12;
const SECRET_BYTES = 32;

export interface NewApiKey {
  id: string;
  /** Shown once to whoever created the key. */
  token: string;
  secretHash: string;
}

export function generateApiKey(randomBytes: (size: number) => Uint8Array, pepper: string): NewApiKey {
  const id = Buffer.from(randomBytes(ID_BYTES)).toString('base64url');
  const secret = Buffer.from(randomBytes(SECRET_BYTES)).toString('base64url');
  return { id, token: `${PREFIX}_${id}_${secret}`, secretHash: hashSecret(secret, pepper) };
}

/** The id and secret of a presented key, or undefined when it is not shaped like one. */
export function parseApiKey(token: string): { id: string; secret: string } | undefined {
  const match = /^mlk_([A-Za-z0-9_-]{16})_([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return undefined;
  return { id: match[1] as string, secret: match[2] as string };
}

export function hashSecret(secret: string, pepper: string): string {
  return createHmac('sha256', pepper).update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string, pepper: string): boolean {
  const presented = Buffer.from(hashSecret(secret, pepper), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
