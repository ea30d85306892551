import type avro from 'avsc';
import { MeterlineError } from '@meterline/platform';
import { bodyProblem } from './bounded-body';
import { CANONICAL, SINGLE_OBJECT_HEADER_BYTES, type FingerprintMatch, type RegisteredSchema, type SchemaRegistry } from './schema-registry';

export type DecodeFailure = 'not_single_object_encoding' | 'unknown_schema_fingerprint' | 'wrong_record' | 'malformed_body';

/** A message that cannot be read. Never retriable: it goes to the DLQ with `reason`. */
export class DecodeError extends MeterlineError {
  readonly reason: DecodeFailure;
  constructor(reason: DecodeFailure, message: string, cause?: unknown) {
    super('DECODE_FAILED', message, { retriable: false, cause });
    this.reason = reason;
  }
}

// Field kinds the fast codec handles; a schema with anything else is read and written by avsc alone.
const Kind = {
  String: 0,
  Long: 1,
  Int: 2,
  /** Two-branch unions of null and a string/long/int (either order). */
  NullableString: 3,
  NullableLong: 4,
  NullableInt: 5,
  StringMap: 6,
  /** Two-branch union of null and a double (either order): fractional telemetry (usage-event v2). */
  NullableDouble: 7,
  /** A map of longs: counts by name (usage-event v2 `units`). */
  LongMap: 8,
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
    } else if (t.typeName === 'map' && t.valuesType?.typeName === 'long') {
      plan.push({ name: field.name, kind: Kind.LongMap, nullIndex: -1, valueIndex: -1 });
    } else if (t.typeName === 'union:unwrapped' && t.types?.length === 2) {
      const nullIndex = t.types.findIndex((b) => b.typeName === 'null');
      const valueIndex = 1 - nullIndex;
      if (nullIndex !== -1 && t.types[valueIndex]?.typeName === 'double') {
        plan.push({ name: field.name, kind: Kind.NullableDouble, nullIndex, valueIndex });
        continue;
      }
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
 * Compiles `body` (built only from the plan: field names go in as JSON string literals, the
 * rest is fixed code) into a function, as avsc compiles its own record readers and writers:
 * static property names are what make per-record reads and writes cheap in V8.
 */
function compile<F>(params: string, body: string): F {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the schema plan only, like avsc's own codecs
  return new Function(params, body) as F;
}

// Writer states: the record can be written; a value avsc must handle (it throws or fills a
// default); the slab is too small.
const WRITE_OK = 0;
const WRITE_DEFER = 1;
const WRITE_FULL = 2;

/**
 * Writes a flat record (strings, longs, ints, nullable ones, string maps) byte for byte as avsc
 * does, straight into a shared slab (no scratch copy, no per-field dispatch through avsc's
 * types). Anything it is not sure about (a wrong type, a missing field that avsc would fill
 * from its default) returns undefined and the caller lets avsc write it, errors included.
 */
class FastRecordWriter {
  slab = Buffer.alloc(SLAB_BYTES);
  pos = 0;
  limit = 0;
  state: number = WRITE_OK;
  #start = 0;
  readonly #fields: (w: FastRecordWriter, v: Record<string, unknown>) => void;

  constructor(
    plan: readonly FieldPlan[],
    private readonly header: Buffer,
  ) {
    const calls = plan.map((field) => {
      const v = `v[${JSON.stringify(field.name)}]`;
      switch (field.kind) {
        case Kind.String:
          return `w.str(${v});`;
        case Kind.Long:
          return `w.long(${v});`;
        case Kind.Int:
          return `w.int(${v});`;
        case Kind.NullableString:
          return `w.nstr(${v}, ${field.nullIndex}, ${field.valueIndex});`;
        case Kind.NullableLong:
          return `w.nlong(${v}, ${field.nullIndex}, ${field.valueIndex});`;
        case Kind.NullableInt:
          return `w.nint(${v}, ${field.nullIndex}, ${field.valueIndex});`;
        case Kind.StringMap:
          return `w.map(${v});`;
        case Kind.NullableDouble:
          return `w.ndouble(${v}, ${field.nullIndex}, ${field.valueIndex});`;
        case Kind.LongMap:
          return `w.longMap(${v});`;
      }
    });
    this.#fields = compile('w, v', calls.join('\n'));
  }

  write(value: unknown): Buffer | undefined {
    if (value === null || typeof value !== 'object') return undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const start = this.#start;
      if (start + this.header.length + 32 > this.slab.length) {
        this.#newSlab(SLAB_BYTES);
        continue;
      }
      this.header.copy(this.slab, start);
      this.pos = start + this.header.length;
      this.limit = this.slab.length - 16;
      this.state = WRITE_OK;
      this.#fields(this, value as Record<string, unknown>);
      if (this.state === WRITE_OK) {
        this.#start = this.pos;
        return this.slab.subarray(start, this.pos);
      }
      if (this.state === WRITE_DEFER) return undefined;
      // The slab ran out mid-record: start a fresh one (large enough) and write again.
      this.#newSlab(4 * (this.pos - start));
    }
    return undefined;
  }

  #newSlab(atLeast: number): void {
    // Touch every page now, once per slab: otherwise the first write into each fresh page
    // takes a page fault inside some later encode() call, which was most of record()'s p99.
    const slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, atLeast));
    for (let i = 0; i < slab.length; i += 4096) slab[i] = 0;
    this.slab = slab;
    this.#start = 0;
  }

  str(v: unknown): void {
    if (this.state !== WRITE_OK) return;
    if (typeof v !== 'string') this.state = WRITE_DEFER;
    else this.#string(v);
  }

  long(v: unknown): void {
    if (this.state !== WRITE_OK) return;
    if (typeof v !== 'number' || v % 1 !== 0 || !(v >= -MAX_SAFE_LONG && v <= MAX_SAFE_LONG)) this.state = WRITE_DEFER;
    else if (this.pos > this.limit) this.state = WRITE_FULL;
    else this.#long(v);
  }

  int(v: unknown): void {
    if (this.state !== WRITE_OK) return;
    if (typeof v !== 'number' || v !== (v | 0)) this.state = WRITE_DEFER;
    else if (this.pos > this.limit) this.state = WRITE_FULL;
    else this.#long(v);
  }

  nstr(v: unknown, nullIndex: number, valueIndex: number): void {
    if (this.state !== WRITE_OK) return;
    if (this.pos > this.limit) this.state = WRITE_FULL;
    else if (v === null) this.#long(nullIndex);
    else if (typeof v !== 'string') this.state = WRITE_DEFER;
    else {
      this.#long(valueIndex);
      this.#string(v);
    }
  }

  nlong(v: unknown, nullIndex: number, valueIndex: number): void {
    if (this.state !== WRITE_OK) return;
    if (this.pos > this.limit) this.state = WRITE_FULL;
    else if (v === null) this.#long(nullIndex);
    else if (typeof v !== 'number' || v % 1 !== 0 || !(v >= -MAX_SAFE_LONG && v <= MAX_SAFE_LONG)) this.state = WRITE_DEFER;
    else {
      this.#long(valueIndex);
      this.#long(v);
    }
  }

  nint(v: unknown, nullIndex: number, valueIndex: number): void {
    if (this.state !== WRITE_OK) return;
    if (this.pos > this.limit) this.state = WRITE_FULL;
    else if (v === null) this.#long(nullIndex);
    else if (typeof v !== 'number' || v !== (v | 0)) this.state = WRITE_DEFER;
    else {
      this.#long(valueIndex);
      this.#long(v);
    }
  }

  /** avsc's DoubleType: 8 bytes little-endian, after the union branch. */
  ndouble(v: unknown, nullIndex: number, valueIndex: number): void {
    if (this.state !== WRITE_OK) return;
    if (this.pos > this.limit) this.state = WRITE_FULL;
    else if (v === null) this.#long(nullIndex);
    else if (typeof v !== 'number') this.state = WRITE_DEFER;
    else {
      this.#long(valueIndex);
      this.pos = this.slab.writeDoubleLE(v, this.pos);
    }
  }

  /** A map of longs, in blocks as avsc writes it (one block of all entries, then 0). */
  longMap(v: unknown): void {
    if (this.state !== WRITE_OK) return;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.state = WRITE_DEFER;
      return;
    }
    const map = v as Record<string, unknown>;
    const keys = Object.keys(map);
    if (this.pos > this.limit) {
      this.state = WRITE_FULL;
      return;
    }
    if (keys.length > 0) {
      this.#long(keys.length);
      for (const key of keys) {
        const item = map[key];
        if (typeof item !== 'number' || item % 1 !== 0 || !(item >= -MAX_SAFE_LONG && item <= MAX_SAFE_LONG)) {
          this.state = WRITE_DEFER;
          return;
        }
        this.#string(key);
        if (this.state !== WRITE_OK) return;
        if (this.pos > this.limit) {
          this.state = WRITE_FULL;
          return;
        }
        this.#long(item);
      }
    }
    if (this.pos > this.limit) this.state = WRITE_FULL;
    else this.#long(0);
  }

  map(v: unknown): void {
    if (this.state !== WRITE_OK) return;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.state = WRITE_DEFER;
      return;
    }
    const map = v as Record<string, unknown>;
    const keys = Object.keys(map);
    if (this.pos > this.limit) {
      this.state = WRITE_FULL;
      return;
    }
    if (keys.length > 0) {
      this.#long(keys.length);
      for (const key of keys) {
        const item = map[key];
        if (typeof item !== 'string') {
          this.state = WRITE_DEFER;
          return;
        }
        this.#string(key);
        this.#string(item);
        if (this.state !== WRITE_OK) return;
      }
    }
    if (this.pos > this.limit) this.state = WRITE_FULL;
    else this.#long(0);
  }

  /** avsc's Tap.writeLong: zigzag varint, integer arithmetic while it cannot overflow. */
  #long(n: number): void {
    const buf = this.slab;
    let pos = this.pos;
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
    this.pos = pos;
  }

  /**
   * avsc's Tap.writeString: zigzag varint byte length, then UTF-8. The bytes go through the
   * native Buffer#write (no charCodeAt loop: those slow down a lot in a process where any
   * library subclasses String, as ioredis does).
   */
  #string(s: string): void {
    const buf = this.slab;
    const pos = this.pos;
    if (pos + 3 * s.length + 5 > this.limit) {
      this.state = WRITE_FULL;
      return;
    }
    // Assume a one-byte length prefix (byte length < 64); move the bytes if it is longer.
    const len = buf.write(s, pos + 1);
    if (len !== s.length && len <= 64 && LONE_SURROGATE.test(s)) {
      // avsc writes strings of up to 64 bytes with its own loop, which encodes a lone surrogate
      // differently from Buffer#write; stay byte-identical.
      this.#stringLikeAvsc(s);
      return;
    }
    if (len < 64) {
      buf[pos] = len << 1;
      this.pos = pos + 1 + len;
      return;
    }
    const zigzag = len * 2;
    const prefix = zigzag < 0x4000 ? 2 : zigzag < 0x200000 ? 3 : zigzag < 0x10000000 ? 4 : 5;
    buf.copyWithin(pos + prefix, pos + 1, pos + 1 + len);
    this.#long(len);
    this.pos = pos + prefix + len;
  }

  /** avsc's manual UTF-8 loop (used by avsc for strings of up to 64 bytes). */
  #stringLikeAvsc(s: string): void {
    const buf = this.slab;
    this.#long(Buffer.byteLength(s));
    let pos = this.pos;
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
    this.pos = pos;
  }
}

