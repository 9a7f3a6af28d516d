/**
 * Tape drive command builders: one interface, an AIX driver (`tctl`, `chdev`, `/dev/rmtN`) and a Linux driver
 * (`mt`, `/dev/nstN`). Pure: no I/O, no Node built-ins. See "AIX tape devices" in AIX-TAPE.md.
 *
 * Device arguments are bare drive names (`DRIVE_NAMES`): `rmt0` on AIX; `nst0`, as the inventory gives it, or `st0` on
 * Linux, both writing through /dev/nst0.
 *
 * Writing and positioning choice: every record, record 1 included, is written to the NO-REWIND device after
 * absolute positioning (rewind, then `fsf k-1` for k > 1). The manual procedure writes record 1 to the rewind device
 * `/dev/rmt0`, whose close writes two filemarks and rewinds; writing it to `/dev/rmt0.1` after a rewind writes one
 * filemark and leaves the tape after it. Both leave record 1 followed by a filemark, and record 2 is written after
 * `rewind; fsf 1` in both cases (with `extfm=yes` the drive may overwrite the second filemark), so the cartridge is
 * the same. One rule for all four records makes a rewrite of any record k the same operation as its first write.
 *
 * The block size in effect on the drive must match the record being written or read: records 1..3 need 512 (set by
 * `prepare`), record 4 needs its own block size (`setBlockSize` before writing or reading it, then back to 512).
 * On AIX `chdev` rewinds the tape, so call it before positioning; `setBlockSize` leaves the position to the caller, which
 * positions absolutely after it (a rewind of its own right after the chdev would be a second one in a row, one more
 * command on the drive for every record written or read).
 */
import { DUMMY_TOC_TEXT, RecordNumber, TAPE_BLOCK_SIZE, assertBlockSize, record, syncFor } from './layout';
import { DRIVE_NAMES } from '../schema/tape-rules';
import { HostOs, sha256Stdin } from './digest';
import { and, assertName, command, parsePipeStatus, pipe, pipeWithStatus, ShellValueError } from './shell';

/** Largest read request used when reading records back: 256 KiB, a multiple of every block size up to it. */
export const READ_CHUNK = 256 * 1024;

export interface WriteRecordOptions {
  /** Staged file to write (records 1, 2, 4). */
  file: string;
  blockSize: number;
  /** `conv=sync`: pad the last block with NULs. */
  sync: boolean;
}

export interface TapeDriver {
  os: HostOs;
  /** Accepted bare device names (`DRIVE_NAMES`). */
  devicePattern: RegExp;
  /** Rewinding special file, e.g. `/dev/rmt0`, `/dev/st0`. */
  rewindDevice(device: string): string;
  /** No-rewind special file, e.g. `/dev/rmt0.1`, `/dev/nst0`. */
  noRewindDevice(device: string): string;
  /** Commands that make the drive ready for records 1..3 (block size 512), in order; run them joined with `&&`. */
  prepare(device: string): string[];
  /** Sets the drive's block size; the tape is then at an unknown place (AIX: rewound), so position after it. */
  setBlockSize(device: string, blockSize: number): string[];
  /** Exits 0 when a tape is loaded; see `parseStatus`. */
  status(device: string): string;
  /** Absolute positioning before record k: rewind, then `fsf k-1` on the no-rewind device (no fsf for k = 1). */
  positionForRecord(device: string, k: RecordNumber): string[];
  /** `dd if=FILE of=NOREWIND bs=BS [conv=sync]` (no positioning: see `writeRecordAt`). */
  writeRecord(device: string, k: RecordNumber, opts: WriteRecordOptions): string;
  /** `echo "Dummy tape TOC" | dd of=NOREWIND bs=512 conv=sync` (no positioning). */
  writeDummyToc(device: string): string;
  /**
   * Positions at record k and prints the SHA-256 of what the drive returns for it, with dd's exit status
   * (`parseSha256WithStatus` from ./digest). The drive's block size must be the record's.
   */
  readRecordSha256(device: string, k: RecordNumber, blockSize: number): string;
  /** Rewinds and reads the first block: parse with `parseCartridgeStart` (0 bytes means blank or unreadable). */
  readCartridgeStart(device: string): string;
  /** Rewinds and runs the platform's check of the mksysb on tape (AIX: `lsmksysb -V`); null when there is none. */
  verifyMksysb(device: string): string | null;
  rewind(device: string): string;
}

