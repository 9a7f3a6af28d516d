/**
 * Verification reads that do two things with one pass over the tape: the bytes a record read back go to its SHA-256
 * and, through `tee` and a FIFO, to AIX's `restore` reading standard input: record 4 to `restore -Tqf -` (the archive
 * check `lsmksysb -V` makes, without a second read of the cartridge), record 2 to `restore -xqf -` of the files BOS
 * install needs from it (`./image.data`, `./bosinst.data`, `./tapeblksz`). Stock AIX tools only: `mkfifo`, `tee`,
 * `restore`, `cat`, `dd`, `openssl` (AIX-TAPE.md, "The four records" and "AIX userland"). Pure builders and parsers.
 */
import { sha256Stdin, type HostOs } from './digest';
import { readBlockSize } from './drivers';
import { assertAbsolutePath, command, joinPath, pipeWithStatus, quote } from './shell';

const TAG = 'mksysb-tape-readback';

/** Files of record 2 that BOS install reads (AIX-TAPE.md, "The four records"). */
export const INSTALL_FILES = ['./image.data', './bosinst.data'] as const;
export const TAPEBLKSZ_FILE = './tapeblksz';

/**
 * `reader` (a restore reading standard input, run in `dir`) fed from the FIFO while `dd` reads the tape at the
 * position into the SHA-256: the reader's status and its last lines are printed after the digest. The reader may
 * stop before the end (restore has what it needs at the end-of-archive header): `cat` drains the rest, so `tee` never
 * dies of a closed pipe and the digest covers every byte.
 */
export function teeInto(os: HostOs, noRewind: string, blockSize: number, dir: string, reader: string): string {
  const d = quote(assertAbsolutePath(dir, 'read-back folder'));
  const f = quote(joinPath(dir, 'fifo'));
  const read = command(['dd', `if=${noRewind}`, `bs=${readBlockSize(blockSize)}`]);
  return [
    `rm -rf ${d} && mkdir -p ${d} && mkfifo ${f}`,
    `{ { cd ${d} && ${reader}; echo $? > ${d}/rc; cat > /dev/null; } < ${f} > ${d}/out 2>&1 & }`,
    pipeWithStatus(read, `tee ${f} | ${sha256Stdin(os)}`),
    'wait',
    `echo "${TAG} reader $(cat ${d}/rc 2>/dev/null)"`,
    `tail -5 ${d}/out | sed 's/^/${TAG} said /'`,
  ].join('\n');
}

/** Record 4 read once at the position into its SHA-256 and `restore -Tqf -`. Parse with `parseReader`. */
export function readArchiveChecked(os: HostOs, noRewind: string, blockSize: number, dir: string): string {
  return `${teeInto(os, noRewind, blockSize, dir, 'restore -Tqf -')}\nrm -rf ${quote(dir)}`;
}

/**
 * Record 2 read once at the position into its SHA-256 and `restore -xqf -` of the install files (and `./tapeblksz`),
 * then which of them it held and the first line of `./tapeblksz`. Parse with `parseReader` and `parseInstallFiles`.
 */
export function readInstallImageChecked(os: HostOs, noRewind: string, dir: string): string {
  const d = quote(assertAbsolutePath(dir, 'read-back folder'));
  const names = [...INSTALL_FILES, TAPEBLKSZ_FILE];
  const reader = command(['restore', '-xqf', '-', ...names]);
  const found = names.map((n) => `if [ -f ${d}/${n.slice(2)} ]; then echo "${TAG} has ${n}"; fi`).join('; ');
  return [
    teeInto(os, noRewind, 512, dir, reader),
    found,
    `if [ -f ${d}/tapeblksz ]; then echo "${TAG} tapeblksz $(sed 1q ${d}/tapeblksz)"; fi`,
    `rm -rf ${d}`,
  ].join('\n');
}

/** The reader's exit status and its last lines, from either command. */
export function parseReader(stdout: string): { status: number | null; said: string } {
  const m = new RegExp(`${TAG} reader (\\d+)`).exec(stdout);
  const said = stdout
    .split('\n')
    .filter((l) => l.startsWith(`${TAG} said `))
    .map((l) => l.slice(`${TAG} said `.length))
    .join(' | ');
  return { status: m ? Number(m[1]) : null, said };
}

export function parseInstallFiles(stdout: string): { files: string[]; tapeblksz: string | null } {
  const files = stdout
    .split('\n')
    .filter((l) => l.startsWith(`${TAG} has `))
    .map((l) => l.slice(`${TAG} has `.length).trim());
  const t = new RegExp(`^${TAG} tapeblksz (.*)$`, 'm').exec(stdout);
  return { files, tapeblksz: t ? t[1]!.trim() : null };
}

/**
 * Whether record 2 would install a tape whose record 4 has `blockSize`: it must hold image.data and bosinst.data,
 * and BOS install reads record 4 with the block size `./tapeblksz` gives (mksysb.sh writes "<blocksize> NONE"): it
 * must be there when the block size is not 512, and when there its first field must be record 4's block size.
 * Returns why not, or undefined.
 */
export function installProblem(found: { files: string[]; tapeblksz: string | null }, blockSize: number): string | undefined {
  const missing = INSTALL_FILES.filter((f) => !found.files.includes(f));
  if (missing.length) return `record 2 (install image) does not hold ${missing.join(' and ')}: BOS install needs it`;
  const first = found.tapeblksz?.split(/\s+/)[0];
  if (found.tapeblksz === null) {
    if (blockSize === 512) return undefined;
    return `record 2 (install image) holds no ./tapeblksz, so BOS install would read record 4 at 512-byte blocks, but it was written with ${blockSize}`;
  }
  if (first !== String(blockSize)) {
    return `record 2's ./tapeblksz says record 4's block size is ${JSON.stringify(first ?? '')}, but record 4 was written with ${blockSize}: BOS install would not read it`;
  }
  return undefined;
}