/** A small direct-mapped cache of decoded strings for one field: bytes -> string. */
class StringCache {
  static readonly SLOTS = 512;
  readonly bytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(StringCache.SLOTS).fill(undefined);
  readonly values: string[] = new Array<string>(StringCache.SLOTS).fill('');
  lookups = 0;
  hits = 0;
  /** Turned off for a field whose values rarely repeat (e.g. event ids). */
  enabled = true;
}

/** Longest string (in bytes) looked up in a field's cache. */
const CACHED_STRING_BYTES = 96;

/**
 * Reads what FastRecordWriter writes (the writer schema is the reader schema, no resolution):
 * the same values avsc's compiled reader returns, as plain objects, with repeated short strings
 * (tenants, models, providers, key hashes) taken from a per-field cache instead of being
 * decoded again. Anything unusual (a bad union index, a long that would lose precision, a
 * truncated body, trailing bytes) returns undefined, and avsc reads it and reports the error.
 */
class FastRecordReader {
  readonly #caches: StringCache[];
  readonly #fields: (r: FastRecordReader) => Record<string, unknown>;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #end = 0;
  ok = true;

  constructor(plan: readonly FieldPlan[]) {
    this.#caches = plan.map(() => new StringCache());
    // Object literal in field order, as avsc's record constructor assigns them.
    const values = plan.map((field, f) => {
      const key = JSON.stringify(field.name);
      switch (field.kind) {
        case Kind.String:
          return `${key}: r.str(${f})`;
        case Kind.Long:
          return `${key}: r.long()`;
        case Kind.Int:
          return `${key}: r.int()`;
        case Kind.NullableString:
          return `${key}: r.branch(${field.nullIndex}, ${field.valueIndex}) ? r.str(${f}) : null`;
        case Kind.NullableLong:
          return `${key}: r.branch(${field.nullIndex}, ${field.valueIndex}) ? r.long() : null`;
        case Kind.NullableInt:
          return `${key}: r.branch(${field.nullIndex}, ${field.valueIndex}) ? r.int() : null`;
        case Kind.StringMap:
          return `${key}: r.map()`;
        case Kind.NullableDouble:
          return `${key}: r.branch(${field.nullIndex}, ${field.valueIndex}) ? r.double() : null`;
        case Kind.LongMap:
          return `${key}: r.longMap()`;
      }
    });
    this.#fields = compile('r', `return {\n${values.join(',\n')}\n};`);
  }

