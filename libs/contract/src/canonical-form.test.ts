import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { UsageEvent } from '@meterline/domain';
import { FINGERPRINT_DIALECTS, SPEC_CANONICAL_FORM, canonicalForm, type CanonicalFormDialect } from './canonical-form';
import { AvroCodec, DecodeError } from './codec';
import { crc64Avro, fingerprintBytes } from './crc64-avro';
import { CANONICAL, SINGLE_OBJECT_HEADER_BYTES, SINGLE_OBJECT_MAGIC, SchemaRegistry, type RegisteredSchema } from './schema-registry';
import { PRIMITIVE_OBJECT_RULES, type PrimitiveObjectRule } from './testdata/canonical-form-rules';

const registry = SchemaRegistry.load();
const schemas = registry.all();
const dialects: CanonicalFormDialect[] = [SPEC_CANONICAL_FORM, ...FINGERPRINT_DIALECTS];
const hexOf = (form: string): string => fingerprintBytes(crc64Avro(Buffer.from(form, 'utf8'))).toString('hex');
const rawSchema = (schema: RegisteredSchema): { fields: { name: string; type: unknown }[] } => JSON.parse(readFileSync(schema.file, 'utf8')) as { fields: { name: string; type: unknown }[] };
const ruleFor = (type: unknown): PrimitiveObjectRule | undefined => PRIMITIVE_OBJECT_RULES.find((rule) => JSON.stringify(rule.schema) === JSON.stringify(type));

describe('canonical forms: each library rule for a primitive written as an object', () => {
  const cases = PRIMITIVE_OBJECT_RULES.flatMap((rule) => dialects.map((dialect) => [rule.what, dialect.name, rule, dialect] as const));
  it.each(cases)('%s, as %s writes it', (_what, name, rule, dialect) => {
    const record = { type: 'record', name: 'R', namespace: 'x', fields: [{ name: 'f', type: rule.schema, default: 0 }] };
    const expected = rule.forms[name as keyof PrimitiveObjectRule['forms']];
    expect(canonicalForm(record, dialect)).toBe(expected === undefined ? undefined : `{"name":"x.R","type":"record","fields":[{"name":"f","type":${expected}}]}`);
  });

  it('names, namespaces and repeated named types follow the specification in every dialect', () => {
    const schema = {
      type: 'record', name: 'Outer', namespace: 'a.b', doc: 'stripped', aliases: ['gone'],
      fields: [
        { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['x', 'y'], doc: 'stripped' }, default: 'x' },
        { name: 'again', type: ['null', 'Kind', 'a.b.Kind'] },
        { name: 'other', type: { type: 'fixed', name: 'c.Hash', size: 4 } },
        { name: 'tags', type: { type: 'array', items: { type: 'map', values: 'string' } }, order: 'ignore' },
      ],
    };
    const expected = '{"name":"a.b.Outer","type":"record","fields":[{"name":"kind","type":{"name":"a.b.Kind","type":"enum","symbols":["x","y"]}},{"name":"again","type":["null","a.b.Kind","a.b.Kind"]},{"name":"other","type":{"name":"c.Hash","type":"fixed","size":4}},{"name":"tags","type":{"type":"array","items":{"type":"map","values":"string"}}}]}';
    for (const dialect of dialects) expect(canonicalForm(schema, dialect)).toBe(expected);
  });
});

