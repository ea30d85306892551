import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_EVENT_INTEGER, usageEventV2Defaults, type UsageEvent } from '@meterline/domain';
import { crc64Avro } from './crc64-avro';
import { AvroCodec, DecodeError } from './codec';
import { SchemaRegistry, defaultSchemasDir } from './schema-registry';
import { usageEventCodec, usageRollupCodec, type UsageRollupRecord } from './usage-event-codec';

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
  const registry = SchemaRegistry.load();

  it.each<[string, number]>([
    ['v1-full', 1],
    ['v1-minimal', 1],
    ['v2-full', 2],
  ])('matches the golden encoding %s byte for byte (its own writer version), and the latest reader reads it', (name, version) => {
    const event = readFixture(name);
    const golden = join(fixturesDir, `${name}.avro`);
    const writer = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: version, readerVersion: version });
    const encoded = writer.encode(event);
    // UPDATE_GOLDEN=1 rewrites the files after an intended contract change (review the diff).
    // A missing file fails: writing it would make the test pass against whatever it produced.
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, encoded);
    if (!existsSync(golden)) throw new Error(`golden file ${golden} is missing: create it with UPDATE_GOLDEN=1 and review it`);
    expect(encoded.equals(readFileSync(golden))).toBe(true);
    // A v1 writer resolves to the v2 reader: the new buckets 0, no units, no tier; whole-ms latency as a double.
    expect(codec.decode(readFileSync(golden))).toEqual(version === 1 ? { ...usageEventV2Defaults(), ...event } : event);
  });

  it('writes v2, with the single-object header: C3 01 and the v2 fingerprint', () => {
    const encoded = codec.encode(readFixture('v2-full'));
    expect(codec.writer.version).toBe(2);
    expect(encoded.subarray(0, 2).toString('hex')).toBe('c301');
    expect(encoded.subarray(2, 10).toString('hex')).toBe(registry.version('usage-event', 2).fingerprintHex);
    expect(encoded.subarray(2, 10).toString('hex')).not.toBe(registry.version('usage-event', 1).fingerprintHex);
  });

  it('carries the largest count the validator accepts exactly (MAX_EVENT_INTEGER), in a bucket and a unit', () => {
    const event = { ...readFixture('v2-full'), output_tokens: MAX_EVENT_INTEGER, units: { web_search: MAX_EVENT_INTEGER } };
    expect(codec.decode(codec.encode(event))).toEqual(event);
  });

  it('keeps sub-millisecond telemetry exactly and reads v1 whole milliseconds (long promoted to double)', () => {
    const v1 = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: 1, readerVersion: 1 });
    const event = { ...readFixture('v2-full'), latency_ms: 0.000_123_4, ttft_ms: 98_765.432_1 };
    expect(codec.decode(codec.encode(event))).toEqual(event);
    const decoded = codec.decode(v1.encode({ ...readFixture('v1-full'), latency_ms: 2 ** 40 + 1 }));
    expect(decoded.latency_ms).toBe(2 ** 40 + 1);
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

describe('schema evolution (a test-only v3 adds a field with a default)', () => {
  const registry = SchemaRegistry.load();
  const v2 = registry.latest('usage-event');
  const v3Schema = JSON.parse(readFileSync(join(defaultSchemasDir(), 'usage-event', 'v2.avsc'), 'utf8')) as { fields: unknown[] };
  const added = (JSON.parse(readFileSync(new URL('./testdata/usage-event-v2.avsc.json', import.meta.url), 'utf8')) as { addedField: unknown }).addedField;
  v3Schema.fields.push(added);
  registry.register('usage-event', 3, v3Schema as never, 'testdata/usage-event-v3');

  type V3Event = UsageEvent & { region: string };
  const v2Writer = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: 2, readerVersion: 2 });
  const v3Codec = new AvroCodec<V3Event>(registry, 'usage-event', { writerVersion: 3, readerVersion: 3 });
  const v2Reader = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: 2, readerVersion: 2 });

  it('a v3 reader reads v2 bytes and fills the default (backward)', () => {
    const event = readFixture('v2-full');
    const decoded = v3Codec.decode(v2Writer.encode(event));
    expect(decoded).toEqual({ ...event, region: 'unknown' });
  });

  it('a v2 reader reads v3 bytes and ignores the new field (forward)', () => {
    const event = { ...readFixture('v2-full'), region: 'eu' };
    const bytes = v3Codec.encode(event);
    expect(bytes.subarray(2, 10).toString('hex')).not.toBe(v2.fingerprintHex);
    const { region: _region, ...withoutRegion } = event;
    expect(v2Reader.decode(bytes)).toEqual(withoutRegion);
  });

  it('a v1 reader cannot read v2 bytes (double latency does not demote to long): readers upgrade before writers', () => {
    const v1Reader = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: 1, readerVersion: 1 });
    expect(() => v1Reader.decode(v2Writer.encode(readFixture('v2-full')))).toThrow(/double|resolve|long/i);
  });
});

