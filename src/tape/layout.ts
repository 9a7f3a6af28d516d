/**
 * The four records of a bootable mksysb tape, as data (see "The four records" in AIX-TAPE.md).
 * Pure: no I/O, no Node built-ins.
 */
import { MAX_BLOCK_SIZE, TAPE_BLOCK_SIZE } from '../schema/tape-rules';
import { assertAbsolutePath, assertInt, assertSegment, joinPath, ShellValueError } from './shell';

export type RecordNumber = 1 | 2 | 3 | 4;
export const RECORD_NUMBERS: readonly RecordNumber[] = [1, 2, 3, 4];

export { MAX_BLOCK_SIZE, TAPE_BLOCK_SIZE };

export interface TapeRecordSpec {
  number: RecordNumber;
  name: 'boot image' | 'install image' | 'dummy TOC' | 'mksysb image';
  /** Staged file name in the backup's work folder on both hosts; null for record 3 (written from `echo`). */
  stagedFile: string | null;
  /** Fixed block size for records 1..3; null for record 4 (configurable, default 512). */
  fixedBlockSize: number | null;
  /**
   * `dd conv=sync` at block size 512: pad the last block with NULs (records 1 and 3). Record 4 is also padded when
   * written with a block size above 512: see `syncFor`.
   */
  sync: boolean;
  /** Made on the source host (records 1, 2, 4) and moved to the tape host. */
  fromSource: boolean;
}

export const RECORDS: readonly TapeRecordSpec[] = [
  { number: 1, name: 'boot image', stagedFile: '1_bosboot.img', fixedBlockSize: 512, sync: true, fromSource: true },
  { number: 2, name: 'install image', stagedFile: '2_mkinsttape.img', fixedBlockSize: 512, sync: false, fromSource: true },
  { number: 3, name: 'dummy TOC', stagedFile: null, fixedBlockSize: 512, sync: true, fromSource: false },
  { number: 4, name: 'mksysb image', stagedFile: '4_mksysb.img', fixedBlockSize: null, sync: false, fromSource: true },
];

export function record(k: number): TapeRecordSpec {
  const r = RECORDS.find((x) => x.number === k);
  if (!r) throw new ShellValueError(`tape record must be 1..4, got ${String(k)}`);
  return r;
}

/** The records made on the source and moved to the tape host: 1, 2 and 4. */
export const STAGED_RECORDS: readonly TapeRecordSpec[] = RECORDS.filter((r) => r.stagedFile !== null);

/** The text of record 3, as `echo "Dummy tape TOC"` prints it (before padding). */
export const DUMMY_TOC_TEXT = 'Dummy tape TOC\n';

/** Record 3 exactly as it lands on tape: the text padded with NULs to 512 bytes. */
export function dummyTocBytes(): Uint8Array {
  const out = new Uint8Array(TAPE_BLOCK_SIZE);
  for (let i = 0; i < DUMMY_TOC_TEXT.length; i++) out[i] = DUMMY_TOC_TEXT.charCodeAt(i);
  return out;
}

/** Validates a block size: a positive multiple of 512, at most MAX_BLOCK_SIZE. */
export function assertBlockSize(bs: number, what = 'block size'): number {
  assertInt(bs, what, TAPE_BLOCK_SIZE, MAX_BLOCK_SIZE);
  if (bs % TAPE_BLOCK_SIZE !== 0) throw new ShellValueError(`${what} must be a multiple of 512, got ${bs}`);
  return bs;
}

/** The block size record k is written with. `record4BlockSize` defaults to 512. */
export function blockSizeFor(k: RecordNumber, record4BlockSize: number = TAPE_BLOCK_SIZE): number {
  const r = record(k);
  return r.fixedBlockSize ?? assertBlockSize(record4BlockSize, 'record 4 block size');
}

/**
 * Whether record k is written with `dd conv=sync`. Records 1 and 3: always (the procedure). Record 2: never (AIX
 * `backup` output is whole 512-byte blocks). Record 4: only with a block size above 512, where the mksysb file (whole
 * 512-byte blocks) need not be a whole number of blocks: a fixed-block drive refuses a short last write, and NULs
 * after the archive's end header are ignored by restore. At 512 it is written as the procedure does, without.
 */
export function syncFor(k: RecordNumber, blockSize: number): boolean {
  const r = record(k);
  if (k === 4) return assertBlockSize(blockSize) > TAPE_BLOCK_SIZE;
  return r.sync;
}

/** `size` rounded up to a whole number of blocks (what `dd conv=sync` writes). 0 stays 0. */
export function paddedLength(size: number, blockSize: number): number {
  assertInt(size, 'size', 0);
  assertInt(blockSize, 'block size', 1);
  return Math.ceil(size / blockSize) * blockSize;
}

/** A filemark costs a little tape; counted as one 512-byte block each, three of them after records 1..3, two at the end. */
export const FILEMARK_ALLOWANCE = 5 * TAPE_BLOCK_SIZE;

