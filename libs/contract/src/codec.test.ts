import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { UsageEvent } from '@meterline/domain';
import { crc64Avro } from './crc64-avro';
import { AvroCodec, DecodeError } from './codec';
import { SchemaRegistry, defaultSchemasDir } from './schema-registry';
import { usageEventCodec } from './usage-event-codec';

const fixturesDir = join(defaultSchemasDir(), 'usage-event', 'fixtures');
const readFixture = (name: string): UsageEvent => JSON.parse(readFileSync(join(fixturesDir, `${name}.json`), 'utf8')) as UsageEvent;

describe('CRC-64-AVRO', () => {
  // Vectors from the Avro specification's schema test suite (parsing fingerprint 64).
  it.each([
    ['"null"', 7195948357588979594n],
    ['"int"', 8247732601305521295n],
    ['"boolean"', -6970731678124411036n],
  ])('fingerprints %s', (canonical, expected) => {
    expect(BigInt.asIntN(64, crc64Avro(Buffer.from(canonical)))).toBe(expected);
  });
});

describe('usage-event codec', () => {
  const codec = usageEventCodec();

  it.each(['v1-full', 'v1-minimal'])('matches the golden encoding %s byte for byte', (name) => {
    const event = readFixture(name);
    const golden = join(fixturesDir, `${name}.avro`);
    const encoded = codec.encode(event);
    // UPDATE_GOLDEN=1 rewrites the files after an intended contract change (review the diff).
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden)) writeFileSync(golden, encoded);
    expect(encoded.equals(readFileSync(golden))).toBe(true);
    expect(codec.decode(readFileSync(golden))).toEqual(event);
  });

  it('writes the single-object header: C3 01 and the v1 fingerprint', () => {
    const encoded = codec.encode(readFixture('v1-full'));
    expect(encoded.subarray(0, 2).toString('hex')).toBe('c301');
    expect(encoded.subarray(2, 10).toString('hex')).toBe(codec.writer.fingerprintHex);
  });

  it.each<[string, Buffer, string]>([
    ['empty message', Buffer.alloc(0), 'not_single_object_encoding'],
    ['JSON instead of Avro', Buffer.from('{"tenant_id":"acme"}'), 'not_single_object_encoding'],
    ['unknown fingerprint', Buffer.from('c3010102030405060708', 'hex'), 'unknown_schema_fingerprint'],
    ['truncated body', Buffer.concat([usageEventCodec().writer.header, Buffer.from([0x02])]), 'malformed_body'],
  ])('rejects %s with a reason', (_name, bytes, reason) => {
    expect(() => codec.decode(bytes)).toThrow(DecodeError);
    try {
      codec.decode(bytes);
    } catch (error) {
      expect((error as DecodeError).reason).toBe(reason);
      expect((error as DecodeError).retriable).toBe(false);
    }
  });
});

describe('schema evolution (v2 adds a field with a default)', () => {
  const registry = SchemaRegistry.load();
  const v1 = registry.latest('usage-event');
  const v2Schema = JSON.parse(readFileSync(join(defaultSchemasDir(), 'usage-event', 'v1.avsc'), 'utf8')) as { fields: unknown[] };
  const added = (JSON.parse(readFileSync(new URL('./testdata/usage-event-v2.avsc.json', import.meta.url), 'utf8')) as { addedField: unknown }).addedField;
  v2Schema.fields.push(added);
  registry.register('usage-event', 2, v2Schema as never, 'testdata/usage-event-v2');

  type V2Event = UsageEvent & { region: string };
  const v1Writer = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: 1, readerVersion: 1 });
  const v2Codec = new AvroCodec<V2Event>(registry, 'usage-event', { writerVersion: 2, readerVersion: 2 });
  const v1Reader = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: 1, readerVersion: 1 });

  it('a v2 reader reads v1 bytes and fills the default (backward)', () => {
    const event = readFixture('v1-full');
    const decoded = v2Codec.decode(v1Writer.encode(event));
    expect(decoded).toEqual({ ...event, region: 'unknown' });
  });

  it('a v1 reader reads v2 bytes and ignores the new field (forward)', () => {
    const event = { ...readFixture('v1-full'), region: 'eu' };
    const bytes = v2Codec.encode(event);
    expect(bytes.subarray(2, 10).toString('hex')).not.toBe(v1.fingerprintHex);
    const { region: _region, ...withoutRegion } = event;
    expect(v1Reader.decode(bytes)).toEqual(withoutRegion);
  });
});
