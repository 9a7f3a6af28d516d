/**
 * Backups larger than one cartridge, as AIX's own `backup` spans them (AIX-TAPE.md, "Backups larger than one
 * cartridge"): volume 1 holds records 1-3 and the start of record 4; every further volume holds, from the beginning
 * of its tape, a fresh 72-byte FS_VOLUME header (the archive's first header with `volnum` set to the volume's number
 * and its checksum recomputed) and then the next bytes of the archive, at record 4's block size. The archive is volume
 * 1's record 4 followed by the other volumes less their first 72 bytes.
 *
 * Pure planning, the header, and the command lines that write, read back and hash a volume with stock AIX tools only
 * (`dd`, `tail -c +N`, `tee`, `mkfifo`, `wc`, `grep`, `openssl`). No I/O, no Node built-ins.
 */
import { HostOs, sha256Stdin } from './digest';
import { aixDriver, linuxDriver, type TapeDriver } from './drivers';
import { parseReader, teeInto } from './readback';
import { TAPE_BLOCK_SIZE, assertBlockSize, paddedLength, type TapePlan } from './layout';
import { and, assertAbsolutePath, assertInt, assertName, command, group, joinPath, pipe, pipeWithStatus, quote, ShellValueError } from './shell';

/** A continuation volume's header: the archive's FS_VOLUME header, 9 dwords. */
export const VOLUME_HEADER_BYTES = 72;
const BFF_MAGIC = 0xea6b;
const BFF_MAGIC_PACKED = 0xea6c;
const FS_VOLUME = 0;

/** The planned share of each volume: archive bytes [from, from + bytes) of record 4 (estimates from the capacity). */
export interface VolumePlan {
  volume: number;
  from: number;
  bytes: number;
}

export interface VolumeSetPlan {
  /** Cartridges the images need at the inventory's capacity (1 when it is not known). */
  needed: number;
  volumes: VolumePlan[];
}

/**
 * How the images spread over cartridges of `capacityBytes`: volume 1 takes records 1-3 and what fits of record 4,
 * every further volume its header and what fits after it, less a block for each of its two filemarks. Without a
 * known capacity the plan is one volume, and the cartridges' own end of medium decides.
 */
export function planVolumes(tape: TapePlan, capacityBytes: number | undefined): VolumeSetPlan {
  const rec4 = tape.records[3]!.bytes;
  if (capacityBytes === undefined || tape.totalBytes <= capacityBytes) return { needed: 1, volumes: [{ volume: 1, from: 0, bytes: rec4 }] };
  const first = capacityBytes - (tape.totalBytes - rec4);
  const perVolume = capacityBytes - 2 * TAPE_BLOCK_SIZE - VOLUME_HEADER_BYTES;
  if (first <= 0 || perVolume <= 0) return { needed: Infinity, volumes: [] };
  const volumes: VolumePlan[] = [{ volume: 1, from: 0, bytes: first }];
  for (let from = first; from < rec4; from += perVolume) {
    volumes.push({ volume: volumes.length + 1, from, bytes: Math.min(perVolume, rec4 - from) });
  }
  return { needed: volumes.length, volumes };
}


/** AIX backup's header checksum: with the field zeroed, the sum of `c << (c & 7)` over every byte, 16 bits. */
export function bffChecksum(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < header.length; i++) {
    const c = i === 4 || i === 5 ? 0 : header[i]!;
    sum = (sum + (c << (c & 7))) & 0xffff;
  }
  return sum;
}

/**
 * The header continuation volume `volnum` starts with, from the archive's first 72 bytes: the same header with
 * `volnum` (u16 LE at byte 6) set and the checksum (u16 LE at byte 4) recomputed; dates, `numwds`, names and `incno`
 * unchanged. Refuses bytes that are not an AIX backup archive's volume header.
 */
export function continuationHeader(first: Uint8Array, volnum: number): Uint8Array {
  if (first.length < VOLUME_HEADER_BYTES) throw new ShellValueError(`the archive's volume header needs ${VOLUME_HEADER_BYTES} bytes, got ${first.length}`);
  assertInt(volnum, 'volume number', 2, 0xffff);
  const h = Uint8Array.from(first.subarray(0, VOLUME_HEADER_BYTES));
  const magic = h[2]! | (h[3]! << 8);
  if (h[0] !== VOLUME_HEADER_BYTES / 8 || h[1] !== FS_VOLUME || (magic !== BFF_MAGIC && magic !== BFF_MAGIC_PACKED)) {
    throw new ShellValueError('the staged mksysb image does not start with an AIX backup volume header (09 00 6B EA)');
  }
  if (bffChecksum(h) !== (h[4]! | (h[5]! << 8))) throw new ShellValueError("the staged mksysb image's volume header has a bad checksum");
  h[6] = volnum & 0xff;
  h[7] = volnum >>> 8;
  const sum = bffChecksum(h);
  h[4] = sum & 0xff;
  h[5] = sum >>> 8;
  return h;
}

