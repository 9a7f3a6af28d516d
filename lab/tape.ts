/**
 * Tape drive emulator over an AWSTAPE file (Hercules format), with the drive state in a JSON file beside it
 * (lab/drive-state.ts, re-exported here).
 * One Drive object = one open of the device by one command; a lock file serialises commands on one drive.
 *
 * AWSTAPE block: u16le length of this segment, u16le length of the previous segment, u8 flags1
 * (0x80 start of record, 0x40 tapemark, 0x20 end of record), u8 flags2 = 0, then the data.
 */
import * as fs from 'node:fs';
import { awsPath, readState, TapeError, writeState, type DevicePaths, type DriveState } from './drive-state';

export {
  awsPath,
  devicePaths,
  lock,
  openDevice,
  newDriveState,
  parseDevice,
  readState,
  TapeError,
  writeState,
  type DeviceName,
  type DevicePaths,
  type DriveState,
  type TapeErrno,
} from './drive-state';

export const SEG_MAX = 65535;
const HDR = 6;
const F_BOR = 0x80;
const F_TM = 0x40;
const F_EOR = 0x20;

export interface WriteOptions {
  /** Called before each write() reaches the tape; may throw a TapeError (fault injection). */
  beforeWrite?: (fileNo: number, nth: number) => void;
  /** Physical end of medium as an AWS byte offset (fault), overriding the capacity when lower. */
  eomAt?: number;
}

/** An open tape device. */
export class Drive {
  readonly st: DriveState;
  private fd: number;
  private wrote = false;
  /** Data bytes written to tape by this open. */
  dataBytes = 0;
  private writeCount = 0;
  private prevLen = 0;
  private truncated = false;

  constructor(
    readonly paths: DevicePaths,
    readonly rewindOnClose: boolean,
    readonly opts: WriteOptions = {},
  ) {
    this.st = readState(paths);
    if (!this.st.loaded) throw new TapeError('ENOTREADY');
    const aws = awsPath(paths, this.st);
    this.fd = fs.openSync(aws, fs.existsSync(aws) ? 'r+' : 'w+');
  }

  /** 1-based number of the tape file at the position. */
  get fileNo(): number {
    return this.st.marks.filter((m) => m < this.st.offset).length + 1;
  }

  get wroteData(): boolean {
    return this.wrote;
  }

  position(): { file: number; offset: number; atBOT: boolean } {
    return { file: this.fileNo, offset: this.st.offset, atBOT: this.st.offset === 0 };
  }

  private header(at: number): { cur: number; prev: number; f1: number } | undefined {
    if (at + HDR > this.st.size) return undefined;
    const b = Buffer.alloc(HDR);
    fs.readSync(this.fd, b, 0, HDR, at);
    return { cur: b.readUInt16LE(0), prev: b.readUInt16LE(2), f1: b[4]! };
  }

  /** Prepare to write at the position: everything after it is erased. */
  private beginWrite(): void {
    if (this.truncated) return;
    const s = this.st;
    if (s.offset === 0) this.prevLen = 0;
    else if (s.offset < s.size) this.prevLen = this.header(s.offset)?.prev ?? 0;
    else this.prevLen = s.lastLen;
    if (s.offset < s.size) {
      fs.ftruncateSync(this.fd, s.offset);
      s.size = s.offset;
    }
    s.marks = s.marks.filter((m) => m < s.offset);
    s.eom = s.eom && s.offset >= Math.min(s.capacityBytes, this.opts.eomAt ?? Infinity);
    this.truncated = true;
  }

  private limit(): number {
    return Math.min(this.st.capacityBytes, this.opts.eomAt ?? Infinity);
  }

  /** Whole blocks of blk bytes that fit in `room` AWS bytes. */
  private static blocksThatFit(room: number, blk: number): number {
    const each = Drive.awsBytes(blk, blk);
    return room > 0 ? Math.floor(room / each) : 0;
  }

  /** Bytes the AWS file grows by for one write of len bytes split in blocks of blk bytes. */
  private static awsBytes(len: number, blk: number): number {
    const blocks = len / blk;
    return len + blocks * Math.max(1, Math.ceil(blk / SEG_MAX)) * HDR;
  }