function deviceName(driver: { os: HostOs; devicePattern: RegExp }, device: string): string {
  assertName(device, 'tape device');
  if (!driver.devicePattern.test(device)) {
    throw new ShellValueError(`tape device for ${driver.os} must match ${String(driver.devicePattern)}, got ${JSON.stringify(device)}`);
  }
  return device;
}

/** Read request size for reading back a record written with `blockSize`: the largest multiple of it ≤ 256 KiB. */
export function readBlockSize(blockSize: number): number {
  assertBlockSize(blockSize);
  return Math.max(1, Math.floor(READ_CHUNK / blockSize)) * blockSize;
}

function ddWrite(noRewind: string, opts: WriteRecordOptions): string {
  assertName(opts.file, 'staged file');
  assertBlockSize(opts.blockSize);
  const argv = ['dd', `if=${opts.file}`, `of=${noRewind}`, `bs=${opts.blockSize}`];
  if (opts.sync) argv.push('conv=sync');
  return command(argv);
}

function checkRecordOptions(k: RecordNumber, opts: WriteRecordOptions): void {
  const r = record(k);
  if (k === 3) throw new ShellValueError('record 3 (dummy TOC) is written with writeDummyToc');
  if (r.fixedBlockSize !== null && opts.blockSize !== r.fixedBlockSize) {
    throw new ShellValueError(`record ${k} (${r.name}) must be written with block size ${r.fixedBlockSize}`);
  }
  const sync = syncFor(k, opts.blockSize);
  if (opts.sync !== sync) {
    throw new ShellValueError(`record ${k} (${r.name}) at block size ${opts.blockSize} is written ${sync ? 'with' : 'without'} conv=sync`);
  }
}

function readSha(os: HostOs, noRewind: string, blockSize: number): string {
  return pipeWithStatus(command(['dd', `if=${noRewind}`, `bs=${readBlockSize(blockSize)}`]), sha256Stdin(os));
}

function readStart(noRewind: string): string {
  // wc reads all of its input on AIX (AIX-TAPE.md, "AIX userland"), but here that is one block of at most READ_CHUNK
  // bytes from a pipe: counting it costs no more than reading it, and no file's size is asked.
  return pipeWithStatus(command(['dd', `if=${noRewind}`, `bs=${READ_CHUNK}`, 'count=1']), 'wc -c');
}

function dummyToc(noRewind: string): string {
  return pipe(command(['echo', DUMMY_TOC_TEXT.trimEnd()]), command(['dd', `of=${noRewind}`, `bs=${TAPE_BLOCK_SIZE}`, 'conv=sync']));
}

/**
 * What both drivers do alike, with their OS's tape tool (`tctl` on AIX, `mt` on Linux) and always on the no-rewind
 * device: status, absolute positioning, the record writes and the read-backs. Methods use `this` (the driver).
 */
function sharedOps(os: HostOs, tool: 'tctl' | 'mt'): Pick<
  TapeDriver,
  'status' | 'positionForRecord' | 'writeRecord' | 'writeDummyToc' | 'readRecordSha256' | 'readCartridgeStart'
> {
  return {
    status(this: TapeDriver, device) {
      return command([tool, '-f', this.noRewindDevice(device), 'status']);
    },
    positionForRecord(this: TapeDriver, device, k) {
      record(k);
      const cmds = [this.rewind(device)];
      if (k > 1) cmds.push(command([tool, '-f', this.noRewindDevice(device), 'fsf', String(k - 1)]));
      return cmds;
    },
    writeRecord(this: TapeDriver, device, k, opts) {
      checkRecordOptions(k, opts);
      return ddWrite(this.noRewindDevice(device), opts);
    },
    writeDummyToc(this: TapeDriver, device) {
      return dummyToc(this.noRewindDevice(device));
    },
    readRecordSha256(this: TapeDriver, device, k, blockSize) {
      return and(...this.positionForRecord(device, k), readSha(os, this.noRewindDevice(device), blockSize));
    },
    readCartridgeStart(this: TapeDriver, device) {
      return and(this.rewind(device), readStart(this.noRewindDevice(device)));
    },
  };
}

