import { randomBytes } from 'node:crypto';

function randomSuffix(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length] ?? 'x';
  return out;
}

/**
 * A name no other test run will pick, safe as a Kafka topic, consumer group, Redis key
 * prefix or BullMQ queue: `<prefix>-<base36 time>-<6 random chars>`, only [a-z0-9_-]
 * (other characters in `prefix` become `-`, letters are lower-cased).
 */
export function uniqueName(prefix: string): string {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9_-]+/g, '-');
  return `${safe}-${Date.now().toString(36)}-${randomSuffix(6)}`;
}

/**
 * Like uniqueName but only [a-z0-9_] and never starting with a digit: a valid unquoted
 * ClickHouse identifier (database or table name).
 */
export function uniqueIdentifier(prefix: string): string {
  let safe = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
  if (safe === '' || /^[0-9]/.test(safe)) safe = `t_${safe}`;
  return `${safe}_${Date.now().toString(36)}_${randomSuffix(6)}`;
}
