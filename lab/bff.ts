/**
 * AIX backup by-name archives ("backup -i" / mksysb format), as described in AIX-TAPE.md:
 * a volume header, one FS_NAME_X entry per file (header, NUL-terminated name, ACL/PCL sizes, data),
 * FS_END, padded to whole 512-byte blocks. All multi-byte fields little-endian, sizes in 8-byte dwords.
 */

export const MAGIC_PLAIN = 60011; // 0xEA6B
export const MAGIC_PACKED = 60012; // 0xEA6C
export const FS_VOLUME = 0;
export const FS_END = 7;
export const FS_NAME_X = 11;
export const BLOCK = 512;

export function bffChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const c of bytes) sum = (sum + (c << (c & 7))) & 0xffff;
  return sum;
}

function finishHeader(h: Buffer): Buffer {
  h.writeUInt16LE(0, 4);
  h.writeUInt16LE(bffChecksum(h), 4);
  return h;
}

function putString(h: Buffer, at: number, len: number, s: string): void {
  Buffer.from(s, 'latin1').subarray(0, len - 1).copy(h, at);
}

export interface VolumeInfo {
  date: number; // seconds since epoch
  disk?: string;
  fsname?: string;
  user?: string;
}

export function volumeHeader(v: VolumeInfo): Buffer {
  const h = Buffer.alloc(72);
  h[0] = 9;
  h[1] = FS_VOLUME;
  h.writeUInt16LE(MAGIC_PLAIN, 2);
  h.writeUInt16LE(1, 6); // volume number
  h.writeUInt32LE(v.date >>> 0, 8);
  h.writeUInt32LE(v.date >>> 0, 12);
  h.writeUInt32LE(0, 16);
  putString(h, 20, 16, v.disk ?? 'by name');
  putString(h, 36, 16, v.fsname ?? 'by name');
  putString(h, 52, 16, v.user ?? 'root');
  h.writeUInt16LE(100, 68); // incno 100 = backup by name
  return finishHeader(h);
}

export interface EntryMeta {
  name: string; // e.g. "./etc/hosts"
  size: number;
  mode?: number; // default 0o100644
  uid?: number;
  gid?: number;
  mtime?: number;
  ino?: number;
}

/** Header + name + ACL/PCL sizes of one FS_NAME_X entry; the data (size bytes, padded to 8) follows it. */
export function entryHeader(e: EntryMeta): Buffer {
  const name = Buffer.from(e.name, 'latin1');
  const nameDwords = Math.floor(name.length / 8) + 1; // NUL-terminated, padded to 8
  const len = 8 + nameDwords;
  if (len > 255) throw new Error(`name too long for a backup header: ${e.name}`);
  const h = Buffer.alloc(len * 8 + 8);
  const hdr = h.subarray(0, len * 8);
  hdr[0] = len;
  hdr[1] = FS_NAME_X;
  hdr.writeUInt16LE(MAGIC_PLAIN, 2);
  hdr.writeUInt16LE(1, 6); // nlink
  const t = (e.mtime ?? 0) >>> 0;
  const u32 = [e.ino ?? 0, e.mode ?? 0o100644, e.uid ?? 0, e.gid ?? 0, e.size, t, t, t, 10, 7, 0, 0, e.size];
  u32.forEach((v, i) => hdr.writeUInt32LE(v >>> 0, 8 + i * 4));
  name.copy(hdr, 64);
  finishHeader(hdr);
  // aclsize = 0, pclsize = 0 (in dwords) are the 8 zero bytes after the header.
  return h;
}

export function endHeader(): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 1;
  h[1] = FS_END;
  h.writeUInt16LE(MAGIC_PLAIN, 2);
  return finishHeader(h);
}

export function pad8(n: number): number {
  return (8 - (n % 8)) % 8;
}

export interface ListedEntry {
  name: string;
  size: number;
  mode: number;
  mtime: number;
}

export class BffError extends Error {}

/**
 * Incremental reader: push() chunks of an archive in order, end() when done.
 * Verifies magic and checksum of every header and that FS_END comes before the data ends.
 */