/** Record k as one backup puts it on tape: what `dd` writes, and how. */
export interface RecordPlan {
  record: RecordNumber;
  name: TapeRecordSpec['name'];
  /** The staged file on the tape host; null for record 3 (written from `echo`). */
  stagedPath: string | null;
  blockSize: number;
  /** Written with `dd conv=sync`: the last block padded with NULs (`syncFor`). */
  sync: boolean;
  /** Bytes that land on tape: the staged file, padded to the block when `sync`; record 3 is one 512-byte block. */
  bytes: number;
}

/** The whole cartridge of one backup: its four records, and the tape they need with their filemarks. */
export interface TapePlan {
  records: readonly RecordPlan[];
  totalBytes: number;
}

/**
 * Record k from a staged file of `stagedBytes` (record 3: ignored) in the tape host's staging folder `stagingDir`.
 * Records 1 and 3, and record 4 above 512-byte blocks, are padded to the block; record 2 and a 512-byte record 4 are
 * whole 512-byte blocks already, as AIX `backup` writes them (`tapeBytes` says when they are not).
 */
export function planRecord(k: RecordNumber, stagedBytes: number, record4BlockSize: number, stagingDir: string): RecordPlan {
  const r = record(k);
  const blockSize = blockSizeFor(k, record4BlockSize);
  return {
    record: k,
    name: r.name,
    stagedPath: r.stagedFile ? stagedPath(stagingDir, k) : null,
    blockSize,
    sync: syncFor(k, blockSize),
    bytes: bytesOnTape(k, stagedBytes, blockSize),
  };
}

/** The one rule of what lands on tape: the TOC's block, or the staged file padded to the block when written with sync. */
function bytesOnTape(k: RecordNumber, stagedBytes: number, blockSize: number): number {
  if (k === 3) return TAPE_BLOCK_SIZE;
  return syncFor(k, blockSize) ? paddedLength(stagedBytes, blockSize) : stagedBytes;
}

/** The four records of a backup whose staged images have the given sizes. */
export function planTape(stagedBytes: Record<1 | 2 | 4, number>, record4BlockSize: number, stagingDir: string): TapePlan {
  const records = RECORD_NUMBERS.map((k) => planRecord(k, k === 3 ? 0 : stagedBytes[k], record4BlockSize, stagingDir));
  return { records, totalBytes: records.reduce((n, r) => n + r.bytes, 0) + FILEMARK_ALLOWANCE };
}

export type TapeBytes = { ok: true; bytes: number; padding: number } | { ok: false; error: string };

/**
 * What lands on tape for record k written from a staged file of `stagedSize` bytes (record 3: pass any size, the TOC
 * is always 512 bytes). Records 1 and 3, and record 4 above 512-byte blocks, are padded to the block (`syncFor`);
 * record 2 and a 512-byte record 4 are written without `conv=sync`, so on a fixed-block drive their size must already
 * be a whole number of blocks: otherwise the error says why.
 */
export function tapeBytes(k: RecordNumber, stagedSize: number, blockSize: number): TapeBytes {
  const r = record(k);
  assertInt(stagedSize, 'staged size', 0);
  assertBlockSize(blockSize);
  if (r.fixedBlockSize !== null && blockSize !== r.fixedBlockSize) {
    return { ok: false, error: `record ${k} (${r.name}) must be written with block size ${r.fixedBlockSize}, not ${blockSize}` };
  }
  if (k === 3) return { ok: true, bytes: TAPE_BLOCK_SIZE, padding: TAPE_BLOCK_SIZE - DUMMY_TOC_TEXT.length };
  if (stagedSize === 0) return { ok: false, error: `record ${k} (${r.name}) staged file is empty` };
  if (syncFor(k, blockSize)) {
    const bytes = bytesOnTape(k, stagedSize, blockSize);
    return { ok: true, bytes, padding: bytes - stagedSize };
  }
  if (stagedSize % blockSize !== 0) {
    return {
      ok: false,
      error:
        `record ${k} (${r.name}) is ${stagedSize} bytes, not a multiple of the block size ${blockSize}: ` +
        `a fixed-block drive would refuse its last write`,
    };
  }
  return { ok: true, bytes: stagedSize, padding: 0 };
}

/** The backup's staging folder: `<workRoot>/<backupId>`; backupId must be a single path segment. */
export function stagingDir(workRoot: string, backupId: string): string {
  assertAbsolutePath(workRoot, 'work folder');
  assertSegment(backupId, 'backup ID');
  return joinPath(workRoot, backupId);
}

/** Path of record k's staged file in a staging folder. */
export function stagedPath(dir: string, k: RecordNumber): string {
  const r = record(k);
  if (!r.stagedFile) throw new ShellValueError(`record ${k} (${r.name}) has no staged file`);
  return joinPath(dir, r.stagedFile);
}