  /**
   * Writes `count` consecutive write() calls of `writeSize` bytes each, taken from buf (buf.length = count * writeSize,
   * except that the last call may be shorter). Returns after each call succeeded or throws at the failing one;
   * calls before it are on tape. Throws TapeError with `.written` bytes done.
   */
  write(buf: Buffer, writeSize: number): void {
    this.beginWrite();
    const s = this.st;
    const limit = this.limit();
    // First decide how many of the write() calls succeed, then lay them out in one buffer.
    let ok = 0; // bytes of buf that go to tape
    let grow = 0; // AWS bytes they take
    let failure: TapeError | undefined;
    while (ok < buf.length) {
      const len = Math.min(writeSize, buf.length - ok);
      this.writeCount++;
      try {
        this.opts.beforeWrite?.(this.fileNo, this.writeCount);
      } catch (e) {
        failure = e as TapeError;
        break;
      }
      if (s.eom) {
        failure = new TapeError(s.os === 'aix' ? 'ENXIO' : 'ENOSPC');
        break;
      }
      if ((s.blockSize > 0 && len % s.blockSize !== 0) || (s.blockSize === 0 && len > 16 * 1024 * 1024)) {
        failure = new TapeError('EINVAL');
        break;
      }
      const blk = s.blockSize > 0 ? s.blockSize : len;
      const g = Drive.awsBytes(len, blk);
      if (s.offset + grow + g > limit) {
        // The write that reaches the end of the medium: its whole blocks that fit go on tape and the call returns
        // that short count; dd's write of the rest then fails (AIX: ENXIO, Linux st past the early warning: ENOSPC).
        const fit = Drive.blocksThatFit(limit - s.offset - grow, blk);
        s.eom = true;
        grow += Drive.awsBytes(fit * blk, blk);
        ok += fit * blk;
        failure = new TapeError(s.os === 'aix' ? 'ENXIO' : 'ENOSPC', fit ? 'short write at end of medium' : 'end of medium');
        break;
      }
      grow += g;
      ok += len;
    }
    if (ok > 0) {
      const blk0 = s.blockSize > 0 ? s.blockSize : 0;
      const CH = 8 * 1024 * 1024;
      let pos = 0;
      while (pos < ok) {
        // one output chunk of whole writes, about CH bytes
        let end = pos;
        let g = 0;
        while (end < ok && (g < CH || end === pos)) {
          const len = Math.min(writeSize, ok - end);
          g += Drive.awsBytes(len, blk0 || len);
          end += len;
        }
        const chunk = Buffer.allocUnsafe(g);
        let o = 0;
        let prev = this.prevLen;
        for (let w = pos; w < end; w += writeSize) {
          const len = Math.min(writeSize, end - w);
          const blk = blk0 || len;
          for (let b = w; b < w + len; b += blk) {
            let rem = blk;
            let at = b;
            let first = true;
            while (rem > 0) {
              const seg = rem > SEG_MAX ? SEG_MAX : rem;
              chunk[o] = seg & 0xff;
              chunk[o + 1] = seg >>> 8;
              chunk[o + 2] = prev & 0xff;
              chunk[o + 3] = prev >>> 8;
              chunk[o + 4] = (first ? F_BOR : 0) | (rem === seg ? F_EOR : 0);
              chunk[o + 5] = 0;
              o += HDR;
              buf.copy(chunk, o, at, at + seg);
              o += seg;
              at += seg;
              prev = seg;
              rem -= seg;
              first = false;
            }
          }
        }
        fs.writeSync(this.fd, chunk, 0, o, s.offset);
        s.offset += o;
        s.size = s.offset;
        this.prevLen = prev;
        s.lastLen = prev;
        this.dataBytes += end - pos;
        this.wrote = true;
        pos = end;
      }
    }
    this.save();
    if (failure) throw failure;
  }

  writeMarks(n: number): void {
    this.beginWrite();
    const s = this.st;
    for (let i = 0; i < n; i++) {
      const h = Buffer.alloc(HDR);
      h.writeUInt16LE(0, 0);
      h.writeUInt16LE(this.prevLen, 2);
      h[4] = F_TM;
      fs.writeSync(this.fd, h, 0, HDR, s.offset);
      s.marks.push(s.offset);
      s.offset += HDR;
      s.size = s.offset;
      this.prevLen = 0;
      s.lastLen = 0;
    }
    this.save();
  }

  rewind(): void {
    this.st.offset = 0;
    this.save();
  }