describe('the compiled fast path agrees with avsc', () => {
  const codec = usageEventCodec();
  const avscType = codec.writer.type;
  const header = codec.writer.header;
  const base = readFixture('v2-full');
  const variants: [string, UsageEvent][] = [
    ['the full fixture', base],
    ['the minimal fixture', { ...usageEventV2Defaults(), ...readFixture('v1-minimal') }],
    ['many units, negative and past-30-bit counts, NaN and infinite telemetry', { ...base, units: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`u${i}`, i % 2 === 0 ? 2 ** 40 + i : -i])), latency_ms: Number.NaN, ttft_ms: Number.POSITIVE_INFINITY }],
    ['multi-byte and astral text', { ...base, tenant_id: 'tenant-ü-漢字-😀', model: 'é'.repeat(40), metadata: { 'clé': 'välue 😀', plain: 'x' } }],
    ['lone surrogates (short and long strings)', { ...base, user_id: 'a\ud800b', trace_id: `${'x'.repeat(70)}\udc00` }],
    ['strings across every length prefix', { ...base, endpoint_id: 'e'.repeat(63), client_id: 'c'.repeat(64), trace_id: 't'.repeat(8_200), metadata: { big: 'm'.repeat(70_000) } }],
    ['longs beyond 30 bits and negatives', { ...base, occurred_at: 8_640_000_000_000_000, input_tokens: 2 ** 40 + 3, latency_ms: 2 ** 31 - 1, status_code: 599 }],
    ['empty metadata and null unions', { ...base, metadata: {}, project_id: null, latency_ms: null, ttft_ms: null, status_code: null, error_type: null }],
  ];

  it('v2 takes the compiled path (a view into its 64 KiB slab, not an avsc buffer)', () => {
    expect(codec.encode(base).buffer.byteLength).toBeGreaterThanOrEqual(64 * 1024);
  });

  it.each(variants)('encodes %s byte for byte as avsc does, and reads it back the same', (_name, event) => {
    const fast = codec.encode(event);
    const reference = Buffer.concat([header, avscType.toBuffer(event)]);
    expect(fast.equals(reference)).toBe(true);
    expect(codec.decode(fast)).toEqual(avscType.fromBuffer(reference.subarray(header.length)));
  });

  it.each<[string, Record<string, unknown>]>([
    ['a fractional long', { input_tokens: 1.5 }],
    ['a number for a string', { tenant_id: 7 }],
    ['a missing required field', { model: undefined }],
    ['a number in a string map', { metadata: { a: 1 } }],
    ['a string in a long map', { units: { web_search: '1' } }],
    ['a fraction in a long map', { units: { web_search: 1.5 } }],
    ['a string for a double', { latency_ms: '12.5' }],
  ])('rejects %s with the error avsc gives (validation, before encoding, names the field)', (_name, change) => {
    const event = { ...base, ...change };
    let avscError = '';
    try {
      avscType.toBuffer(event);
    } catch (error) {
      avscError = (error as Error).message;
    }
    expect(avscError).not.toBe('');
    expect(() => codec.encode(event)).toThrow(avscError);
  });

  it('on corrupted bytes returns what avsc returns or fails where avsc fails (2,000 random corruptions)', () => {
    const good = Buffer.from(codec.encode(base));
    let seed = 42;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed % n;
    };
    let agreedOnValue = 0;
    for (let i = 0; i < 2_000; i++) {
      const bytes = Buffer.from(good);
      const flips = 1 + random(3);
      for (let f = 0; f < flips; f++) bytes[header.length + random(bytes.length - header.length)] = random(256);
      const cut = random(4) === 0 ? bytes.subarray(0, header.length + random(bytes.length - header.length)) : bytes;
      let expected: unknown;
      let avscFailed = false;
      try {
        const decoded = avscType.decode(cut, header.length);
        if (decoded.offset !== cut.length) throw new Error('truncated or trailing');
        expected = decoded.value;
      } catch {
        avscFailed = true;
      }
      if (avscFailed) {
        expect(() => codec.decode(cut)).toThrow(DecodeError);
      } else {
        expect(codec.decode(cut)).toEqual(expected);
        agreedOnValue++;
      }
    }
    // Both branches were exercised: some corruptions still decode, most do not.
    expect(agreedOnValue).toBeGreaterThan(0);
  });
});

