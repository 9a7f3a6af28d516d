/**
 * AIX backup by-name archives ("backup -i" / mksysb format), as described in AIX-TAPE.md ("AIX backup (by-name)
 * format"): a volume header, one FS_NAME_X entry per file (header, NUL-terminated name, then, except for symbolic
 * links, the ACL/PCL sizes and the ACL and PCL, then the data), FS_END, padded to whole 512-byte blocks. All
 * multi-byte fields little-endian, sizes in 8-byte dwords.
 */

export const MAGIC_PLAIN = 60011; // 0xEA6B
export const MAGIC_PACKED = 60012; // 0xEA6C
export const FS_VOLUME = 0;
export const FS_END = 7;
export const FS_NAME_X = 11;
export const BLOCK = 512;
/** `numwds` of a volume written to tape (backbyname.c: MAXINT unless a diskette); restore reads it as "more may follow". */
export const NUMWDS_TAPE = 0x7fffffff;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
/**
 * The `dsize` of a directory. backup records a directory's st_size there (and 0 in `size`: no contents follow). We
 * chose 256: JFS2 keeps a small directory's entries in the inode and reports 256 bytes for it, and the AIX-made
 * archives in bffextract-rs's tests carry exactly 256 for each of their directories.
 */
export const DIR_DSIZE = 256;
/** The minimal ACL and PCL AIX's backup writes: 16 bytes each, i.e. sizes of 2 dwords (AIX-TAPE.md). */
const SEC_DWORDS = 2;
/** Bigger than any ACL AIX writes for an entry; a size above it is a damaged archive, not an allocation. */
const MAX_SEC_DWORDS = 8192;

export function bffChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const c of bytes) sum = (sum + (c << (c & 7))) & 0xffff;
  return sum;
}

/** The checksum covers the whole header as `len` counts it: the fixed part and, for names, the padded name. */
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
  h.writeUInt32LE(NUMWDS_TAPE, 16);
  putString(h, 20, 16, v.disk ?? 'by name');
  putString(h, 36, 16, v.fsname ?? 'by name');
  putString(h, 52, 16, v.user ?? 'root');
  h.writeUInt16LE(100, 68); // incno 100 = backup by name
  return finishHeader(h);
}

/** The size of an FS_VOLUME header: the first bytes of every volume of an archive. */
export const VOLUME_HEADER_BYTES = 72;

/**
 * The volume number of a valid FS_VOLUME header at the start of `b` (length 9 dwords, type 0, plain or packed magic,
 * checksum right); undefined for anything else. What restore checks on a newly mounted volume (AIX-TAPE.md, "Backups
 * larger than one cartridge").
 */
export function volumeNumber(b: Buffer): number | undefined {
  if (b.length < VOLUME_HEADER_BYTES || b[0] !== 9 || b[1] !== FS_VOLUME) return undefined;
  const magic = b.readUInt16LE(2);
  if (magic !== MAGIC_PLAIN && magic !== MAGIC_PACKED) return undefined;
  const h = Buffer.from(b.subarray(0, VOLUME_HEADER_BYTES));
  const sum = h.readUInt16LE(4);
  h.writeUInt16LE(0, 4);
  return bffChecksum(h) === sum ? h.readUInt16LE(6) : undefined;
}

/**
 * The header a continuation volume starts with: the archive's first (`first`, at least its 72 bytes) with `volnum`
 * set and the checksum recomputed; dates, numwds, names and incno unchanged (AIX-TAPE.md).
 */
export function continuationHeader(first: Buffer, volnum: number): Buffer {
  const h = Buffer.from(first.subarray(0, VOLUME_HEADER_BYTES));
  h.writeUInt16LE(volnum, 6);
  return finishHeader(h);
}

export interface EntryMeta {
  name: string; // e.g. "./etc/hosts"
  /** Bytes of data that follow: the file's contents, a symbolic link's target, 0 for a directory. */
  size: number;
  mode?: number; // default 0o100644
  uid?: number;
  gid?: number;
  mtime?: number;
  ino?: number;
}

