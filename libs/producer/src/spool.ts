import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '@meterline/platform';

/** One Kafka record waiting in the spool: key (tenant), encoded event, record time. */
export interface SpooledMessage {
  key: Buffer;
  value: Buffer;
  timestamp: number;
}

// Frame: u32 length of the rest | u32 crc32(rest after crc) | u64 timestamp | u16 key length | key | value.
const FRAME_FIXED = 4 + 4 + 8 + 2;

export function encodeFrames(messages: readonly SpooledMessage[]): Buffer {
  let size = 0;
  for (const m of messages) size += FRAME_FIXED + m.key.length + m.value.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const m of messages) {
    const rest = 4 + 8 + 2 + m.key.length + m.value.length;
    out.writeUInt32BE(rest, pos);
    const bodyStart = pos + 8;
    out.writeBigUInt64BE(BigInt(m.timestamp), bodyStart);
    out.writeUInt16BE(m.key.length, bodyStart + 8);
    m.key.copy(out, bodyStart + 10);
    m.value.copy(out, bodyStart + 10 + m.key.length);
    out.writeUInt32BE(crc32(out.subarray(bodyStart, pos + 4 + rest)), pos + 4);
    pos += 4 + rest;
  }
  return out;
}

/** Reads frames up to the first torn or corrupt one (a crash mid-append leaves a torn tail). */
export function decodeFrames(bytes: Buffer): { messages: SpooledMessage[]; ignoredBytes: number } {
  const messages: SpooledMessage[] = [];
  let pos = 0;
  while (pos + FRAME_FIXED <= bytes.length) {
    const rest = bytes.readUInt32BE(pos);
    if (rest < 14 || pos + 4 + rest > bytes.length) break;
    const body = bytes.subarray(pos + 8, pos + 4 + rest);
    if (crc32(body) !== bytes.readUInt32BE(pos + 4)) break;
    const keyLength = body.readUInt16BE(8);
    messages.push({
      timestamp: Number(body.readBigUInt64BE(0)),
      key: Buffer.from(body.subarray(10, 10 + keyLength)),
      value: Buffer.from(body.subarray(10 + keyLength)),
    });
    pos += 4 + rest;
  }
  return { messages, ignoredBytes: bytes.length - pos };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A local append-only spool for events Kafka could not take. Segment files:
 * `<ms>-<pid>-<seq>.open` while this process appends, `.spool` once closed (ready to replay),
 * `.replaying-<pid>` while a replayer owns it. A segment is deleted only after every record in
 * it was acknowledged by Kafka; a crash during replay re-sends it, and the event_id keeps the
 * resend from counting twice downstream.
 */
export class Spool {
  #fd: number | undefined;
  #openPath: string | undefined;
  #seq = 0;
  #pending = 0;
  /** Bytes of whole frames in the open segment: a failed append is cut back to this. */
  #openSize = 0;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly options: { fsync: boolean } = { fsync: true },
  ) {
    mkdirSync(dir, { recursive: true });
    this.#adoptOrphans();
  }

  /** Appends synchronously (and fdatasyncs): when this returns, the messages survive a crash. */
  append(messages: readonly SpooledMessage[]): void {
    if (messages.length === 0) return;
    if (this.#fd === undefined) {
      this.#openPath = join(this.dir, `${Date.now()}-${process.pid}-${String(this.#seq++).padStart(6, '0')}.open`);
      this.#fd = openSync(this.#openPath, 'a');
      this.#openSize = 0;
    }
    const fd = this.#fd;
    const bytes = encodeFrames(messages);
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written);
      if (this.options.fsync) fdatasyncSync(fd);
    } catch (error) {
      this.#cutTornAppend(fd);
      throw error;
    }
    this.#openSize += bytes.length;
    this.#pending += messages.length;
  }

  /**
   * A failed append (disk full) may leave part of its frames: the replay stops at the first
   * torn frame, so later appends behind it would never be read. Cut the segment back to its
   * whole frames; if even that fails, stop appending to it (the next append opens a new one).
   */
  #cutTornAppend(fd: number): void {
    try {
      ftruncateSync(fd, this.#openSize);
    } catch {
      try {
        this.rotate();
      } catch {
        // rotate() already dropped the segment; the next start adopts it.
      }
    }
  }

  /** Events appended by this process and not yet replayed (segments of other runs not included). */
  get pendingInThisProcess(): number {
    return this.#pending;
  }

  /** Closes the segment being appended to, so a replay can take it. */
  rotate(): void {
    const fd = this.#fd;
    const path = this.#openPath;
    if (fd === undefined || path === undefined) return;
    // Forgotten first: a segment that fails to close or rename is never appended to again
    // (left `.open`, it is adopted and replayed at the next start).
    this.#fd = undefined;
    this.#openPath = undefined;
    closeSync(fd);
    renameSync(path, path.replace(/\.open$/, '.spool'));
  }

  hasSegments(): boolean {
    return this.#fd !== undefined || this.#closedSegments().length > 0;
  }

  /**
   * Sends every closed segment, oldest first, through `send` in chunks; deletes a segment
   * once all of it was sent. Stops at the first failure (rethrown). Returns events sent.
   */
  async replay(send: (messages: SpooledMessage[]) => Promise<void>, chunkSize = 5_000): Promise<number> {
    this.rotate();
    let sent = 0;
    for (const segment of this.#closedSegments()) {
      const claimed = join(this.dir, `${segment}.replaying-${process.pid}`);
      try {
        renameSync(join(this.dir, segment), claimed);
      } catch {
        continue; // another replayer took it
      }
      try {
        const { messages, ignoredBytes } = decodeFrames(readFileSync(claimed));
        if (ignoredBytes > 0) this.log.warn({ segment, ignoredBytes }, 'spool segment has a torn tail (crash mid-append); the complete records before it are replayed');
        for (let i = 0; i < messages.length; i += chunkSize) {
          await send(messages.slice(i, i + chunkSize));
        }
        unlinkSync(claimed);
        sent += messages.length;
        this.#pending = Math.max(0, this.#pending - messages.length);
        this.log.info({ segment, events: messages.length }, 'replayed spool segment');
      } catch (error) {
        renameSync(claimed, join(this.dir, segment));
        throw error;
      }
    }
    return sent;
  }

  close(): void {
    this.rotate();
  }

  #closedSegments(): string[] {
    return readdirSync(this.dir).filter((f) => f.endsWith('.spool')).sort();
  }

  /** Segments left `.open` or `.replaying` by a dead process become replayable again. */
  #adoptOrphans(): void {
    for (const file of readdirSync(this.dir)) {
      const open = /^(\d+)-(\d+)-(\d+)\.open$/.exec(file);
      const replaying = /^(.*\.spool)\.replaying-(\d+)$/.exec(file);
      if (open && !pidAlive(Number(open[2]))) {
        renameSync(join(this.dir, file), join(this.dir, file.replace(/\.open$/, '.spool')));
        this.log.warn({ file }, 'adopted a spool segment left open by a stopped process');
      } else if (replaying && !pidAlive(Number(replaying[2]))) {
        renameSync(join(this.dir, file), join(this.dir, replaying[1] as string));
      }
    }
  }
}
