import { describe, expect, it } from 'vitest';
import { storedEventUuid } from './event-id';

describe('storedEventUuid', () => {
  // Expected values computed by ClickHouse with the DEFAULT expression of migration 0007.
  it.each([
    { name: 'a canonical UUIDv7 is itself', id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', uuid: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b' },
    { name: 'the nil UUID is itself', id: '00000000-0000-0000-0000-000000000000', uuid: '00000000-0000-0000-0000-000000000000' },
    { name: 'free text: a SHA-256 based UUIDv8', id: 'gen-1-1', uuid: 'b131e087-1bcc-8b91-8489-ed4cf7419443' },
    { name: 'an upper-case UUID is text, not the UUID', id: '0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B', uuid: '4f619cec-e0c5-8600-a709-e1335acc0b8e' },
    { name: 'non-ASCII text hashes its UTF-8 bytes', id: 'é ünïcode', uuid: 'e4e0b445-12eb-8621-a8e8-bdc815fad90a' },
  ])('$name', ({ id, uuid }) => {
    expect(storedEventUuid(id)).toBe(uuid);
  });

  it.each(['order-42', ' 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', '0190a1b2c3d47e5f8a9b0c1d2e3f4a5b', '{0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b}'])('%j gets version 8 and the RFC 9562 variant', (id) => {
    const uuid = storedEventUuid(id);
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuid).not.toBe(id);
  });
});
