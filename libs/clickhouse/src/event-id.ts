import { createHash } from 'node:crypto';

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The UUID usage_events stores for an event_id (its `event_uuid`, part of the sorting key): the
 * id itself when it is a canonical lower-case UUID, else a name-based UUIDv8 from the first 16
 * bytes of SHA-256 of the text. The mirror of the DEFAULT expression of migration 0007, so a
 * reader can look an event up on the primary key (tested against the SQL).
 */
export function storedEventUuid(eventId: string): string {
  if (CANONICAL_UUID.test(eventId)) return eventId;
  const bytes = createHash('sha256').update(eventId, 'utf8').digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