/** Prints the first 72 bytes of a file as hex (POSIX `od`): parse with `parseHexDump`. */
export function readVolumeHeader(file: string): string {
  assertName(file, 'staged image');
  return pipe(command(['dd', `if=${file}`, `bs=${VOLUME_HEADER_BYTES}`, 'count=1']) + ' 2>/dev/null', 'od -An -v -tx1');
}

export function parseHexDump(stdout: string): Uint8Array {
  const bytes = stdout
    .split('\n')
    .filter((l) => /^\s*([0-9a-f]{2}\s*)+$/i.test(l))
    .join(' ')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((x) => parseInt(x, 16));
  return Uint8Array.from(bytes);
}

/** Where a continuation volume's header is kept on the tape host while the volume is written and checked. */
export function headerFile(stagingDir: string, volume: number): string {
  assertAbsolutePath(stagingDir, 'staging folder');
  assertInt(volume, 'volume number', 2, 0xffff);
  return joinPath(stagingDir, `4_mksysb.vol${volume}.hdr`);
}

/** NUL bytes that fill a volume's last block (a fixed-block drive refuses a short write); 0 when none. */
export function lastBlockPadding(streamBytes: number, blockSize: number): number {
  return paddedLength(streamBytes, blockSize) - streamBytes;
}

function zeros(n: number): string {
  assertInt(n, 'padding', 1, 16 * 1024 * 1024);
  return `dd if=/dev/zero bs=${n} count=1 2>/dev/null`;
}

/**
 * Bytes [from, from + length) of a regular file (length null: to its end) on stdout, with dd and tail only: every
 * offset here is a multiple of 8 (blocks of 512, headers of 72), so the unaligned edges are read 8 bytes at a time
 * (below 64 KiB each) and the middle with 64 KiB blocks; `skip=` seeks (AIX-TAPE.md, "AIX userland").
 */
export function byteRange(file: string, from: number, length: number | null): string {
  assertName(file, 'file');
  assertInt(from, 'offset', 0);
  if (length === null) return from === 0 ? command(['cat', file]) : command(['tail', '-c', `+${from + 1}`, file]);
  assertInt(length, 'length', 0);
  if (from % 8 !== 0 || length % 8 !== 0) throw new ShellValueError(`byte ranges are whole dwords: ${from}+${length}`);
  const BIG = 65536;
  const end = from + length;
  const midFrom = Math.min(end, Math.ceil(from / BIG) * BIG);
  const midTo = Math.max(midFrom, Math.floor(end / BIG) * BIG);
  const parts: string[] = [];
  const dd = (bs: number, a: number, b: number): void => {
    if (b > a) parts.push(`dd if=${quote(file)} bs=${bs} skip=${a / bs} count=${(b - a) / bs} 2>/dev/null`);
  };
  dd(8, from, midFrom);
  dd(BIG, midFrom, midTo);
  dd(8, midTo, end);
  return parts.length === 0 ? ':' : `{ ${parts.join('; ')}; }`;
}

/** What a volume holds after its start: the header file (continuation volumes), the archive range, the padding. */
export interface VolumeContent {
  volume: number;
  image: string;
  header: string | null;
  from: number;
  /** Archive bytes; null: to the end of the image. */
  length: number | null;
  padding: number;
}

function contentStream(c: VolumeContent): string {
  const parts = [c.header ? command(['cat', c.header]) : null, byteRange(c.image, c.from, c.length), c.padding > 0 ? zeros(c.padding) : null];
  return group(parts.filter((p): p is string => p !== null).join(' && '));
}

/**
 * dd's messages for end of medium (AIX-TAPE.md): ENXIO on AIX after the short count, in AIX's words ("There is a
 * request to a device or address that does not exist.") or the C library's ("No such device or address"); ENOSPC on
 * Linux ("No space left on device"; AIX: "There is not enough space in the file system."). EIO is not among them: AIX
 * also returns it for a medium error, which must fail the write.
 */
const EOM_TEXTS = [
  'There is a request to a device or address that does not exist',
  'No such device or address',
  'No space left on device',
  'There is not enough space',
];
const EOM_GREP = quote(EOM_TEXTS.join('|'));

/** The file a write leaves when it stopped at the end of the medium (its name beside the detached command's files). */
export function endOfMediumFile(stagingDir: string, name: string): string {
  return joinPath(assertAbsolutePath(stagingDir, 'staging folder'), `${name}.eom`);
}

