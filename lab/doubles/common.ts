/** Shared helpers of the command doubles that run inside a lab host (bundled into /lab/doubles.cjs). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FaultStore, type Fault } from '../faults';
import { devicePaths, type DevicePaths, type TapeErrno } from '../drive-state';
import type { HostOs } from '../../src/schema/tape-rules';

/** Prefix of the host's own tree: '' inside a lab host (chroot); a real directory when run outside (unit tests). */
export const ROOT = process.env.LAB_ROOT ?? '';
export const VAR = `${ROOT}/var/lab`;

export interface HostConfig {
  name: string;
  os: HostOs;
  role: 'source' | 'tape';
  seed: string;
  mksysbBytes: number;
  mksysbBytesPerSecond: number;
  bootImageBytes: number;
  /** When set: the free space every filesystem of the host reports, and the most an image double may write. */
  freeBytes?: number;
  /** When set: tape writes run no faster than this (a drive's streaming speed), so tests can act mid-write. */
  tapeBytesPerSecond?: number;
  /** mkinsttape archives this as ./tapeblksz whatever /tapeblksz holds ("" : none); see lab/types.ts. */
  tapeblkszOverride?: string;
  devices: Record<string, { capacityBytes: number }>;
}

let cfg: HostConfig | undefined;
export function config(): HostConfig {
  cfg ??= JSON.parse(fs.readFileSync(`${VAR}/config.json`, 'utf8')) as HostConfig;
  return cfg;
}

/** A path of the host's own tree (e.g. /tapeblksz). */
export function hp(p: string): string {
  return ROOT + p;
}

export const faults = new FaultStore(VAR);

export function tapePaths(drive: string): DevicePaths {
  return devicePaths(`${VAR}/tape`, drive);
}

export class Exit extends Error {
  constructor(
    readonly code: number,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(`exit ${code}`);
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Blocking write of the whole buffer (copes with O_NONBLOCK pipes). */
export function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') sleepMs(1);
      else throw e;
    }
  }
}

/** Blocking read; 0 at end of input. */
export function readSome(fd: number, buf: Buffer, off = 0, len = buf.length - off): number {
  for (;;) {
    try {
      return fs.readSync(fd, buf, off, len, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') sleepMs(1);
      else if (code === 'EOF') return 0;
      else throw e;
    }
  }
}

export function out(s: string): void {
  writeAll(1, Buffer.from(s));
}
export function err(s: string): void {
  try {
    writeAll(2, Buffer.from(s));
  } catch {
    /* stderr gone */
  }
}

export function log(command: string, args: string[], exit: number, extra: Record<string, unknown> = {}): void {
  const entry = { time: new Date().toISOString(), host: config().name, command, args, exit, pid: process.pid, ...extra };
  fs.appendFileSync(`${VAR}/commands.log`, JSON.stringify(entry) + '\n');
}

/** AIX and Linux wording of the errno values the doubles report. */
export function errnoText(e: TapeErrno | 'ENOENT' | 'EACCES' | 'EISDIR', os: HostOs): string {
  const aix: Record<string, string> = {
    EIO: 'There is an input or output error.',
    ENXIO: 'There is a request to a device or address that does not exist.',
    EINVAL: 'A system call received a parameter that is not valid.',
    ENOSPC: 'There is not enough space in the file system.',
    ENOMEM: 'There is not enough memory available now.',
    ENOTREADY: 'The device is not ready for operation.',
    EBUSY: 'The requested resource is busy.',
    ENOENT: 'A file or directory in the path name does not exist.',
    EACCES: 'The file access permissions do not allow the specified action.',
    EISDIR: 'The specified path is a directory.',
  };
  const linux: Record<string, string> = {
    EIO: 'Input/output error',
    ENXIO: 'No such device or address',
    EINVAL: 'Invalid argument',
    ENOSPC: 'No space left on device',
    ENOMEM: 'Cannot allocate memory',
    ENOTREADY: 'No medium found',
    EBUSY: 'Device or resource busy',
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EISDIR: 'Is a directory',
  };
  return (os === 'aix' ? aix : linux)[e] ?? e;
}

export function findFault<K extends Fault['kind']>(kind: K, pred: (f: Extract<Fault, { kind: K }>) => boolean = () => true) {
  return faults.list().find((f): f is Extract<Fault, { kind: K }> => f.kind === kind && pred(f as Extract<Fault, { kind: K }>));
}

export function noTape(drive: string): boolean {
  return !!findFault('no-tape', (f) => !f.device || f.device === drive);
}

/** Kills this session's sshd processes (not the listener, pid 1 of the host's pid namespace). */
export function killSession(): void {
  let pid = process.ppid;
  const victims: number[] = [];
  while (pid > 1) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      break;
    }
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    if (comm === 'sshd') victims.push(pid);
    pid = ppid;
  }
  for (const v of victims) {
    try {
      process.kill(v, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Handles `exit` and `hang` faults aimed at this command. Returns only when none applies. */
export function commandFaults(name: string, args: string[]): void {
  const ex = findFault('exit', (f) => f.command === name);
  if (ex) {
    faults.fired(ex);
    const msg = ex.message ?? `${name}: 0403-xxx lab fault: ${name} failed.`;
    err(msg.endsWith('\n') ? msg : msg + '\n');
    log(name, args, ex.code, { fault: 'exit' });
    process.exit(ex.code);
  }
  const hang = findFault('hang', (f) => f.command === name);
  if (hang) {
    faults.fired(hang);
    log(name, args, -1, { fault: 'hang' });
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(sig, () => {
        log(name, args, 128 + ({ SIGTERM: 15, SIGINT: 2, SIGHUP: 1 } as const)[sig], { fault: 'hang', signal: sig });
        process.exit(128 + ({ SIGTERM: 15, SIGINT: 2, SIGHUP: 1 } as const)[sig]);
      });
    }
    setInterval(() => undefined, 1 << 30);
    throw new Hang();
  }
}

export class Hang extends Error {}

/** Counts bytes of a transfer and fires a drop-connection fault aimed at `command`. */
export class DropCounter {
  private fault: Extract<Fault, { kind: 'drop-connection' }> | undefined;
  total = 0;
  constructor(readonly command: string) {
    this.fault = findFault('drop-connection', (f) => !f.command || f.command === command);
  }
  get armed(): boolean {
    return !!this.fault;
  }
  /** How many of the next n bytes may pass before the connection drops (n when not armed). */
  allow(n: number): number {
    if (!this.fault) return n;
    return Math.max(0, Math.min(n, this.fault.after - this.total));
  }
  add(n: number): void {
    this.total += n;
  }
  /**
   * True when the limit is reached and this process has claimed the fault: call fire() then. Two processes counting
   * toward the same one-shot fault at once (two `cat`s) both reach it; only the one that claims it drops, the other
   * goes on as if no fault were armed.
   */
  get due(): boolean {
    if (!this.fault || this.total < this.fault.after) return false;
    if (!this.claimed) {
      if (!faults.claim(this.fault)) {
        this.fault = undefined;
        return false;
      }
      this.claimed = true;
    }
    return true;
  }
  private claimed = false;
  fire(args: string[], extra: Record<string, unknown> = {}): never {
    const f = this.fault!;
    if (!this.claimed) faults.fired(f);
    log(this.command, args, 255, { fault: 'drop-connection', bytes: this.total, ...extra });
    killSession();
    process.exit(255);
  }
}

export function dirOf(p: string): string {
  return path.dirname(p);
}