describe('usage-rollup versions (v2 added money, v3 price versions, v4 the usage-event v2 buckets and microseconds)', () => {
  const registry = SchemaRegistry.load();
  const base = {
    kind: 'cumulative', tenant_id: 'acme', project_id: '', provider: 'openai', model: 'gpt-4o', operation: 'chat', hour_start: 1_795_446_000_000, source_partition: 3,
    correction_offset: -1, version: 41, requests: 2, input_tokens: 10, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 5, reasoning_tokens: 0, errors: 0,
    errors_by_class: {}, requests_by_status_class: { '2xx': 2 }, latency_ms_sum: 100, latency_ms_max: 60, latency_count: 2, ttft_ms_sum: 0, ttft_ms_max: 0, ttft_count: 0, late_events: 0,
  };
  const money = { cost_pico: '123456789012345678901', charge_pico: '7', cache_savings_pico: '-3', unpriced_cost_events: 1, unpriced_charge_events: 0 };
  const versions = { cost_price_versions: ['openai/gpt-4o@2024-08-06'], charge_price_versions: ['tenant:acme/openai/gpt-4o@2025-01-01', 'openai/gpt-4o@2024-08-06'] };
  const latest = usageRollupCodec(registry);
  const v4Defaults = {
    cache_write_1h_tokens: 0, audio_input_tokens: 0, audio_output_tokens: 0, image_input_tokens: 0, image_output_tokens: 0, units: {},
    latency_us_sum: 0, latency_us_max: 0, ttft_us_sum: 0, ttft_us_max: 0,
  };
  const v4 = {
    cache_write_1h_tokens: 4_096, audio_input_tokens: 17, audio_output_tokens: 23, image_input_tokens: 1_568, image_output_tokens: 2, units: { web_search: 3 },
    latency_ms_sum: 0, latency_ms_max: 0, ttft_ms_sum: 0, ttft_ms_max: 0, latency_us_sum: 100_500, latency_us_max: 60_250, ttft_us_sum: 1, ttft_us_max: 1,
  };

  it('the latest reader is v4 and reads v1, v2 and v3 bytes with the defaults (no money, no versions, no v2 buckets, whole ms)', () => {
    expect(latest.reader.version).toBe(4);
    const v1 = new AvroCodec<object>(registry, 'usage-rollup', { writerVersion: 1, readerVersion: 1 });
    const v2 = new AvroCodec<object>(registry, 'usage-rollup', { writerVersion: 2, readerVersion: 2 });
    const v3 = new AvroCodec<object>(registry, 'usage-rollup', { writerVersion: 3, readerVersion: 3 });
    expect(latest.decode(v1.encode(base))).toEqual({ ...base, ...v4Defaults, cost_pico: '0', charge_pico: '0', cache_savings_pico: '0', unpriced_cost_events: 0, unpriced_charge_events: 0, cost_price_versions: [], charge_price_versions: [] });
    expect(latest.decode(v2.encode({ ...base, ...money }))).toEqual({ ...base, ...v4Defaults, ...money, cost_price_versions: [], charge_price_versions: [] });
    expect(latest.decode(v3.encode({ ...base, ...money, ...versions }))).toEqual({ ...base, ...v4Defaults, ...money, ...versions });
  });

  it('v4 round-trips the buckets, units and microseconds; a v3 reader keeps what it knows', () => {
    const record = { ...base, ...money, ...versions, ...v4 } as UsageRollupRecord;
    const bytes = latest.encode(record);
    expect(latest.decode(bytes)).toEqual(record);
    const v3Reader = new AvroCodec<object>(registry, 'usage-rollup', { writerVersion: 3, readerVersion: 3 });
    expect(v3Reader.decode(bytes)).toEqual({ ...base, ...money, ...versions, latency_ms_sum: 0, latency_ms_max: 0, ttft_ms_sum: 0, ttft_ms_max: 0 });
  });
});

