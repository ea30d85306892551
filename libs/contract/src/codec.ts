import type avro from 'avsc';
import { MeterlineError } from '@meterline/platform';
import { SINGLE_OBJECT_HEADER_BYTES, type RegisteredSchema, type SchemaRegistry } from './schema-registry';

export type DecodeFailure = 'not_single_object_encoding' | 'unknown_schema_fingerprint' | 'wrong_record' | 'malformed_body';

/** A message that cannot be read. Never retriable: it goes to the DLQ with `reason`. */
export class DecodeError extends MeterlineError {
  readonly reason: DecodeFailure;
  constructor(reason: DecodeFailure, message: string, cause?: unknown) {
    super('DECODE_FAILED', message, { retriable: false, cause });
    this.reason = reason;
  }
}

// Field kinds the fast writer handles; a schema with anything else is written by avsc alone.
const Kind = {
  String: 0,
  Long: 1,
  Int: 2,
  /** Two-branch unions of null and a string/long/int (either order). */
  NullableString: 3,
  NullableLong: 4,
  NullableInt: 5,
  StringMap: 6,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface FieldPlan {
  name: string;
  kind: Kind;
  /** Union branch index of null / of the value (nullable kinds only). */
  nullIndex: number;
  valueIndex: number;
}

const SLAB_BYTES = 64 * 1024;
/** In a `u` regexp a surrogate pair is one code point, so this matches unpaired surrogates only. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;
// avsc's own bound for longs it writes without precision loss (see isSafeLong in avsc).
const MAX_SAFE_LONG = 9007199254740990;

function planFor(type: avro.Type): FieldPlan[] | undefined {
  const record = type as avro.Type & { typeName: string; fields?: { name: string; type: avro.Type & { typeName: string; types?: (avro.Type & { typeName: string })[]; valuesType?: avro.Type & { typeName: string } } }[] };
  if (record.typeName !== 'record' || !record.fields) return undefined;
  const plan: FieldPlan[] = [];
  for (const field of record.fields) {
    const t = field.type;
    const simple = (name: string): Kind | undefined => (name === 'string' ? Kind.String : name === 'long' ? Kind.Long : name === 'int' ? Kind.Int : undefined);
    const kind = simple(t.typeName);
    if (kind !== undefined) {
      plan.push({ name: field.name, kind, nullIndex: -1, valueIndex: -1 });
    } else if (t.typeName === 'map' && t.valuesType?.typeName === 'string') {
      plan.push({ name: field.name, kind: Kind.StringMap, nullIndex: -1, valueIndex: -1 });
    } else if (t.typeName === 'union:unwrapped' && t.types?.length === 2) {
      const nullIndex = t.types.findIndex((b) => b.typeName === 'null');
      const valueIndex = 1 - nullIndex;
      const inner = nullIndex === -1 ? undefined : simple(t.types[valueIndex]?.typeName ?? '');
      if (inner === undefined) return undefined;
      const nullable = inner === Kind.String ? Kind.NullableString : inner === Kind.Long ? Kind.NullableLong : Kind.NullableInt;
      plan.push({ name: field.name, kind: nullable, nullIndex, valueIndex });
    } else {
      return undefined;
    }
  }
  return plan;
}

/**
 * Writes a flat record (strings, longs, ints, nullable ones, string maps) byte for byte as avsc
 * does, straight into a shared slab (no scratch copy, no per-field dispatch through avsc's
 * types). Anything it is not sure about (a wrong type, a missing field that avsc would fill
 * from its default) returns undefined and the caller lets avsc write it, errors included.
 */
class FastRecordWriter {
  #slab = Buffer.allocUnsafe(SLAB_BYTES);
  #start = 0;
  #pos = 0;

  constructor(
    private readonly plan: readonly FieldPlan[],
    private readonly header: Buffer,
  ) {}

  write(value: unknown): Buffer | undefined {
    if (value === null || typeof value !== 'object') return undefined;
    const record = value as Record<string, unknown>;
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = this.#tryWrite(record);
      if (result !== null) return result;
      // The slab ran out mid-record: start a fresh one (large enough) and write again.
      this.#slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 4 * (this.#pos - this.#start)));
      this.#start = 0;
    }
    return undefined;
  }

  /** The record's bytes, undefined to defer to avsc, or null when the slab is too small. */
  #tryWrite(record: Record<string, unknown>): Buffer | undefined | null {
    const slab = this.#slab;
    const limit = slab.length - 16;
    const start = this.#start;
    if (start + this.header.length + 16 > slab.length) {
      this.#pos = start;
      return null;
    }
    this.header.copy(slab, start);
    this.#pos = start + this.header.length;
    for (const field of this.plan) {
      const v = record[field.name];
      switch (field.kind) {
        case Kind.String:
          if (typeof v !== 'string') return undefined;
          if (!this.#string(v, limit)) return null;
          break;
        case Kind.Long:
          if (typeof v !== 'number' || v % 1 !== 0 || !(v >= -MAX_SAFE_LONG && v <= MAX_SAFE_LONG)) return undefined;
          if (this.#pos > limit) return null;
          this.#long(v);
          break;
        case Kind.Int:
          if (v !== ((v as number) | 0)) return undefined;
          if (this.#pos > limit) return null;
          this.#long(v);
          break;
        case Kind.NullableString:
          if (this.#pos > limit) return null;
          if (v === null) {
            this.#long(field.nullIndex);
          } else {
            if (typeof v !== 'string') return undefined;
            this.#long(field.valueIndex);
            if (!this.#string(v, limit)) return null;
          }
          break;
        case Kind.NullableLong:
          if (this.#pos > limit) return null;
          if (v === null) {
            this.#long(field.nullIndex);
          } else {
            if (typeof v !== 'number' || v % 1 !== 0 || !(v >= -MAX_SAFE_LONG && v <= MAX_SAFE_LONG)) return undefined;
            this.#long(field.valueIndex);
            this.#long(v);
          }
          break;
        case Kind.NullableInt:
          if (this.#pos > limit) return null;
          if (v === null) {
            this.#long(field.nullIndex);
          } else {
            if (typeof v !== 'number' || v !== (v | 0)) return undefined;
            this.#long(field.valueIndex);
            this.#long(v);
          }
          break;
        case Kind.StringMap: {
          if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
          const map = v as Record<string, unknown>;
          const keys = Object.keys(map);
          if (this.#pos > limit) return null;
          if (keys.length > 0) {
            this.#long(keys.length);
            for (const key of keys) {
              const item = map[key];
              if (typeof item !== 'string') return undefined;
              if (!this.#string(key, limit) || !this.#string(item, limit)) return null;
            }
          }
          this.#long(0);
          break;
        }
      }
    }
    const end = this.#pos;
    this.#start = end;
    return slab.subarray(start, end);
  }

  /** avsc's Tap.writeLong: zigzag varint, integer arithmetic while it cannot overflow. */
  #long(n: number): void {
    const buf = this.#slab;
    let pos = this.#pos;
    if (n >= -1073741824 && n < 1073741824) {
      let m = n >= 0 ? n << 1 : (~n << 1) | 1;
      while (m > 0x7f) {
        buf[pos++] = (m & 0x7f) | 0x80;
        m >>= 7;
      }
      buf[pos++] = m;
    } else {
      let f = n >= 0 ? n * 2 : -n * 2 - 1;
      while (f >= 128) {
        buf[pos++] = (f & 0x7f) | 0x80;
        f /= 128;
      }
      buf[pos++] = f & 0x7f;
    }
    this.#pos = pos;
  }

  /**
   * avsc's Tap.writeString: zigzag varint byte length, then UTF-8. The bytes go through the
   * native utf8Write (no charCodeAt loop: those slow down a lot in a process where any library
   * subclasses String, as ioredis does). False when the slab is too small.
   */
  #string(s: string, limit: number): boolean {
    const buf = this.#slab;
    const pos = this.#pos;
    if (pos + 3 * s.length + 5 > limit) return false;
    // Assume a one-byte length prefix (byte length < 64); move the bytes if it is longer.
    const len = buf.write(s, pos + 1);
    if (len !== s.length && len <= 64 && LONE_SURROGATE.test(s)) {
      // avsc writes strings of up to 64 bytes with its own loop, which encodes a lone surrogate
      // differently from utf8Write; stay byte-identical.
      this.#stringLikeAvsc(s);
      return true;
    }
    if (len < 64) {
      buf[pos] = len << 1;
      this.#pos = pos + 1 + len;
      return true;
    }
    const zigzag = len * 2;
    const prefix = zigzag < 0x4000 ? 2 : zigzag < 0x200000 ? 3 : zigzag < 0x10000000 ? 4 : 5;
    buf.copyWithin(pos + prefix, pos + 1, pos + 1 + len);
    this.#long(len);
    this.#pos = pos + prefix + len;
    return true;
  }

  /** avsc's manual UTF-8 loop (used by avsc for strings of up to 64 bytes). */
  #stringLikeAvsc(s: string): void {
    const buf = this.#slab;
    this.#long(Buffer.byteLength(s));
    let pos = this.#pos;
    for (let i = 0; i < s.length; i++) {
      let c1 = s.charCodeAt(i);
      let c2: number;
      if (c1 < 0x80) {
        buf[pos++] = c1;
      } else if (c1 < 0x800) {
        buf[pos++] = (c1 >> 6) | 0xc0;
        buf[pos++] = (c1 & 0x3f) | 0x80;
      } else if ((c1 & 0xfc00) === 0xd800 && ((c2 = s.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
        c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
        i++;
        buf[pos++] = (c1 >> 18) | 0xf0;
        buf[pos++] = ((c1 >> 12) & 0x3f) | 0x80;
        buf[pos++] = ((c1 >> 6) & 0x3f) | 0x80;
        buf[pos++] = (c1 & 0x3f) | 0x80;
      } else {
        buf[pos++] = (c1 >> 12) | 0xe0;
        buf[pos++] = ((c1 >> 6) & 0x3f) | 0x80;
        buf[pos++] = (c1 & 0x3f) | 0x80;
      }
    }
    this.#pos = pos;
  }
}

/**
 * Avro single-object encoding for one record type. Writes with `writer` (the newest version
 * unless told otherwise); reads any version of the record registered under schemas/ and
 * resolves it to `reader`, so producers and consumers can upgrade in any order.
 */
export class AvroCodec<T> {
  readonly writer: RegisteredSchema;
  readonly reader: RegisteredSchema;
  readonly #resolvers = new Map<string, avro.Resolver | null>();
  readonly #fast: FastRecordWriter | undefined;
  #scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(
    private readonly registry: SchemaRegistry,
    readonly record: string,
    options: { writerVersion?: number; readerVersion?: number } = {},
  ) {
    this.writer = options.writerVersion === undefined ? registry.latest(record) : registry.version(record, options.writerVersion);
    this.reader = options.readerVersion === undefined ? registry.latest(record) : registry.version(record, options.readerVersion);
    this.writer.header.copy(this.#scratch, 0);
    const plan = planFor(this.writer.type);
    this.#fast = plan === undefined ? undefined : new FastRecordWriter(plan, this.writer.header);
  }

  /**
   * The single-object encoding of `value`. The result may be a view into a shared slab: treat
   * it as read-only (it is never written again).
   */
  encode(value: T): Buffer {
    const fast = this.#fast?.write(value);
    if (fast !== undefined) return fast;
    for (;;) {
      const end = this.writer.type.encode(value, this.#scratch, SINGLE_OBJECT_HEADER_BYTES);
      if (end > 0) {
        const out = Buffer.allocUnsafe(end);
        this.#scratch.copy(out, 0, 0, end);
        return out;
      }
      // avsc returns minus the size it needed; grow and write again.
      this.#scratch = Buffer.allocUnsafe(Math.max(this.#scratch.length * 2, SINGLE_OBJECT_HEADER_BYTES - end));
      this.writer.header.copy(this.#scratch, 0);
    }
  }

  decode(bytes: Buffer): T {
    if (bytes.length < SINGLE_OBJECT_HEADER_BYTES || bytes[0] !== 0xc3 || bytes[1] !== 0x01) {
      throw new DecodeError('not_single_object_encoding', `not Avro single-object encoding: expected marker C3 01, got ${bytes.subarray(0, 2).toString('hex') || 'nothing'} (${bytes.length} bytes)`);
    }
    // The common case, the reader's own schema, is matched on the bytes (no hex string).
    if (this.#readerHeader(bytes)) return this.#read(bytes, this.reader, null);
    const hex = bytes.toString('hex', 2, SINGLE_OBJECT_HEADER_BYTES);
    const writer = hex === this.writer.fingerprintHex ? this.writer : this.registry.byFingerprintHex(hex);
    if (!writer) {
      throw new DecodeError('unknown_schema_fingerprint', `unknown writer schema fingerprint ${hex}: no file under schemas/ has it (is this reader older than the writer?)`);
    }
    if (writer.record !== this.record) {
      throw new DecodeError('wrong_record', `message is a ${writer.record} v${writer.version}, expected a ${this.record}`);
    }
    return this.#read(bytes, writer, this.#resolverFor(writer));
  }

  #readerHeader(bytes: Buffer): boolean {
    const header = this.reader.header;
    for (let i = 2; i < SINGLE_OBJECT_HEADER_BYTES; i++) if (bytes[i] !== header[i]) return false;
    return true;
  }

  /** The body after the header, as avsc's fromBuffer reads it (same errors), without a copy of the view. */
  #read(bytes: Buffer, writer: RegisteredSchema, resolver: avro.Resolver | null): T {
    try {
      const decoded: { value: unknown; offset: number } = resolver === null ? this.reader.type.decode(bytes, SINGLE_OBJECT_HEADER_BYTES) : this.reader.type.decode(bytes, SINGLE_OBJECT_HEADER_BYTES, resolver);
      if (decoded.offset < 0) throw new Error('truncated buffer');
      if (decoded.offset < bytes.length) throw new Error('trailing data');
      return decoded.value as T;
    } catch (error) {
      throw new DecodeError('malformed_body', `malformed ${this.record} v${writer.version} body: ${error instanceof Error ? error.message : String(error)}`, error);
    }
  }

  #resolverFor(writer: RegisteredSchema): avro.Resolver | null {
    let resolver = this.#resolvers.get(writer.fingerprintHex);
    if (resolver === undefined) {
      resolver = writer.fingerprintHex === this.reader.fingerprintHex ? null : this.reader.type.createResolver(writer.type);
      this.#resolvers.set(writer.fingerprintHex, resolver);
    }
    return resolver;
  }
}
