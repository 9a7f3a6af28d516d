/**
 * dd: AIX dd (strict operands) or GNU dd on a Linux host. Regular files go to the system dd; tape devices
 * (/dev/rmtN[.k] on AIX, /dev/[n]stN on Linux) go to the AWSTAPE emulator.
 */
import * as fs from 'node:fs';
import { spawnSync, spawn } from 'node:child_process';
import { Drive, TapeError, openDevice, parseDevice, type TapeErrno } from '../tape';
import type { Fault } from '../faults';
import { config, err, errnoText, Exit, findFault, faults, log, noTape, readSome, tapePaths, writeAll, DropCounter } from './common';
import type { HostOs } from '../../src/schema/tape-rules';
import { parseOps, type Ops } from './dd-operands';

function records(os: HostOs, inFull: number, inPart: number, outFull: number, outPart: number, bytes: number): string {
  const s = `${inFull}+${inPart} records in\n${outFull}+${outPart} records out\n`;
  return os === 'linux' ? s + `${bytes} bytes copied\n` : s;
}

function tapeErrMessage(os: HostOs, op: 'read' | 'write', dev: string, e: TapeErrno): string {
  if (os === 'aix') return `dd: ${op === 'write' ? '0511-053 The write failed.' : '0511-051 The read failed.'}\n: ${errnoText(e, os)}\n`;
  return `dd: error ${op === 'write' ? 'writing' : 'reading'} '${dev}': ${errnoText(e, os)}\n`;
}

export function dd(args: string[]): number | Promise<number> {
  const os = config().os;
  const o = parseOps(args, os);
  const inDev = o.if ? parseDevice(o.if) : undefined;
  const outDev = o.of ? parseDevice(o.of) : undefined;
  if (!inDev && !outDev) return fileDd(args, o, os);
  const errCode = os === 'aix' ? 2 : 1;
  if (inDev && outDev) {
    err('dd: lab: copying from tape to tape is not simulated\n');
    throw new Exit(errCode);
  }
  const devPath = (inDev ? o.if : o.of)!;
  const dev = (inDev ?? outDev)!;
  if (dev.os !== os || !config().devices[dev.drive]) {
    err(os === 'aix' ? `dd: ${devPath}: ${errnoText('ENOENT', os)}\n` : `dd: failed to open '${devPath}': ${errnoText('ENOENT', os)}\n`);
    throw new Exit(errCode, { tape: { device: dev.drive, op: inDev ? 'read' : 'write', error: 'ENOENT' } });
  }
  const paths = tapePaths(dev.drive);
  const stall = findFault('stall', (f) => (!f.device || f.device === dev.drive) && (!f.op || f.op === (inDev ? 'read' : 'write')));
  if (stall && !faults.letThrough(stall)) {
    // A dd that is slow to get going (a loaded host): it opens the drive only after the wait, unless killed first.
    faults.fired(stall);
    log('dd', args, -1, { fault: 'stall', seconds: stall.seconds });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stall.seconds * 1000);
    log('dd', args, -1, { fault: 'stall', resumed: true });
  }
  let unlock: () => void;
  try {
    unlock = openDevice(paths.lock);
  } catch (e) {
    if (!(e instanceof TapeError)) throw e;
    err(os === 'aix' ? `dd: ${devPath}: ${errnoText(e.errno, os)}\n` : `dd: failed to open '${devPath}': ${errnoText(e.errno, os)}\n`);
    throw new Exit(errCode, { tape: { device: dev.drive, op: inDev ? 'read' : 'write', error: e.errno } });
  }
  try {
    if (noTape(dev.drive)) throw new TapeError('ENOTREADY');
    const eomFault = findFault('eom', (f) => !f.device || f.device === dev.drive);
    const writeFails = faults.list().filter((f): f is Extract<Fault, { kind: 'write-fail' }> => f.kind === 'write-fail');
    const drive = new Drive(paths, dev.rewindOnClose, {
      eomAt: eomFault?.bytes,
      beforeWrite: (fileNo, nth) => {
        if (!writeFails.length) return;
        const f = writeFails.find((x) => x.file === fileNo && x.nth === nth && (!x.device || x.device === dev.drive));
        if (f) {
          if (!f.always) writeFails.splice(writeFails.indexOf(f), 1);
          faults.fired(f);
          throw new TapeError('EIO', 'write-fail fault');
        }
      },
    });
    return inDev ? tapeRead(o, drive, devPath, os, args) : tapeWrite(o, drive, devPath, os, args, eomFault);
  } catch (e) {
    if (e instanceof TapeError && e.errno === 'ENOTREADY') {
      err(os === 'aix' ? `dd: ${devPath}: ${errnoText('ENOTREADY', os)}\n` : `dd: failed to open '${devPath}': ${errnoText('ENOTREADY', os)}\n`);
      throw new Exit(errCode, { tape: { device: dev.drive, op: inDev ? 'read' : 'write', error: 'ENOTREADY' } });
    }
    throw e;
  } finally {
    unlock();
  }
}