describe('a corrupt block count is a malformed body, never a stall', () => {
  // avsc reads past the end of a buffer without throwing, so before the bounded walk a count of
  // 2^31 or 2^53 had it loop that many times on one message (found by test/fuzz/avro-decoder).
  const zigzag = (n: bigint): Buffer => {
    let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
    const out: number[] = [];
    for (; z > 0x7fn; z >>= 7n) out.push(Number(z & 0x7fn) | 0x80);
    return Buffer.from([...out, Number(z)]);
  };
  const decodeFailure = (decode: () => unknown): DecodeError | undefined => {
    try {
      decode();
    } catch (error) {
      if (error instanceof DecodeError) return error;
      throw error;
    }
    return undefined;
  };
  const event = { ...readFixture('v2-full'), metadata: {} };
  const rollup = {
    kind: 'cumulative', tenant_id: 'acme', project_id: '', provider: 'openai', model: 'gpt-4o', operation: 'chat', hour_start: 0, source_partition: 0, correction_offset: -1, version: 1,
    requests: 1, input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 0, output_tokens: 0, reasoning_tokens: 0, audio_input_tokens: 0, audio_output_tokens: 0,
    image_input_tokens: 0, image_output_tokens: 0, units: {}, errors: 0, errors_by_class: {}, requests_by_status_class: {}, latency_ms_sum: 0, latency_ms_max: 0, latency_count: 0, ttft_ms_sum: 0,
    ttft_ms_max: 0, ttft_count: 0, latency_us_sum: 0, latency_us_max: 0, ttft_us_sum: 0, ttft_us_max: 0, late_events: 0, cost_pico: '0', charge_pico: '0', cache_savings_pico: '0',
    unpriced_cost_events: 0, unpriced_charge_events: 0, cost_price_versions: [], charge_price_versions: [],
  } as UsageRollupRecord;

  it.each<[string, bigint]>([
    ['2^31 - 1', 2n ** 31n - 1n],
    ['2^53', 2n ** 53n],
    ['-2^40 (a negative count, then a block size)', -(2n ** 40n)],
  ])('usage-event metadata map (the last field) with a block count of %s', (_name, count) => {
    const codec = usageEventCodec();
    const good = Buffer.from(codec.encode(event));
    expect(good.at(-1)).toBe(0); // the empty map's end marker
    const bad = Buffer.concat([good.subarray(0, -1), zigzag(count), Buffer.from([0x02])]);
    expect(decodeFailure(() => codec.decode(bad))).toMatchObject({ reason: 'malformed_body', message: expect.stringContaining('block of') as string });
  });

  it('usage-rollup charge_price_versions array (the last field) with a block count of 2^31 - 1', () => {
    const codec = usageRollupCodec();
    const good = Buffer.from(codec.encode(rollup));
    expect(good.at(-1)).toBe(0);
    const bad = Buffer.concat([good.subarray(0, -1), zigzag(2n ** 31n - 1n), Buffer.from([0x02, 0x61])]);
    expect(decodeFailure(() => codec.decode(bad))).toMatchObject({ reason: 'malformed_body', message: expect.stringContaining('block of 2147483647 items') as string });
    expect(codec.decode(good)).toEqual(rollup);
  });
});
