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

/**
 * Avro single-object encoding for one record type. Writes with `writer` (the newest version
 * unless told otherwise); reads any version of the record registered under schemas/ and
 * resolves it to `reader`, so producers and consumers can upgrade in any order.
 */
export class AvroCodec<T> {
  readonly writer: RegisteredSchema;
  readonly reader: RegisteredSchema;
  readonly #resolvers = new Map<string, avro.Resolver | null>();
  #scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(
    private readonly registry: SchemaRegistry,
    readonly record: string,
    options: { writerVersion?: number; readerVersion?: number } = {},
  ) {
    this.writer = options.writerVersion === undefined ? registry.latest(record) : registry.version(record, options.writerVersion);
    this.reader = options.readerVersion === undefined ? registry.latest(record) : registry.version(record, options.readerVersion);
    this.writer.header.copy(this.#scratch, 0);
  }

  encode(value: T): Buffer {
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
    const hex = bytes.toString('hex', 2, SINGLE_OBJECT_HEADER_BYTES);
    const writer = hex === this.writer.fingerprintHex ? this.writer : this.registry.byFingerprintHex(hex);
    if (!writer) {
      throw new DecodeError('unknown_schema_fingerprint', `unknown writer schema fingerprint ${hex}: no file under schemas/ has it (is this reader older than the writer?)`);
    }
    if (writer.record !== this.record) {
      throw new DecodeError('wrong_record', `message is a ${writer.record} v${writer.version}, expected a ${this.record}`);
    }
    const resolver = this.#resolverFor(writer);
    try {
      const body = bytes.subarray(SINGLE_OBJECT_HEADER_BYTES);
      return (resolver === null ? this.reader.type.fromBuffer(body) : this.reader.type.fromBuffer(body, resolver)) as T;
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
