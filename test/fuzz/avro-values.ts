import type avro from 'avsc';
import fc from 'fast-check';

type AnyType = avro.Type & {
  typeName: string;
  fields?: { name: string; type: AnyType }[];
  types?: AnyType[];
  valuesType?: AnyType;
  itemsType?: AnyType;
  symbols?: string[];
  underlyingType?: AnyType;
};

/** Strings as producers write them: ASCII, any Unicode (astral and combining included), empty, long. */
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ minLength: 65, maxLength: 300 }));

/** Any valid value of an Avro type (as avsc reads and writes it), drawn by fast-check, so runs replay from the seed. */
export function avroValue(type: avro.Type): fc.Arbitrary<unknown> {
  const t = type as AnyType;
  switch (t.typeName) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'string':
      return text;
    case 'int':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'long':
      // avsc writes longs up to 2^53 - 2 exactly (isSafeLong).
      return fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -9007199254740990, max: 9007199254740990 }));
    case 'double':
      return fc.double();
    case 'enum':
      return fc.constantFrom(...(t.symbols ?? []));
    case 'map':
      return fc.dictionary(text, avroValue(t.valuesType!), { maxKeys: 6 });
    case 'array':
      return fc.array(avroValue(t.itemsType!), { maxLength: 6 });
    case 'union:unwrapped':
      return fc.oneof(...(t.types ?? []).map((branch) => avroValue(branch)));
    case 'record':
      return fc.record(Object.fromEntries((t.fields ?? []).map((f) => [f.name, avroValue(f.type)])));
    default:
      if (t.typeName.startsWith('logical:') && t.underlyingType) return avroValue(t.underlyingType);
      throw new Error(`avroValue: no generator for Avro type ${t.typeName}`);
  }
}

/** One change to an encoded message: what a corrupt disk, a bad producer or a truncated fetch does to bytes. */
export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'truncate'; at: number }
  | { op: 'varint'; at: number; value: bigint };

/** Positions are taken modulo the length; `body` keeps the 10-byte single-object header intact. */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0xc3) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  // A zigzag varint written over the bytes there: huge or negative lengths, block counts, union branches.
  fc.record({ op: fc.constant('varint' as const), at: fc.nat(), value: fc.oneof(fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n), fc.bigInt(-3n, 70n), fc.constantFrom(2n ** 31n, 2n ** 32n, 2n ** 53n, -(2n ** 53n))) }),
);

export function zigzagVarint(value: bigint): Uint8Array {
  let n = value >= 0n ? value << 1n : (-value << 1n) - 1n;
  const out: number[] = [];
  while (n > 0x7fn) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return Uint8Array.from(out);
}

/** Applies the mutations in order; positions at or past `from` (the header stays when from = 10). */
export function mutate(bytes: Buffer, mutations: readonly Mutation[], from: number): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    const span = Math.max(1, out.length - from);
    const at = Math.min(out.length, from + (m.at % span));
    switch (m.op) {
      case 'flip':
        if (at < out.length) out[at] = (out[at] as number) ^ (1 << m.bit);
        break;
      case 'set':
        if (at < out.length) out[at] = m.byte;
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
      case 'varint': {
        const v = zigzagVarint(m.value);
        out = Buffer.concat([out.subarray(0, at), v, out.subarray(Math.min(out.length, at + v.length))]);
        break;
      }
    }
  }
  return out;
}