export class BffParser {
  entries: ListedEntry[] = [];
  volume: { date: number; user: string } | undefined;
  ended = false;
  total = 0;
  private pending: Buffer = Buffer.alloc(0);
  private skip = 0; // data bytes still to skip
  private state: 'volume' | 'entry' | 'done' = 'volume';

  push(chunk: Buffer): void {
    this.total += chunk.length;
    let buf = chunk;
    while (buf.length > 0 && this.state !== 'done') {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length);
        this.skip -= n;
        buf = buf.subarray(n);
        continue;
      }
      // Need a header: accumulate until we know its length.
      this.pending = this.pending.length ? Buffer.concat([this.pending, buf]) : buf;
      buf = Buffer.alloc(0);
      const used = this.parse();
      const rest = this.pending.subarray(used);
      this.pending = Buffer.alloc(0);
      if (used === 0) {
        this.pending = Buffer.from(rest);
        return;
      }
      buf = rest;
    }
  }

  /** Parses as many headers as possible from this.pending, returns bytes consumed (0 = need more). */
  private parse(): number {
    const p = this.pending;
    let off = 0;
    while (this.state !== 'done') {
      if (this.skip > 0) return off;
      if (p.length - off < 8) return off;
      const len = p[off]! * 8;
      const type = p[off + 1]!;
      const magic = p.readUInt16LE(off + 2);
      if (magic !== MAGIC_PLAIN && magic !== MAGIC_PACKED) {
        throw new BffError(`bad header magic ${magic} at byte ${this.total - p.length + off}`);
      }
      if (len === 0) throw new BffError('zero-length header');
      const extra = type === FS_NAME_X ? 8 : 0;
      if (p.length - off < len + extra) return off;
      const hdr = Buffer.from(p.subarray(off, off + len));
      const sum = hdr.readUInt16LE(4);
      hdr.writeUInt16LE(0, 4);
      if (bffChecksum(hdr) !== sum) throw new BffError(`bad header checksum at byte ${this.total - p.length + off}`);
      if (this.state === 'volume') {
        if (type !== FS_VOLUME) throw new BffError('archive does not start with a volume header');
        this.volume = { date: hdr.readUInt32LE(8), user: hdr.subarray(52, 68).toString('latin1').replace(/\0.*$/s, '') };
        this.state = 'entry';
        off += len;
        continue;
      }
      if (type === FS_END) {
        this.state = 'done';
        this.ended = true;
        off += len;
        return off;
      }
      if (type !== FS_NAME_X) throw new BffError(`unexpected header type ${type}`);
      const size = hdr.readUInt32LE(24);
      const mode = hdr.readUInt32LE(12);
      const mtime = hdr.readUInt32LE(32);
      const nameBytes = hdr.subarray(64);
      const nul = nameBytes.indexOf(0);
      const name = nameBytes.subarray(0, nul < 0 ? nameBytes.length : nul).toString('latin1');
      const aclDw = p.readUInt32LE(off + len);
      const pclDw = p.readUInt32LE(off + len + 4);
      this.entries.push({ name, size, mode, mtime });
      off += len + extra;
      this.skip = (aclDw + pclDw) * 8 + size + pad8(size);
      const n = Math.min(this.skip, p.length - off);
      this.skip -= n;
      off += n;
    }
    return off;
  }

  end(): void {
    if (this.state === 'volume') throw new BffError('empty archive: no volume header');
    if (!this.ended) throw new BffError('archive is truncated: no end-of-archive header');
  }
}

export function parseBff(buf: Buffer): BffParser {
  const p = new BffParser();
  p.push(buf);
  p.end();
  return p;
}

/** Builds a whole archive in memory (small archives: mkinsttape, tests). */
export function buildBff(files: Array<{ meta: Omit<EntryMeta, 'size'>; data: Buffer }>, vol: VolumeInfo): Buffer {
  const parts: Buffer[] = [volumeHeader(vol)];
  for (const f of files) {
    parts.push(entryHeader({ ...f.meta, size: f.data.length }), f.data, Buffer.alloc(pad8(f.data.length)));
  }
  parts.push(endHeader());
  const body = Buffer.concat(parts);
  return Buffer.concat([body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK)]);
}