export const aixDriver: TapeDriver = {
  os: 'aix',
  devicePattern: DRIVE_NAMES.aix,
  rewindDevice(device) {
    return `/dev/${deviceName(this, device)}`;
  },
  noRewindDevice(device) {
    return `/dev/${deviceName(this, device)}.1`;
  },
  prepare(device) {
    const d = deviceName(this, device);
    return [
      command(['chdev', '-l', d, '-a', 'extfm=yes']),
      this.rewind(d),
      command(['chdev', '-l', d, '-a', `block_size=${TAPE_BLOCK_SIZE}`]),
      this.rewind(d),
    ];
  },
  setBlockSize(device, blockSize) {
    const d = deviceName(this, device);
    assertBlockSize(blockSize);
    return [command(['chdev', '-l', d, '-a', `block_size=${blockSize}`])];
  },
  ...sharedOps('aix', 'tctl'),
  verifyMksysb(device) {
    return and(this.rewind(device), command(['lsmksysb', '-V', '-f', this.rewindDevice(device)]));
  },
  rewind(device) {
    return command(['tctl', '-f', this.rewindDevice(device), 'rewind']);
  },
};

function linuxIndex(driver: TapeDriver, device: string): string {
  const d = deviceName(driver, device);
  return d.replace(/^n?st/, '');
}

export const linuxDriver: TapeDriver = {
  os: 'linux',
  devicePattern: DRIVE_NAMES.linux,
  rewindDevice(device) {
    return `/dev/st${linuxIndex(this, device)}`;
  },
  noRewindDevice(device) {
    return `/dev/nst${linuxIndex(this, device)}`;
  },
  prepare(device) {
    return [this.rewind(device), ...this.setBlockSize(device, TAPE_BLOCK_SIZE)];
  },
  setBlockSize(device, blockSize) {
    assertBlockSize(blockSize);
    return [command(['mt', '-f', this.noRewindDevice(device), 'setblk', String(blockSize)])];
  },
  ...sharedOps('linux', 'mt'),
  verifyMksysb() {
    return null;
  },
  rewind(device) {
    return command(['mt', '-f', this.noRewindDevice(device), 'rewind']);
  },
};

export function driverFor(os: HostOs): TapeDriver {
  if (os === 'aix') return aixDriver;
  if (os === 'linux') return linuxDriver;
  throw new ShellValueError(`no tape driver for OS ${JSON.stringify(os)}`);
}

/**
 * One command that positions absolutely at record k and writes it: the staged file for records 1, 2, 4 (with the
 * block size and `conv=sync` the layout prescribes, `syncFor`), the dummy TOC for record 3. `blockSize` matters for record 4 only.
 */
export function writeRecordAt(driver: TapeDriver, device: string, k: RecordNumber, file: string | null, blockSize = TAPE_BLOCK_SIZE): string {
  const r = record(k);
  const write =
    k === 3
      ? driver.writeDummyToc(device)
      : driver.writeRecord(device, k, {
          file: file ?? missingFile(k),
          blockSize: r.fixedBlockSize ?? blockSize,
          sync: syncFor(k, r.fixedBlockSize ?? blockSize),
        });
  return and(...driver.positionForRecord(device, k), write);
}

function missingFile(k: RecordNumber): never {
  throw new ShellValueError(`record ${k} needs its staged file`);
}

/** Parses `readCartridgeStart` output: bytes of the first block and dd's status. */
export function parseCartridgeStart(stdout: string): { bytes: number; readStatus: number | null; hasData: boolean } {
  const { status, rest } = parsePipeStatus(stdout);
  // wc's count is the last line that is a number alone: a login banner comes before it and may hold numbers too.
  const counts = rest.split('\n').filter((l) => /^\s*\d+\s*$/.test(l));
  const bytes = counts.length > 0 ? Number(counts[counts.length - 1]!.trim()) : 0;
  return { bytes, readStatus: status, hasData: bytes > 0 };
}

/**
 * Interprets a `status` command's result. AIX `tctl status` fails without a tape. Linux `mt status` may succeed
 * without one and print `DR_OPEN` (door open / no medium) instead of `ONLINE`.
 */
export function parseStatus(os: HostOs, exitCode: number | null, stdout: string): { loaded: boolean; detail: string } {
  const detail = stdout.trim().split('\n').slice(-3).join(' | ');
  if (exitCode !== 0) return { loaded: false, detail };
  if (os === 'linux' && /\bDR_OPEN\b/.test(stdout)) return { loaded: false, detail };
  if (os === 'linux' && /\bONLINE\b/.test(stdout) === false && /General status bits/.test(stdout)) {
    return { loaded: false, detail };
  }
  return { loaded: true, detail };
}