describe.each(schemas.map((s) => [`${s.record} v${s.version}`, s] as const))('%s', (_name, schema) => {
  const raw = rawSchema(schema);

  it('the specification rules give avsc\'s canonical form, whose CRC-64-AVRO is the registered fingerprint', () => {
    const form = canonicalForm(raw);
    expect(form).toBe(JSON.stringify(schema.type.schema()));
    expect(hexOf(form!)).toBe(schema.fingerprintHex);
    expect(schema.header.equals(Buffer.concat([SINGLE_OBJECT_MAGIC, Buffer.from(schema.fingerprintHex, 'hex')]))).toBe(true);
  });

  // The reference: the canonical form with each field's primitive object written as the
  // library's rule (the table above) says, one field at a time (no traversal shared with the code).
  it.each(FINGERPRINT_DIALECTS.map((d) => [d.name, d] as const))('registers the %s variant that library writes', (name, dialect) => {
    let expected = canonicalForm(raw)!;
    let substituted = 0;
    for (const field of raw.fields) {
      if (typeof field.type !== 'object' || field.type === null || Array.isArray(field.type)) continue;
      const type = field.type as { type: unknown };
      if (typeof type.type !== 'string' || !['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string'].includes(type.type)) continue;
      const rule = ruleFor(field.type);
      expect(rule, `a rule for ${JSON.stringify(field.type)} in testdata/canonical-form-rules.ts`).toBeDefined();
      const libraryForm = rule!.forms[name as keyof PrimitiveObjectRule['forms']];
      expect(libraryForm).toBeDefined();
      const spec = `{"name":${JSON.stringify(field.name)},"type":${JSON.stringify(type.type)}}`;
      expect(expected).toContain(spec);
      expected = expected.replace(spec, `{"name":${JSON.stringify(field.name)},"type":${libraryForm}}`);
      substituted++;
    }
    // Every logical type of the file sits on a top-level field (so the reference above saw them all).
    expect(readFileSync(schema.file, 'utf8').split('"logicalType"').length - 1).toBe(substituted);
    expect(canonicalForm(raw, dialect)).toBe(expected);
    const variant = schema.variants.find((v) => v.name.split('|').includes(name));
    if (expected === canonicalForm(raw)) {
      expect(variant).toBeUndefined();
      return;
    }
    expect(variant?.form).toBe(expected);
    expect(variant?.fingerprintHex).toBe(hexOf(expected));
    expect(variant?.fingerprint).toBe(crc64Avro(Buffer.from(expected, 'utf8')));
    expect(registry.byFingerprintHex(variant!.fingerprintHex)).toEqual({ schema, form: variant!.name });
  });

  it('dialects that write the same form share one variant, and no variant repeats the canonical fingerprint', () => {
    const hexes = schema.variants.map((v) => v.fingerprintHex);
    expect(new Set(hexes).size).toBe(hexes.length);
    expect(hexes).not.toContain(schema.fingerprintHex);
    const differing = FINGERPRINT_DIALECTS.filter((dialect) => canonicalForm(raw, dialect) !== canonicalForm(raw)).map((dialect) => dialect.name);
    expect(schema.variants.flatMap((v) => v.name.split('|')).sort()).toEqual(differing.sort());
  });
});

describe('reading a message whose header carries a variant fingerprint', () => {
  const event: UsageEvent = JSON.parse(readFileSync(new URL('../../../schemas/usage-event/fixtures/v1-full.json', import.meta.url), 'utf8')) as UsageEvent;
  const v1 = registry.version('usage-event', 1);
  const v1Writer = new AvroCodec<UsageEvent>(registry, 'usage-event', { writerVersion: 1, readerVersion: 1 });
  const canonicalBytes = v1Writer.encode(event);
  const body = canonicalBytes.subarray(SINGLE_OBJECT_HEADER_BYTES);
  const withHeader = (hex: string): Buffer => Buffer.concat([SINGLE_OBJECT_MAGIC, Buffer.from(hex, 'hex'), body]);

  it.each(v1.variants.map((v) => [v.name, v] as const))('%s: decodes exactly as the canonical header does, and says which variant', (name, variant) => {
    for (const readerVersion of [1, registry.latest('usage-event').version]) {
      const codec = new AvroCodec<UsageEvent>(registry, 'usage-event', { readerVersion });
      const expected = codec.decode(canonicalBytes);
      const decoded = codec.decodeMessage(withHeader(variant.fingerprintHex));
      expect(decoded.value).toEqual(expected);
      expect(decoded.writer).toBe(v1);
      expect(decoded.fingerprintForm).toBe(name);
      expect(codec.decode(withHeader(variant.fingerprintHex))).toEqual(expected);
      expect(codec.variantReads().get(name)).toBe(2);
      expect(codec.decodeMessage(canonicalBytes).fingerprintForm).toBe(CANONICAL);
    }
    expect(v1Writer.decode(withHeader(variant.fingerprintHex))).toEqual(event);
  });

  it('a fingerprint no schema has in any form is an unknown_schema_fingerprint naming it', () => {
    // A "library" that hashed the pretty-printed schema file: no dialect writes that.
    const pretty = hexOf(readFileSync(v1.file, 'utf8'));
    const codec = new AvroCodec<UsageEvent>(registry, 'usage-event');
    const bytes = withHeader(pretty);
    expect(() => codec.decodeMessage(bytes)).toThrow(DecodeError);
    try {
      codec.decode(bytes);
      expect.unreachable();
    } catch (error) {
      expect((error as DecodeError).reason).toBe('unknown_schema_fingerprint');
      expect((error as DecodeError).message).toContain(`unknown writer schema fingerprint ${pretty}`);
    }
    expect(codec.variantReads().size).toBe(0);
  });

  it('a variant fingerprint of another record is a wrong_record', () => {
    const rollup = registry.latest('usage-rollup');
    const codec = new AvroCodec<UsageEvent>(registry, 'usage-event');
    for (const variant of rollup.variants) {
      expect(() => codec.decode(withHeader(variant.fingerprintHex))).toThrow(`message is a usage-rollup v${rollup.version}, expected a usage-event`);
    }
  });
});