const EOM_TAG = 'mksysb-tape-eom';

/** Prints whether a write left its end-of-medium file: parse with `parseReachedEnd`. */
export function reachedEnd(eomFile: string): string {
  return `if [ -f ${quote(eomFile)} ]; then echo "${EOM_TAG} yes"; else echo "${EOM_TAG} no"; fi`;
}

export function parseReachedEnd(stdout: string): boolean {
  const m = new RegExp(`${EOM_TAG} (yes|no)`).exec(stdout);
  if (!m) throw new ShellValueError(`no end-of-medium answer in ${JSON.stringify(stdout.slice(-200))}`);
  return m[1] === 'yes';
}

/**
 * Runs a tape write so that the end of the medium is a result and not a failure: when dd fails with ENXIO (AIX) or
 * ENOSPC (Linux) the command leaves `eomFile` and exits 0; any other failure keeps its status. dd's messages still
 * reach the command's output.
 */
export function endOfMediumIsResult(write: string, eomFile: string): string {
  const err = `${eomFile}.err`;
  return (
    `rm -f ${quote(eomFile)}; ${group(write)} 2>${quote(err)}; st=$?; cat ${quote(err)} >&2; ` +
    `if [ $st -ne 0 ] && grep -E ${EOM_GREP} ${quote(err)} >/dev/null; then echo eom > ${quote(eomFile)}; st=0; fi; ` +
    `rm -f ${quote(err)}; exit $st`
  );
}

/**
 * Writes continuation volume `c.volume` from the start of the cartridge: block size, rewind, then the header and the
 * archive from `c.from` re-blocked by dd to whole blocks of record 4's size (`ibs=`/`obs=` aggregate a pipe's short
 * reads into full output blocks, as POSIX dd does).
 */
export function writeVolume(driver: TapeDriver, device: string, c: VolumeContent, blockSize: number): string {
  assertBlockSize(blockSize);
  const dd = command(['dd', `of=${driver.noRewindDevice(device)}`, `ibs=${blockSize}`, `obs=${blockSize}`]);
  return and(...driver.setBlockSize(device, blockSize), driver.rewind(device), pipe(contentStream(c), dd));
}

/**
 * Reads the tape file at the position once and prints its SHA-256 and its byte count: the read feeds the digest and,
 * through `tee` and a FIFO in `dir`, `wc -c` (readback.ts), so the cartridge is read once for both. Parse with
 * `parseSha256WithStatus` and `parseCount`.
 */
export function measureAtPosition(os: HostOs, noRewind: string, blockSize: number, dir: string): string {
  return `${teeInto(os, noRewind, blockSize, dir, 'wc -c')}\nrm -rf ${quote(dir)}`;
}

/** The byte count `measureAtPosition` printed (what `wc -c` said), or null. */
export function parseCount(stdout: string): number | null {
  const m = /^\s*(\d+)\s*$/.exec(parseReader(stdout).said);
  return m ? Number(m[1]) : null;
}

/** SHA-256 of what a volume should hold after its start, from the staged image on the tape host. */
export function expectedVolumeSha(os: HostOs, c: VolumeContent): string {
  return pipeWithStatus(contentStream(c), sha256Stdin(os));
}

/** Unloads the cartridge: `tctl -f /dev/rmtN offline` on AIX, `mt -f /dev/nstN offline` on Linux. */
export function eject(os: HostOs, device: string): string {
  return os === 'aix'
    ? command(['tctl', '-f', aixDriver.rewindDevice(device), 'offline'])
    : command(['mt', '-f', linuxDriver.noRewindDevice(device), 'offline']);
}

/** Prints, as hex, the first 72 bytes of the tape's first block (nothing on a blank tape). */
export function readTapeHeader(noRewind: string, blockSize: number): string {
  assertBlockSize(blockSize);
  return pipe(
    command(['dd', `if=${noRewind}`, `bs=${blockSize}`, 'count=1']) + ' 2>/dev/null',
    `dd bs=${VOLUME_HEADER_BYTES} count=1 2>/dev/null`,
    'od -An -v -tx1',
  );
}

/** Writes its standard input to `file` (the continuation header, sent by the worker). */
export function fileFromStdin(file: string): string {
  return `cat > ${quote(assertName(file, 'file'))}`;
}

/** `lsmksysb -V -f FILE`: AIX's check of a backup archive in a file (the staged image of a set of several volumes). */
export function checkArchiveFile(file: string): string {
  return command(['lsmksysb', '-V', '-f', assertName(file, 'staged image')]);
}
