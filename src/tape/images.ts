/**
 * Source-host command builders (boot image, install image, mksysb) and file queries on either host, with parsers
 * of their output. Pure: no I/O, no Node built-ins. AIX userland only (see "AIX userland" in AIX-TAPE.md).
 */
import { DRIVE_NAMES, isMksysbFlag, MKSYSB_FLAGS, normaliseMksysbFlags, type MksysbFlag } from '../schema/tape-rules';
import { assertBlockSize, TAPE_BLOCK_SIZE } from './layout';
import { assertAbsolutePath, assertName, command, quote, ShellValueError } from './shell';

export { sha256File, sha256FilePadded, sha256Stdin, parseSha256, parseSha256WithStatus } from './digest';

/** `bosboot -ad /dev/rmtN -b FILE`: a tape boot image written to FILE (the tape itself is not touched). */
export function bosboot(bootDevice: string, file: string): string {
  assertName(bootDevice, 'boot device');
  const dev = bootDevice.startsWith('/dev/') ? bootDevice.slice(5) : bootDevice;
  if (!DRIVE_NAMES.aix.test(dev)) throw new ShellValueError(`boot device must be rmtN or /dev/rmtN, got ${JSON.stringify(bootDevice)}`);
  assertAbsolutePath(file, 'boot image file');
  return command(['bosboot', '-ad', `/dev/${dev}`, '-b', file]);
}

/** `mkinsttape FILE`: the BOS install image. */
export function mkinsttape(file: string): string {
  assertAbsolutePath(file, 'install image file');
  return command(['mkinsttape', file]);
}

/** Validates and normalises mksysb flags: allow-list, no duplicates, `-i` added, in canonical order. */
export function mksysbFlags(flags: readonly string[]): MksysbFlag[] {
  for (const f of flags) {
    if (!isMksysbFlag(f)) throw new ShellValueError(`mksysb flag ${JSON.stringify(f)} is not allowed (allowed: ${MKSYSB_FLAGS.join(' ')})`);
  }
  return normaliseMksysbFlags(flags as readonly MksysbFlag[]);
}

/** `mksysb [-e] -i [-m] [-p] [-X] FILE`. */
export function mksysb(flags: readonly string[], file: string): string {
  assertAbsolutePath(file, 'mksysb image file');
  return command(['mksysb', ...mksysbFlags(flags), file]);
}

/** `/tapeblksz` on the source: read by `mkinsttape`, which puts it in record 2 to tell the installer record 4's block size. */
export const TAPEBLKSZ = '/tapeblksz';

/** `echo 'BS NONE' > /tapeblksz` (as IBM's mksysb.sh does). Only needed when record 4's block size is not 512. */
export function writeTapeBlksz(blockSize: number): string {
  assertBlockSize(blockSize, 'record 4 block size');
  return `echo ${quote(`${blockSize} NONE`)} > ${TAPEBLKSZ}`;
}

export function removeTapeBlksz(): string {
  return command(['rm', '-f', TAPEBLKSZ]);
}

/** True when record 4's block size needs `/tapeblksz` written around `mkinsttape`. */
export function needsTapeBlksz(record4BlockSize: number): boolean {
  return assertBlockSize(record4BlockSize, 'record 4 block size') !== TAPE_BLOCK_SIZE;
}

/** Prefix of the line `fileSize` and `fileSizeOrAbsent` print the size on. */
export const SIZE_TAG = 'mksysb-tape-size';

/**
 * FILE's size from `ls -ln`, field 5: the owner and group are numbers (no spaces) and the name comes after the
 * size, so spaces in the name do not shift it. Not `wc -c < FILE`: AIX's wc reads every byte of its input (no fstat
 * shortcut; AIX-TAPE.md, "AIX userland"), and a size poll during mksysb would read the growing image each time.
 * awk prints field 5 as the text ls wrote, so sizes past 2^31 (or 2^53) are not reformatted. Only the first line:
 * a newline in the name would start another.
 */
function lsSize(f: string): string {
  return `ls -ln ${f} | awk 'NR == 1 { print $5 }'`;
}

/**
 * Prints FILE's size in bytes alone, or `absent` (the word given) when FILE is not a regular file: for a value
 * inside another command's tagged line (`$(...)`). Parse the value with `parseSizeValueOrAbsent`.
 */
export function fileSizeValue(file: string, absent = 'absent'): string {
  assertAbsolutePath(file, 'file');
  if (!/^\w+$/.test(absent)) throw new ShellValueError(`not a plain word: ${JSON.stringify(absent)}`);
  const f = quote(file);
  return `if [ -f ${f} ]; then ${lsSize(f)}; else echo ${absent}; fi`;
}

/**
 * Prints `mksysb-tape-size N` (see `fileSizeValue`); fails with a message when FILE is not a regular file. Parse with
 * `parseSize`.
 */
export function fileSize(file: string): string {
  assertAbsolutePath(file, 'file');
  const f = quote(file);
  return `if [ -f ${f} ]; then echo "${SIZE_TAG} $(${lsSize(f)})"; else echo ${quote(`${file}: no such regular file`)} >&2; false; fi`;
}

