/**
 * A tape drive of the lab as files beside its AWSTAPE cartridge: the drive state (JSON), the lock that serialises
 * commands on the drive, and the device special files that name it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostOs } from '../src/schema/tape-rules';
import { settleAutoloader, type Autoloader, type Cartridge } from './cartridges';

export interface DriveState {
  device: string; // rmt0 | nst0
  os: HostOs;
  loaded: boolean;
  blockSize: number; // 0 = variable
  extfm: boolean;
  capacityBytes: number;
  offset: number; // position: byte offset of the next block header in the AWS file
  marks: number[]; // AWS offsets of tapemarks, ascending
  size: number; // AWS file size = end of recorded data
  lastLen: number; // length of the last segment in the AWS file (for the next header's "previous" field)
  eom: boolean; // end of medium has been hit (AIX: later writes fail with ENXIO)
  attrs: Record<string, string>;
  /**
   * The cartridge in the drive (or, unloaded, the one last in it): its name and AWSTAPE file (a name in the drive's
   * folder). The medium fields above (capacity, marks, size, lastLen, eom) are that cartridge's while it is loaded.
   * Absent in a state written before cartridges could be changed: then the drive's own `DEVICE.aws`.
   */
  cartridge?: string;
  file?: string;
  /** The drive's other cartridges, with their recorded state (lab/cartridges.ts). */
  library?: Cartridge[];
  autoloader?: Autoloader;
}

export type TapeErrno = 'EIO' | 'ENXIO' | 'EINVAL' | 'ENOSPC' | 'ENOMEM' | 'ENOTREADY' | 'EBUSY';

export class TapeError extends Error {
  constructor(
    readonly errno: TapeErrno,
    message?: string,
  ) {
    super(message ?? errno);
  }
}

export interface DevicePaths {
  aws: string;
  state: string;
  lock: string;
}

export function devicePaths(tapeDir: string, device: string): DevicePaths {
  return {
    aws: path.join(tapeDir, `${device}.aws`),
    state: path.join(tapeDir, `${device}.json`),
    lock: path.join(tapeDir, `${device}.lock`),
  };
}

export function newDriveState(device: string, os: HostOs, capacityBytes: number): DriveState {
  return {
    device,
    os,
    loaded: true,
    blockSize: os === 'aix' ? 1024 : 0,
    extfm: false,
    capacityBytes,
    offset: 0,
    marks: [],
    size: 0,
    lastLen: 0,
    eom: false,
    attrs: {},
    cartridge: device,
    file: `${device}.aws`,
    library: [],
  };
}

/**
 * The drive's state as a command finds it now: a sequential autoloader whose delay has passed has loaded its next
 * cartridge (lazily: whoever looks first sees it, and the next write of the state records it).
 */
export function readState(p: DevicePaths): DriveState {
  return settleAutoloader(JSON.parse(fs.readFileSync(p.state, 'utf8')) as DriveState, Date.now());
}

/** The AWSTAPE file of the cartridge the state names (the loaded one, or the drive's own for an old state). */
export function awsPath(p: DevicePaths, st: DriveState): string {
  return st.file ? path.join(path.dirname(p.state), st.file) : p.aws;
}

export function writeState(p: DevicePaths, s: DriveState): void {
  const tmp = `${p.state}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(s, null, 1));
  fs.renameSync(tmp, p.state);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Alive and not a zombie: a process that has exited has closed its devices, even before its parent reaps it. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "PID (comm) STATE ..."; comm may hold spaces and parentheses, the state follows the last ")".
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Opens the drive for one command, as the tape drivers do: AIX's rmt driver and Linux's st allow one open of a drive
 * at a time and refuse another with EBUSY (they do not queue it). The open is a lock file holding the owner's pid; an
 * owner that has exited (killed, crashed) no longer holds it. Returns the close.
 */
export function openDevice(file: string): () => void {
  return lock(file, { wait: false });
}

/** Exclusive lock file holding the owner's pid; waits while a live process holds it (or, `wait: false`, EBUSY). */
export function lock(file: string, opts: { wait?: boolean } = {}): () => void {
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => {
        try {
          fs.unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(file, 'utf8'));
      } catch {
        continue;
      }
      if (owner && !pidAlive(owner)) {
        try {
          fs.unlinkSync(file);
        } catch {
          /* raced */
        }
        continue;
      }
      if (opts.wait === false) throw new TapeError('EBUSY');
      sleepMs(20);
    }
  }
}

export interface DeviceName {
  drive: string; // rmt0 / nst0 (linux drives are named by their no-rewind device)
  rewindOnClose: boolean;
  os: HostOs;
}

/** Maps /dev/rmtN[.k], /dev/nstN, /dev/stN to a drive; undefined for anything else. */
export function parseDevice(p: string): DeviceName | undefined {
  let m = /^\/dev\/rmt(\d+)(?:\.([0-7]))?$/.exec(p);
  if (m) {
    const k = m[2] === undefined ? 0 : Number(m[2]);
    return { drive: `rmt${m[1]}`, rewindOnClose: k % 2 === 0, os: 'aix' };
  }
  m = /^\/dev\/(n?)st(\d+)$/.exec(p);
  if (m) return { drive: `nst${m[2]}`, rewindOnClose: m[1] !== 'n', os: 'linux' };
  return undefined;
}
