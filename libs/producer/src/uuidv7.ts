import { randomFillSync } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const POOL_BYTES = 16 * 512;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolOffset = POOL_BYTES;

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
  const h = (n: number): string => HEX[n & 0xff] as string;
  return (
    h(hi >>> 24) + h(hi >>> 16) + h(hi >>> 8) + h(hi) + '-' + h(lo >>> 8) + h(lo) + '-' +
    h(0x70 | ((pool[r] as number) & 0x0f)) + h(pool[r + 1] as number) + '-' +
    h(0x80 | ((pool[r + 2] as number) & 0x3f)) + h(pool[r + 3] as number) + '-' +
    h(pool[r + 4] as number) + h(pool[r + 5] as number) + h(pool[r + 6] as number) + h(pool[r + 7] as number) + h(pool[r + 8] as number) + h(pool[r + 9] as number)
  );
}