/** Prints `mksysb-tape-size N`, or `mksysb-tape-size absent` when FILE does not exist. Parse with `parseSizeOrAbsent`. */
export function fileSizeOrAbsent(file: string): string {
  return `echo "${SIZE_TAG} $(${fileSizeValue(file)})"`;
}

/** A byte count alone (as `fileSizeValue` prints it). */
export function parseSizeValue(text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new ShellValueError(`not a byte count: ${JSON.stringify(t.slice(0, 100))}`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new ShellValueError(`byte count too large: ${t}`);
  return n;
}

export function parseSizeValueOrAbsent(text: string): number | null {
  return text.trim() === 'absent' ? null : parseSizeValue(text);
}

/**
 * The value of the last `mksysb-tape-size` line, wherever it is in the output: other lines (a login banner, another
 * command's output in the same round trip) may come before or after it, and text without a newline before it.
 */
function sizeLine(stdout: string): string {
  let value: string | undefined;
  for (const m of stdout.matchAll(new RegExp(`${SIZE_TAG}(?: ([^\r\n]*))?`, 'g'))) value = m[1] ?? '';
  if (value === undefined) throw new ShellValueError(`no ${SIZE_TAG} line in ${JSON.stringify(stdout.slice(0, 200))}`);
  return value;
}

export function parseSize(stdout: string): number {
  const v = sizeLine(stdout);
  if (v.trim() === 'absent') throw new ShellValueError('the file does not exist');
  return parseSizeValue(v);
}

export function parseSizeOrAbsent(stdout: string): number | null {
  return parseSizeValueOrAbsent(sizeLine(stdout));
}

/** `df -k DIR`. Parse with `parseDf`. */
export function freeSpace(dir: string): string {
  assertAbsolutePath(dir, 'folder');
  return command(['df', '-k', dir]);
}

export interface DfResult {
  filesystem: string;
  totalKiB: number;
  freeKiB: number;
  mountedOn: string;
}

/**
 * Parses `df -k` output of AIX (`Filesystem 1024-blocks Free %Used Iused %Iused Mounted on`) and of Linux
 * (`Filesystem 1K-blocks Used Available Use% Mounted on`, a long device name may wrap onto its own line).
 */
export function parseDf(stdout: string): DfResult {
  const all = stdout.split('\n').filter((l) => l.trim() !== '');
  // From the last header line on: a login banner or an earlier command of the same round trip may come before it.
  let from = -1;
  all.forEach((l, i) => {
    if (/^Filesystem\s/.test(l)) from = i;
  });
  const lines = from >= 0 ? all.slice(from) : all;
  const header = lines[0] ?? '';
  const tokens = lines.slice(1).join(' ').trim().split(/\s+/);
  let freeIdx: number;
  let mountIdx: number;
  if (/\bFree\b/.test(header)) {
    freeIdx = 2;
    mountIdx = 6;
  } else if (/\bAvail/.test(header)) {
    freeIdx = 3;
    mountIdx = 5;
  } else {
    throw new ShellValueError(`unrecognised df header: ${JSON.stringify(header)}`);
  }
  const num = (i: number, what: string): number => {
    const v = tokens[i];
    if (v === undefined || !/^\d+$/.test(v)) throw new ShellValueError(`df output has no ${what}: ${JSON.stringify(stdout.slice(0, 300))}`);
    return Number(v);
  };
  return {
    filesystem: tokens[0] ?? '',
    totalKiB: num(1, 'size'),
    freeKiB: num(freeIdx, 'free space'),
    mountedOn: tokens.slice(mountIdx).join(' '),
  };
}

/** `mkdir -p DIR`. */
export function mkdirP(dir: string): string {
  return command(['mkdir', '-p', assertAbsolutePath(dir, 'folder')]);
}

/**
 * Removes one backup's staging folder, which must lie strictly inside the work folder (asserted: absolute,
 * normalised, at least one segment below `workRoot`).
 */
export function removeStaging(workRoot: string, dir: string): string {
  const root = assertAbsolutePath(workRoot, 'work folder');
  const d = assertAbsolutePath(dir, 'staging folder');
  const prefix = root === '/' ? '/' : `${root}/`;
  if (root === '/' || !d.startsWith(prefix) || d.length <= prefix.length) {
    throw new ShellValueError(`staging folder ${JSON.stringify(dir)} is not inside the work folder ${JSON.stringify(workRoot)}`);
  }
  return command(['rm', '-rf', d]);
}

/** `rm -f FILE` for one staged file. */
export function removeFile(file: string): string {
  return command(['rm', '-f', assertAbsolutePath(file, 'file')]);
}

/**
 * The install image, with `/tapeblksz` written before `mkinsttape` and removed after it whatever its outcome, when
 * record 4's block size is not 512 (IBM's mksysb.sh does the same); plain `mkinsttape FILE` otherwise. Exits with
 * mkinsttape's status.
 */
export function mkinsttapeForBlockSize(file: string, record4BlockSize: number): string {
  if (!needsTapeBlksz(record4BlockSize)) return mkinsttape(file);
  return `${writeTapeBlksz(record4BlockSize)} && ${mkinsttape(file)}; rc=$?; ${removeTapeBlksz()}; exit $rc`;
}