  read(bytes: Buffer, start: number): Record<string, unknown> | undefined {
    this.#buf = bytes;
    this.#pos = start;
    this.#end = bytes.length;
    this.ok = true;
    const value = this.#fields(this);
    return this.ok && this.#pos === this.#end ? value : undefined;
  }

  /** A union's branch: true for the value, false for null. */
  branch(nullIndex: number, valueIndex: number): boolean {
    const index = this.#varint();
    if (index === valueIndex) return true;
    if (index !== nullIndex) this.#fail();
    return false;
  }

  /** LongType._read: a long that cannot be exact is avsc's error to raise. */
  long(): number {
    const n = this.#varint();
    return n >= -MAX_SAFE_LONG && n <= MAX_SAFE_LONG ? n : this.#fail();
  }

  int(): number {
    return this.#varint();
  }

  double(): number {
    const pos = this.#pos;
    if (pos + 8 > this.#end) return this.#fail();
    this.#pos = pos + 8;
    return this.#buf.readDoubleLE(pos);
  }

  /** Like map(), with long values. */
  longMap(): Record<string, number> {
    const map: Record<string, number> = {};
    for (;;) {
      let n = this.#varint();
      if (!this.ok || n === 0) return map;
      if (n < 0) {
        n = -n;
        this.#varint();
      }
      while (n-- > 0) {
        const key = this.str(-1);
        map[key] = this.long();
        if (!this.ok) return map;
      }
    }
  }

  /** avsc's MapType._read: blocks of entries until a zero count; a negative count is followed by the block's byte size. */
  map(): Record<string, string> {
    const map: Record<string, string> = {};
    for (;;) {
      let n = this.#varint();
      if (!this.ok || n === 0) return map;
      if (n < 0) {
        n = -n;
        this.#varint();
      }
      while (n-- > 0) {
        const key = this.str(-1);
        map[key] = this.str(-1);
        if (!this.ok) return map;
      }
    }
  }

  str(field: number): string {
    const len = this.#varint();
    const start = this.#pos;
    if (!this.ok || len < 0 || start + len > this.#end) {
      this.#fail();
      return '';
    }
    this.#pos = start + len;
    const buf = this.#buf;
    const cache = field >= 0 && len <= CACHED_STRING_BYTES ? this.#caches[field] : undefined;
    if (cache === undefined || !cache.enabled) return buf.toString('utf8', start, start + len);
    let hash = len;
    for (let i = start; i < start + len; i++) hash = Math.imul(hash ^ (buf[i] as number), 16777619);
    const slot = (hash ^ (hash >>> 15)) & (StringCache.SLOTS - 1);
    const known = cache.bytes[slot];
    cache.lookups++;
    if (known !== undefined && known.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (known[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        cache.hits++;
        return cache.values[slot] as string;
      }
    }
    const value = buf.toString('utf8', start, start + len);
    cache.bytes[slot] = Uint8Array.prototype.slice.call(buf, start, start + len);
    cache.values[slot] = value;
    if (cache.lookups === 4_096 && cache.hits < 1_024) cache.enabled = false;
    return value;
  }

  /** avsc's Tap.readLong (zigzag varint, float arithmetic past 28 bits). */
  #varint(): number {
    const buf = this.#buf;
    let pos = this.#pos;
    let n = 0;
    let k = 0;
    let b: number;
    let h: number;
    do {
      if (pos >= this.#end) return this.#fail();
      b = buf[pos++] as number;
      h = b & 0x80;
      n |= (b & 0x7f) << k;
      k += 7;
    } while (h !== 0 && k < 28);
    if (h !== 0) {
      let f = n;
      let fk = 268435456;
      do {
        if (pos >= this.#end) return this.#fail();
        b = buf[pos++] as number;
        f += (b & 0x7f) * fk;
        fk *= 128;
      } while ((b & 0x80) !== 0);
      this.#pos = pos;
      return (f % 2 ? -(f + 1) : f) / 2;
    }
    this.#pos = pos;
    return (n >> 1) ^ -(n & 1);
  }

  #fail(): number {
    this.ok = false;
    this.#pos = this.#end;
    return 0;
  }
}

/** A decoded message and how its writer named its schema. */
export interface DecodedMessage<T> {
  value: T;
  /** The writer's schema version. */
  writer: RegisteredSchema;
  /** `canonical`, or the library variant whose fingerprint the header carried (`python-avro-1.11|goavro-2`). */
  fingerprintForm: string;
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
  readonly #variantReads = new Map<string, number>();
  readonly #fast: FastRecordWriter | undefined;
  readonly #fastReader: FastRecordReader | undefined;
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
    const readerPlan = planFor(this.reader.type);
    this.#fastReader = readerPlan === undefined ? undefined : new FastRecordReader(readerPlan);
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
    this.#checkMarker(bytes);
    // The common case, the reader's own schema, is matched on the bytes (no hex string).
    if (this.#readerHeader(bytes)) return this.#readOwn(bytes);
    return this.#readMatched(bytes, this.#match(bytes));
  }

  /** Like decode, and says which schema version and which fingerprint form the writer used. */
  decodeMessage(bytes: Buffer): DecodedMessage<T> {
    this.#checkMarker(bytes);
    if (this.#readerHeader(bytes)) return { value: this.#readOwn(bytes), writer: this.reader, fingerprintForm: CANONICAL };
    const match = this.#match(bytes);
    return { value: this.#readMatched(bytes, match), writer: match.schema, fingerprintForm: match.form };
  }

  /** Messages read so far whose header carried a library variant's fingerprint, by variant name. */
  variantReads(): ReadonlyMap<string, number> {
    return this.#variantReads;
  }

  #checkMarker(bytes: Buffer): void {
    if (bytes.length < SINGLE_OBJECT_HEADER_BYTES || bytes[0] !== 0xc3 || bytes[1] !== 0x01) {
      throw new DecodeError('not_single_object_encoding', `not Avro single-object encoding: expected marker C3 01, got ${bytes.subarray(0, 2).toString('hex') || 'nothing'} (${bytes.length} bytes)`);
    }
  }

  #readOwn(bytes: Buffer): T {
    const fast = this.#fastReader?.read(bytes, SINGLE_OBJECT_HEADER_BYTES);
    if (fast !== undefined) return fast as T;
    return this.#read(bytes, this.reader, null);
  }

  #match(bytes: Buffer): FingerprintMatch {
    const hex = bytes.toString('hex', 2, SINGLE_OBJECT_HEADER_BYTES);
    const match = this.registry.byFingerprintHex(hex);
    if (!match) {
      throw new DecodeError('unknown_schema_fingerprint', `unknown writer schema fingerprint ${hex}: no schema under schemas/ has it, in its canonical form or in a known library's variant (is this reader older than the writer?)`);
    }
    if (match.schema.record !== this.record) {
      throw new DecodeError('wrong_record', `message is a ${match.schema.record} v${match.schema.version}, expected a ${this.record}`);
    }
    return match;
  }

  /** A variant's body is the same Avro binary as the canonical writer's: only the header differs. */
  #readMatched(bytes: Buffer, match: FingerprintMatch): T {
    if (match.form !== CANONICAL) this.#variantReads.set(match.form, (this.#variantReads.get(match.form) ?? 0) + 1);
    if (match.schema === this.reader) return this.#readOwn(bytes);
    return this.#read(bytes, match.schema, this.#resolverFor(match.schema));
  }

  #readerHeader(bytes: Buffer): boolean {
    const header = this.reader.header;
    for (let i = 2; i < SINGLE_OBJECT_HEADER_BYTES; i++) if (bytes[i] !== header[i]) return false;
    return true;
  }

  /**
   * The body after the header, as avsc's fromBuffer reads it (same errors), without a copy of
   * the view; first walked with bounds (avsc would loop on a corrupt block count).
   */
  #read(bytes: Buffer, writer: RegisteredSchema, resolver: avro.Resolver | null): T {
    const problem = bodyProblem(writer.type, bytes, SINGLE_OBJECT_HEADER_BYTES);
    if (problem !== undefined) throw new DecodeError('malformed_body', `malformed ${this.record} v${writer.version} body: ${problem}`);
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