function openInput(o: Ops, os: HostOs): number {
  if (!o.if) return 0;
  try {
    return fs.openSync(o.if, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code as 'ENOENT';
    err(os === 'aix' ? `dd: ${o.if}: ${errnoText(code, os)}\n` : `dd: failed to open '${o.if}': ${errnoText(code, os)}\n`);
    throw new Exit(os === 'aix' ? 2 : 1);
  }
}

/** Reads and drops `count` blocks of `ib` bytes from a pipe (a regular file is skipped by its read offset instead). */
function skipBlocks(fd: number, ib: number, count: number): void {
  const sink = Buffer.alloc(ib);
  for (let i = 0; i < count; i++) {
    let n = 0;
    while (n < ib) {
      const r = readSome(fd, sink, n, ib - n);
      if (!r) break;
      n += r;
    }
  }
}

/** Fills `chunk` from `fd` (at offset `pos` of a regular file, else from the stream); fewer bytes than asked mean EOF. */
function fillChunk(fd: number, chunk: Buffer, pos: number | null): number {
  let n = 0;
  while (n < chunk.length) {
    const r = pos !== null ? fs.readSync(fd, chunk, n, chunk.length - n, pos + n) : readSome(fd, chunk, n, chunk.length - n);
    if (!r) break;
    n += r;
  }
  return n;
}

/** A drive that stops when its input runs dry this long after its last bytes is counted as an underrun. */
const UNDERRUN_MS = 20;

/**
 * A drive streams at its own speed (`tapeBytesPerSecond`): each call waits until the drive has written the bytes
 * before. A drive never goes faster than its speed to make up for input that came late: it ran dry and stopped (on
 * a real drive, a stop, a rewind past the last block and a start again: shoe-shining), and `underruns` counts those
 * stops. No rate: no wait, nothing counted.
 */
function streamPacer(rate: number | undefined): { pace(bytes: number): void; underruns(): number | undefined } {
  let free: number | undefined;
  let stops = 0;
  return {
    pace(bytes) {
      if (!rate) return;
      const now = Date.now();
      if (free !== undefined && now > free + UNDERRUN_MS) stops++;
      const start = Math.max(free ?? now, now);
      if (start > now) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, start - now);
      free = start + (bytes / rate) * 1000;
    },
    underruns: () => (rate ? stops : undefined),
  };
}

/** conv=sync: the input with its short last block padded with NULs to a whole block of `ib`. */
function padToBlock(data: Buffer, ib: number): Buffer {
  const padded = Buffer.alloc(Math.ceil(data.length / ib) * ib);
  data.copy(padded);
  return padded;
}

/**
 * The writes (buffer, write size) one chunk of input makes. With bs= each input block is one write, a short last block
 * a short write. With obs= the input is re-blocked to `W`: what is left over waits in `carry` for the next chunk.
 */
function splitWrites(data: Buffer, W: number, perInputBlock: boolean, carry: Buffer): { writes: Array<[Buffer, number]>; carry: Buffer } {
  if (perInputBlock) {
    const whole = Math.floor(data.length / W) * W;
    const writes: Array<[Buffer, number]> = [[data.subarray(0, whole), W]];
    if (data.length > whole) writes.push([data.subarray(whole), data.length - whole]);
    return { writes, carry };
  }
  const all = carry.length ? Buffer.concat([carry, data]) : data;
  const whole = Math.floor(all.length / W) * W;
  return { writes: [[all.subarray(0, whole), W]], carry: Buffer.from(all.subarray(whole)) };
}