/**
 * The 40 bytes backup writes after the name of every entry but a symbolic link (backbyname.c putsechdr, putaclhdr,
 * putpclhdr): aclsize and pclsize in dwords, the base ACL (length, reserved, then owner, group and other rwx bits)
 * and the PCL (length, mode, no privileges).
 */
export function securityBlock(mode: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt32LE(SEC_DWORDS, 0);
  b.writeUInt32LE(SEC_DWORDS, 4);
  b.writeUInt32LE(16, 8); // acl_len
  b.writeUInt16LE((mode >> 6) & 7, 18);
  b.writeUInt16LE((mode >> 3) & 7, 20);
  b.writeUInt16LE(mode & 7, 22);
  b.writeUInt32LE(16, 24); // pcl_len
  b.writeUInt32LE(mode >>> 0, 28);
  return b;
}

/** Header, name and (except for a symbolic link) the ACL/PCL block of one FS_NAME_X entry; the data follows it. */
export function entryHeader(e: EntryMeta): Buffer {
  const mode = e.mode ?? 0o100644;
  const isDir = (mode & S_IFMT) === S_IFDIR;
  const isLink = (mode & S_IFMT) === S_IFLNK;
  if (isDir && e.size !== 0) throw new Error(`a directory has no data in a backup archive: ${e.name}`);
  const name = Buffer.from(e.name, 'latin1');
  const nameDwords = Math.floor(name.length / 8) + 1; // NUL-terminated, padded to 8
  const len = 8 + nameDwords;
  if (len > 255) throw new Error(`name too long for a backup header: ${e.name}`);
  const hdr = Buffer.alloc(len * 8);
  hdr[0] = len;
  hdr[1] = FS_NAME_X;
  hdr.writeUInt16LE(MAGIC_PLAIN, 2);
  hdr.writeUInt16LE(isDir ? 2 : 1, 6); // nlink
  const t = (e.mtime ?? 0) >>> 0;
  const dsize = isDir ? DIR_DSIZE : e.size;
  const u32 = [e.ino ?? 0, mode, e.uid ?? 0, e.gid ?? 0, e.size, t, t, t, 10, 7, 0, 0, dsize];
  u32.forEach((v, i) => hdr.writeUInt32LE(v >>> 0, 8 + i * 4));
  name.copy(hdr, 64);
  finishHeader(hdr);
  return isLink ? hdr : Buffer.concat([hdr, securityBlock(mode)]);
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

export class BffError extends Error {
  /** The archive's bytes are not what backup writes (as opposed to a short read or a file that is no archive). */
  constructor(message: string, readonly damaged = false) {
    super(message);
  }
}

/**
 * Incremental reader: push() chunks of an archive in order, end() when done.
 * Verifies magic and checksum of every header, the ACL/PCL block of every entry but a symbolic link, and that
 * FS_END comes before the data ends.
 */
export class BffParser {
  entries: ListedEntry[] = [];
  volume: { date: number; user: string; volnum: number; numwds: number } | undefined;
  ended = false;
  total = 0;
  /** Data of the entries named in `capture` (restore -x NAME), once read. */
  readonly captured = new Map<string, Buffer>();
  private pending: Buffer = Buffer.alloc(0);
  private skip = 0; // data bytes still to skip
  private state: 'volume' | 'entry' | 'done' = 'volume';
  /** The captured entry whose data is being read, and how many of its data bytes (padding not counted) are to come. */
  private taking: { name: string; left: number; parts: Buffer[] } | undefined;

  constructor(private readonly capture?: ReadonlySet<string>) {}

  /** Data bytes of the current entry as they are skipped: kept when the entry is to be captured. */
  private take(data: Buffer): void {
    const t = this.taking;
    if (!t) return;
    const n = Math.min(t.left, data.length);
    if (n > 0) t.parts.push(Buffer.from(data.subarray(0, n)));
    t.left -= n;
    if (t.left === 0) {
      this.captured.set(t.name, Buffer.concat(t.parts));
      this.taking = undefined;
    }
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    let buf = chunk;
    while (buf.length > 0 && this.state !== 'done') {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length);
        this.take(buf.subarray(0, n));
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
      const at = this.total - p.length + off;
      const len = p[off]! * 8;
      const type = p[off + 1]!;
      const magic = p.readUInt16LE(off + 2);
      if (magic !== MAGIC_PLAIN && magic !== MAGIC_PACKED) {
        throw new BffError(`bad header magic ${magic} at byte ${at}`, this.state !== 'volume');
      }
      if (len === 0) throw new BffError(`zero-length header at byte ${at}`, true);
      if (p.length - off < len) return off;
      const hdr = Buffer.from(p.subarray(off, off + len));
      const sum = hdr.readUInt16LE(4);
      hdr.writeUInt16LE(0, 4);
      if (bffChecksum(hdr) !== sum) throw new BffError(`bad header checksum at byte ${at}`, true);
      if (this.state === 'volume') {
        if (type !== FS_VOLUME) throw new BffError('archive does not start with a volume header');
        this.volume = {
          date: hdr.readUInt32LE(8),
          user: hdr.subarray(52, 68).toString('latin1').replace(/\0.*$/s, ''),
          volnum: hdr.readUInt16LE(6),
          numwds: hdr.readUInt32LE(16),
        };
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
      if (type !== FS_NAME_X) throw new BffError(`unexpected header type ${type} at byte ${at}`, true);
      if (len < 72) throw new BffError(`entry header of ${len} bytes at byte ${at}: no room for a name`, true);
      const size = hdr.readUInt32LE(24);
      const mode = hdr.readUInt32LE(12);
      const mtime = hdr.readUInt32LE(32);
      const nameBytes = hdr.subarray(64);
      const nul = nameBytes.indexOf(0);
      if (nul < 0) throw new BffError(`entry name at byte ${at} is not NUL-terminated`, true);
      const name = nameBytes.subarray(0, nul).toString('latin1');
      let sec = 0;
      if ((mode & S_IFMT) !== S_IFLNK) {
        if (p.length - off < len + 8) return off;
        const aclDw = p.readUInt32LE(off + len);
        const pclDw = p.readUInt32LE(off + len + 4);
        // AIX's restore reads this many dwords as the ACL and the PCL whatever they hold (restorx.c): sizes that do
        // not describe the ACL and PCL that follow make it take file data for them and lose its place.
        if (aclDw < SEC_DWORDS || pclDw < SEC_DWORDS || aclDw > MAX_SEC_DWORDS || pclDw > MAX_SEC_DWORDS) {
          throw new BffError(`${name} (byte ${at}): ACL/PCL sizes ${aclDw} and ${pclDw} dwords; backup writes at least ${SEC_DWORDS} each`, true);
        }
        sec = 8 + (aclDw + pclDw) * 8;
        if (p.length - off < len + sec) return off;
        const aclLen = p.readUInt32LE(off + len + 8);
        const pclLen = p.readUInt32LE(off + len + 8 + aclDw * 8);
        if (aclLen < 16 || Math.ceil(aclLen / 8) !== aclDw || pclLen < 16 || Math.ceil(pclLen / 8) !== pclDw) {
          throw new BffError(`${name} (byte ${at}): ACL of ${aclLen} bytes in ${aclDw} dwords, PCL of ${pclLen} bytes in ${pclDw} dwords`, true);
        }
      }
      this.entries.push({ name, size, mode, mtime });
      off += len + sec;
      this.skip = size + pad8(size);
      if (this.capture?.has(name)) {
        this.taking = { name, left: size, parts: [] };
        if (size === 0) this.take(Buffer.alloc(0));
      }
      const n = Math.min(this.skip, p.length - off);
      this.take(p.subarray(off, off + n));
      this.skip -= n;
      off += n;
    }
    return off;
  }

  end(): void {
    if (this.state === 'volume') throw new BffError('empty archive: no volume header');
    if (!this.ended) throw new BffError('archive is truncated: no end-of-archive header', true);
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