  /** Forward space n filemarks; past the last one: EIO, positioned at the end of data. */
  fsf(n: number): void {
    const s = this.st;
    for (let i = 0; i < n; i++) {
      const next = s.marks.find((m) => m >= s.offset);
      if (next === undefined) {
        s.offset = s.size;
        this.save();
        throw new TapeError('EIO');
      }
      s.offset = next + HDR;
    }
    this.save();
  }

  /** Backward space n filemarks: ends on the BOT side of the n-th mark. Past BOT: rewound, EIO. */
  bsf(n: number): void {
    const s = this.st;
    for (let i = 0; i < n; i++) {
      const prev = [...s.marks].reverse().find((m) => m < s.offset);
      if (prev === undefined) {
        s.offset = 0;
        this.save();
        throw new TapeError('EIO');
      }
      s.offset = prev;
    }
    this.save();
  }

  /** To the end of recorded data (Linux `mt eod`). */
  eod(): void {
    this.st.offset = this.st.size;
    this.save();
  }

  /**
   * Reads from the position, calling sink for each read() result (one per call of `readSize` bytes):
   * fixed mode returns whole blocks up to readSize, variable mode one block (EINVAL-like ENOMEM if larger).
   * Stops at a tapemark (consumed, position past it), after maxReads calls, or fails with EIO on blank tape.
   * Returns the number of successful non-empty reads.
   */
  read(readSize: number, maxReads: number, sink: (data: Buffer) => void): number {
    const s = this.st;
    if (s.blockSize > 0 && readSize % s.blockSize !== 0) throw new TapeError('EINVAL');
    const CH = 4 * 1024 * 1024;
    let cache = Buffer.alloc(0);
    let cacheAt = 0;
    const bytesAt = (at: number, n: number): Buffer => {
      if (at < cacheAt || at + n > cacheAt + cache.length) {
        const want = Math.max(n, CH);
        const b = Buffer.allocUnsafe(Math.min(want, Math.max(0, s.size - at)));
        const got = fs.readSync(this.fd, b, 0, b.length, at);
        cache = b.subarray(0, got);
        cacheAt = at;
        if (got < n) throw new TapeError('EIO', 'truncated AWS file');
      }
      return cache.subarray(at - cacheAt, at - cacheAt + n);
    };
    /** Returns the next block (undefined at a tapemark, consumed). */
    const nextBlock = (): Buffer | undefined => {
      if (s.offset >= s.size) throw new TapeError('EIO');
      const parts: Buffer[] = [];
      let at = s.offset;
      for (;;) {
        const h = bytesAt(at, HDR);
        const cur = h.readUInt16LE(0);
        const f1 = h[4]!;
        if (f1 & F_TM) {
          if (parts.length) throw new TapeError('EIO', 'tapemark inside a record');
          s.offset = at + HDR;
          return undefined;
        }
        parts.push(Buffer.from(bytesAt(at + HDR, cur)));
        at += HDR + cur;
        if (f1 & F_EOR) break;
        if (at >= s.size) throw new TapeError('EIO', 'record runs past the end of data');
      }
      s.offset = at;
      return parts.length === 1 ? parts[0] : Buffer.concat(parts);
    };
    let reads = 0;
    try {
      while (reads < maxReads) {
        if (s.blockSize === 0) {
          const blk = nextBlock();
          if (!blk) break;
          if (blk.length > readSize) throw new TapeError('ENOMEM');
          sink(blk);
          reads++;
        } else {
          const got: Buffer[] = [];
          let n = 0;
          let atMark = false;
          while (n < readSize) {
            if (n > 0 && s.offset >= s.size) break;
            const blk = nextBlock();
            if (!blk) {
              atMark = true;
              break;
            }
            if (blk.length !== s.blockSize) throw new TapeError('EIO', 'block length differs from the block size');
            got.push(blk);
            n += blk.length;
          }
          if (n > 0) {
            sink(got.length === 1 ? got[0]! : Buffer.concat(got, n));
            reads++;
          }
          if (atMark || n === 0) break;
        }
      }
    } finally {
      this.save();
    }
    return reads;
  }

  save(): void {
    writeState(this.paths, this.st);
  }

  /** Close: after a write, one filemark (no-rewind) or two then rewind (AIX rewind device; Linux: one). */
  close(): void {
    if (this.wrote) this.writeMarks(this.rewindOnClose && this.st.os === 'aix' ? 2 : 1);
    if (this.rewindOnClose) this.st.offset = 0;
    this.save();
    fs.closeSync(this.fd);
  }
}