function tapeWrite(
  o: Ops,
  drive: Drive,
  devPath: string,
  os: HostOs,
  args: string[],
  eomFault: ReturnType<typeof findFault<'eom'>>,
): number {
  const ib = o.bs ?? o.ibs ?? 512;
  const W = o.bs ?? o.obs ?? 512;
  const sync = o.conv.has('sync');
  const fd = openInput(o, os);
  const startFile = drive.fileNo;
  const drop = new DropCounter('dd');
  const regular = fs.fstatSync(fd).isFile();
  let inFull = 0;
  let inPart = 0;
  let pos = regular ? o.skip * ib : 0;
  if (!regular) skipBlocks(fd, ib, o.skip);
  const CH = Math.max(ib, Math.floor((8 << 20) / ib) * ib);
  let carry: Buffer = Buffer.alloc(0);
  let blocksLeft = o.count ?? Infinity;
  let eof = false;
  let failure: TapeErrno | undefined;
  const pacer = streamPacer(config().tapeBytesPerSecond);
  let pause = findFault('pause-tape', (f) => f.file === startFile && (!f.device || f.device === drive.st.device) && f.heldBy === undefined);
  const doWrite = (buf: Buffer, size: number): void => {
    if (!buf.length) return;
    if (pause && drive.dataBytes + buf.length > pause.at) {
      // A test's hold on a write at a known point: the whole writes up to N bytes are on the tape, the drive open.
      const held = pause;
      pause = undefined;
      if (faults.hold(held)) {
        let upTo = Math.max(0, held.at - drive.dataBytes);
        upTo -= upTo % size;
        doWrite(buf.subarray(0, upTo), size);
        log('dd', args, -1, { ...entry(), fault: 'pause-tape' });
        while (faults.has(held.id)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        doWrite(buf.subarray(upTo), size);
        return;
      }
    }
    pacer.pace(buf.length);
    let allowed = drop.allow(buf.length);
    if (allowed < buf.length) allowed -= allowed % size;
    if (allowed) drive.write(buf.subarray(0, allowed), size);
    drop.add(allowed);
    if (drop.due || allowed < buf.length) {
      err(records(os, inFull, inPart, ...outCounts()));
      drive.close();
      drop.fire(args, entry());
    }
  };
  const outCounts = (): [number, number, number] => {
    const b = drive.dataBytes;
    return [Math.floor(b / W), b % W ? 1 : 0, b];
  };
  const entry = (error?: string): Record<string, unknown> => ({
    tape: { device: drive.st.device, op: 'write', file: startFile, bytes: drive.dataBytes, blockSize: drive.st.blockSize, writeSize: W, error, underruns: pacer.underruns() },
    position: drive.position(),
  });
  const logEntry = (exit: number, error?: string): void => log('dd', args, exit, entry(error));
  try {
    while (!eof && blocksLeft > 0) {
      const want = Math.min(CH, blocksLeft === Infinity ? CH : blocksLeft * ib);
      const chunk = Buffer.allocUnsafe(want);
      const n = fillChunk(fd, chunk, regular ? pos : null);
      pos += n;
      eof = n < want;
      const full = Math.floor(n / ib);
      const rem = n - full * ib;
      inFull += full;
      blocksLeft -= full;
      let data: Buffer = chunk.subarray(0, n);
      if (rem) {
        inPart++;
        blocksLeft--;
        if (sync) data = padToBlock(data, ib);
      }
      const split = splitWrites(data, W, o.bs !== undefined, carry);
      for (const [buf, size] of split.writes) doWrite(buf, size);
      carry = split.carry;
    }
    if (carry.length) doWrite(carry, carry.length);
  } catch (e) {
    if (!(e instanceof TapeError)) throw e;
    failure = e.errno;
    if (eomFault && drive.st.eom) faults.fired(eomFault);
  }
  if (o.if) fs.closeSync(fd);
  if (failure) {
    // dd stops at the failed write: it had read the input of its whole writes and of the one that failed (the short
    // write at the end of the medium is that one: its blocks that fit are out, as a partial record)
    const read = Math.ceil(((outCounts()[0] + 1) * W) / ib);
    if (inFull + inPart > read) {
      inPart = 0;
      inFull = read;
    }
    err(tapeErrMessage(os, 'write', devPath, failure));
    err(records(os, inFull, inPart, ...outCounts()));
    drive.close();
    logEntry(os === 'aix' ? 2 : 1, failure);
    throw new Exit(os === 'aix' ? 2 : 1, { logged: true });
  }
  err(records(os, inFull, inPart, ...outCounts()));
  drive.close();
  logEntry(0);
  return 0;
}

function tapeRead(o: Ops, drive: Drive, devPath: string, os: HostOs, args: string[]): number {
  const R = o.bs ?? o.ibs ?? 512;
  const sync = o.conv.has('sync');
  let ofd = 1;
  if (o.of) ofd = fs.openSync(o.of, o.conv.has('notrunc') ? 'a' : 'w');
  const startFile = drive.fileNo;
  const drop = new DropCounter('dd');
  let inFull = 0;
  let inPart = 0;
  let bytes = 0;
  let batch: Buffer[] = [];
  let batchLen = 0;
  const flush = (): void => {
    if (!batchLen) return;
    let b = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchLen);
    batch = [];
    batchLen = 0;
    const allowed = drop.allow(b.length);
    b = b.subarray(0, allowed);
    writeAll(ofd, b);
    drop.add(b.length);
    bytes += b.length;
    if (drop.due) {
      drive.close();
      drop.fire(args, entry());
    }
  };
  const entry = (error?: string): Record<string, unknown> => ({
    tape: { device: drive.st.device, op: 'read', file: startFile, bytes, blockSize: drive.st.blockSize, readSize: R, error },
    position: drive.position(),
  });
  const logEntry = (exit: number, error?: string): void => log('dd', args, exit, entry(error));
  let failure: TapeErrno | undefined;
  try {
    if (o.skip) drive.read(R, o.skip, () => undefined);
    drive.read(R, o.count ?? Infinity, (d) => {
      if (d.length === R) inFull++;
      else inPart++;
      if (sync && d.length < R) {
        const p = Buffer.alloc(R);
        d.copy(p);
        d = p;
      }
      batch.push(d);
      batchLen += d.length;
      if (batchLen >= 8 << 20) flush();
    });
    flush();
  } catch (e) {
    if (!(e instanceof TapeError)) throw e;
    flush();
    failure = e.errno;
  }
  if (o.of) fs.closeSync(ofd);
  err(failure ? tapeErrMessage(os, 'read', devPath, failure) : '');
  err(records(os, inFull, inPart, inFull, inPart, bytes));
  drive.close();
  if (failure) {
    logEntry(os === 'aix' ? 2 : 1, failure);
    throw new Exit(os === 'aix' ? 2 : 1, { logged: true });
  }
  logEntry(0);
  return 0;
}

