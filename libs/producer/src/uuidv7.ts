import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 16 * 512;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolOffset = POOL_BYTES;
/** ASCII codes of the hex digits. */
const DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** The 36 characters of the id are laid out here, then read back as one flat string. */
const text = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');

function hexByte(at: number, byte: number): void {
  text[at] = DIGITS[byte >>> 4] as number;
  text[at + 1] = DIGITS[byte & 0x0f] as number;
}

/**
 * UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, then random bits. Time-ordered ids keep the
 * raw table's inserts local. Randomness comes from a refilled pool so record() stays cheap.
 */
export function uuidv7(now: number = Date.now()): string {
  if (poolOffset + 10 > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const r = poolOffset;
  poolOffset += 10;
  const ms = Math.floor(now);
  const hi = Math.floor(ms / 0x10000); // top 32 bits of the 48-bit timestamp
  const lo = ms % 0x10000;
  hexByte(0, (hi >>> 24) & 0xff);
  hexByte(2, (hi >>> 16) & 0xff);
  hexByte(4, (hi >>> 8) & 0xff);
  hexByte(6, hi & 0xff);
  hexByte(9, (lo >>> 8) & 0xff);
  hexByte(11, lo & 0xff);
  hexByte(14, 0x70 | ((pool[r] as number) & 0x0f));
  hexByte(16, pool[r + 1] as number);
  hexByte(19, 0x80 | ((pool[r + 2] as number) & 0x3f));
  hexByte(21, pool[r + 3] as number);
  hexByte(24, pool[r + 4] as number);
  hexByte(26, pool[r + 5] as number);
  hexByte(28, pool[r + 6] as number);
  hexByte(30, pool[r + 7] as number);
  hexByte(32, pool[r + 8] as number);
  hexByte(34, pool[r + 9] as number);
  return text.toString('latin1', 0, 36);
}
