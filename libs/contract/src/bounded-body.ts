import type avro from 'avsc';

type WalkedType = avro.Type & {
  typeName: string;
  fields?: { type: WalkedType }[];
  types?: WalkedType[];
  valuesType?: WalkedType;
  itemsType?: WalkedType;
  symbols?: string[];
  size?: number;
  underlyingType?: WalkedType;
};

/**
 * Walks an Avro binary body by its writer schema without building a value, and says what is
 * wrong with it, or undefined when avsc can read it without running away. avsc reads past the
 * end of a buffer without throwing (it checks once at the end), so a corrupt array or map block
 * count (2^31, 2^53) has it loop that many times: a poison message that stalls a consumer.
 * Here every length and block count must fit in the bytes left (every item of the registered
 * schemas takes at least one byte), so the walk is linear in the message.
 */
export function bodyProblem(type: avro.Type, bytes: Buffer, start: number): string | undefined {
  const walker = new Walker(bytes, start);
  try {
    walker.walk(type);
  } catch (error) {
    if (error instanceof BodyProblem) return error.message;
    throw error;
  }
  return walker.pos > bytes.length ? `truncated at byte ${bytes.length}` : undefined;
}

class BodyProblem extends Error {}

class Walker {
  constructor(
    private readonly bytes: Buffer,
    public pos: number,
  ) {}

  walk(type: WalkedType): void {
    switch (type.typeName) {
      case 'null':
        return;
      case 'boolean':
        return this.#skip(1, 'boolean');
      case 'int':
      case 'long':
        this.#varint();
        return;
      case 'float':
        return this.#skip(4, 'float');
      case 'double':
        return this.#skip(8, 'double');
      case 'string':
      case 'bytes':
        return this.#skip(this.#varint(), `${type.typeName} length`);
      case 'fixed':
        return this.#skip(type.size ?? 0, 'fixed');
      case 'enum':
        return void this.#index(type.symbols?.length ?? 0, 'enum symbol');
      case 'array':
        return this.#blocks(() => this.walk(type.itemsType!));
      case 'map':
        return this.#blocks(() => {
          this.#skip(this.#varint(), 'map key length');
          this.walk(type.valuesType!);
        });
      case 'union:unwrapped':
      case 'union:wrapped': {
        const branches = type.types ?? [];
        return this.walk(branches[this.#index(branches.length, 'union branch')]!);
      }
      case 'record':
      case 'error':
        for (const field of type.fields ?? []) this.walk(field.type);
        return;
      default:
        if (type.underlyingType !== undefined) return this.walk(type.underlyingType);
        throw new Error(`bodyProblem: no walk for Avro type ${type.typeName}`);
    }
  }

  /** Blocks of items until a zero count; a negative count is followed by the block's byte size. */
  #blocks(item: () => void): void {
    for (;;) {
      const at = this.pos;
      let count = this.#varint();
      if (count === 0) return;
      if (count < 0) {
        count = -count;
        this.#varint();
      }
      if (count > this.bytes.length - this.pos) throw new BodyProblem(`a block of ${count} items at byte ${at}, with ${Math.max(0, this.bytes.length - this.pos)} bytes left`);
      for (let i = 0; i < count; i++) item();
    }
  }

  #index(size: number, what: string): number {
    const at = this.pos;
    const index = this.#varint();
    if (index < 0 || index >= size) throw new BodyProblem(`${what} ${index} at byte ${at}, of ${size}`);
    return index;
  }

  #skip(length: number, what: string): void {
    if (length < 0 || length > this.bytes.length - this.pos) throw new BodyProblem(`${what} ${length} at byte ${this.pos}, with ${Math.max(0, this.bytes.length - this.pos)} bytes left`);
    this.pos += length;
  }

  /** A zigzag varint of at most 10 bytes, as a number (exact to 2^53; only compared and counted here). */
  #varint(): number {
    let value = 0;
    let factor = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) throw new BodyProblem(`truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++] as number;
      value += (b & 0x7f) * factor;
      if ((b & 0x80) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      factor *= 128;
    }
    throw new BodyProblem(`varint longer than 10 bytes at byte ${this.pos - 10}`);
  }
}