/** dd between files and pipes: the system (GNU) dd, after the AIX operand checks; counts bytes when a drop fault is armed. */
function fileDd(args: string[], o: Ops, os: HostOs): number | Promise<number> {
  const real = os === 'aix' ? [...args, 'status=noxfer'] : args;
  const drop = new DropCounter('dd');
  if (!drop.armed || (o.if && o.of)) {
    const r = spawnSync('/usr/bin/dd', real, { stdio: 'inherit' });
    return r.status ?? 1;
  }
  // Count the bytes on the pipe side (stdout when of= is absent, else stdin).
  const child = spawn('/usr/bin/dd', real, { stdio: [o.of ? 'pipe' : 'inherit', o.of ? 'inherit' : 'pipe', 'inherit'] });
  return new Promise<number>((resolve) => {
    const done = (code: number | null): void => resolve(code ?? 1);
    if (!o.of) {
      child.stdout!.on('data', (d: Buffer) => {
        const n = drop.allow(d.length);
        writeAll(1, d.subarray(0, n));
        drop.add(n);
        if (drop.due) {
          child.kill('SIGKILL');
          drop.fire(args);
        }
      });
    } else {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const r = readSome(0, buf);
        if (!r) break;
        const n = drop.allow(r);
        child.stdin!.write(Buffer.from(buf.subarray(0, n)));
        drop.add(n);
        if (drop.due) {
          child.stdin!.end(() => drop.fire(args));
          return;
        }
      }
      child.stdin!.end();
    }
    child.on('exit', done);
  });
}
