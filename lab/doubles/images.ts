/**
 * Source-host doubles: bosboot, mkinsttape, mksysb; and lsmksysb, restore (list) on files and tapes. What the images
 * hold comes from image-content.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BffError, BffParser, endHeader, entryHeader, pad8, volumeHeader, BLOCK } from '../bff';
import { TapeError, parseDevice, type Drive } from '../tape';
import { config, err, errnoText, Exit, findFault, hp, log, out } from './common';
import { scanTape, VolumeError } from './volumes';
import { excludePatternsFrom, IMAGE_DATE, imageData, mkinsttapeArchive, prngBytes, rootvgFiles } from './image-content';

export { excludePatternsFrom, mkinsttapeFiles, rootvgFiles } from './image-content';

function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function writableTarget(cmd: string, target: string, args: string[]): void {
  const dir = path.dirname(target);
  let problem: string | undefined;
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) problem = `${dir}: ${errnoText('ENOENT', 'aix')}`;
  else if (fs.existsSync(target) && fs.statSync(target).isDirectory()) problem = `${target}: ${errnoText('EISDIR', 'aix')}`;
  else {
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch {
      problem = `${dir}: ${errnoText('EACCES', 'aix')}`;
    }
  }
  if (problem) {
    err(`${cmd}: 0512-xxx Cannot create ${target}.\n${problem}\n`);
    log(cmd, args, 1, { error: problem });
    throw new Exit(1, { logged: true });
  }
}

function refuseTape(cmd: string, target: string, args: string[]): void {
  if (target.startsWith('/dev/')) {
    err(`${cmd}: ${target}: ${errnoText('ENOENT', 'aix')}\n(lab: the source host has no tape drive; give a file name)\n`);
    log(cmd, args, 1, { error: 'device target' });
    throw new Exit(1, { logged: true });
  }
}

function opts(args: string[], noArg: string, withArg: string, cmd: string): { flags: Map<string, string>; rest: string[] } {
  const flags = new Map<string, string>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const f = a[j]!;
      if (noArg.includes(f)) flags.set(f, '');
      else if (withArg.includes(f)) {
        const v = a.slice(j + 1) || args[++i];
        if (v === undefined) throw new UsageError(`${cmd}: Flag -${f} requires a parameter.`);
        flags.set(f, v);
        break;
      } else throw new UsageError(`${cmd}: Not a recognized flag: ${f}`);
    }
  }
  return { flags, rest: args.slice(i) };
}

class UsageError extends Error {}

function usageFail(cmd: string, args: string[], e: unknown, usage: string): never {
  if (!(e instanceof UsageError)) throw e;
  err(`${e.message}\n${usage}\n`);
  log(cmd, args, 1, { error: e.message });
  throw new Exit(1, { logged: true });
}

export function bosboot(args: string[]): number {
  const usage = 'Usage: bosboot {-a [-d device] [-p proto] [-k kernel] [-l lvdev] [-b file] [-M norm|serv|both] [-T type] [-q] [-I|-D] [-L] [-O offset] [-z]} | -v';
  let o: ReturnType<typeof opts>;
  try {
    o = opts(args, 'aqvIDLzcu', 'dpklbMTO', 'bosboot');
    if (!o.flags.has('a') && !o.flags.has('v')) throw new UsageError('bosboot: 0301-150 Must specify -a or -v.');
  } catch (e) {
    usageFail('bosboot', args, e, usage);
  }
  const file = o.flags.get('b');
  if (!file) {
    err('0301-165 bosboot: WARNING! bosboot failed - do not attempt to boot device.\n(lab: only -b FILE is simulated)\n');
    log('bosboot', args, 1);
    return 1;
  }
  writableTarget('bosboot', file, args);
  const c = config();
  const size = c.bootImageBytes;
  const head = Buffer.alloc(BLOCK);
  head.write(`AIX LAB BOOT IMAGE\nhost=${c.name}\nkernel=64\ndevice=${o.flags.get('d') ?? ''}\nbytes=${size}\n`);
  const body = prngBytes(`${c.seed}/bosboot`, Math.max(0, size - BLOCK));
  const img = Buffer.concat([head, body]).subarray(0, size);
  fs.writeFileSync(file, img);
  out(`\nbosboot: Boot image is ${Math.ceil(size / BLOCK)} 512 byte blocks.\n`);
  log('bosboot', args, 0, { file, bytes: size });
  return 0;
}

export function mkinsttape(args: string[]): number {
  const target = args.find((a) => !a.startsWith('-'));
  if (!target) {
    refuseTape('mkinsttape', '/dev/rmt0', args);
    return 1;
  }
  refuseTape('mkinsttape', target, args);
  writableTarget('mkinsttape', target, args);
  let blk: Buffer | undefined;
  try {
    blk = fs.readFileSync(hp('/tapeblksz'));
  } catch {
    blk = undefined;
  }
  const override = config().tapeblkszOverride;
  if (override !== undefined) blk = override === '' ? undefined : Buffer.from(`${override}\n`);
  const img = mkinsttapeArchive(blk);
  fs.writeFileSync(target, img);
  log('mkinsttape', args, 0, { file: target, bytes: img.length, tapeblksz: blk?.toString().trim() ?? null });
  return 0;
}

export function excludePatterns(): RegExp[] {
  let txt = '';
  try {
    txt = fs.readFileSync(hp('/etc/exclude.rootvg'), 'utf8');
  } catch {
    return [];
  }
  return excludePatternsFrom(txt);
}

export function mksysb(args: string[]): number {
  const usage =
    'Usage: mksysb [-a] [-A] [-b Number] [-e] [-F filename] [-i|-m] [-M] [-p] [-t path] [-T] [-V] [-X] [-Z] Device | File';
  let o: ReturnType<typeof opts>;
  try {
    o = opts(args, 'aAeimpTVXZGN', 'bFtxM', 'mksysb');
    if (o.rest.length !== 1) throw new UsageError(o.rest.length ? 'mksysb: too many arguments.' : 'mksysb: 0512-xxx A device or file name must be specified.');
  } catch (e) {
    usageFail('mksysb', args, e, usage);
  }
  const target = o.rest[0]!;
  refuseTape('mksysb', target, args);
  writableTarget('mksysb', target, args);
  const c = config();
  let started = Date.now();
  if (o.flags.has('i') || o.flags.has('m')) {
    out('\nCreating information file (/image.data) for rootvg.\n');
    fs.writeFileSync(hp('/image.data'), imageData());
  }
  out('\nCreating list of files to back up.\n');
  const excl = o.flags.has('e') ? excludePatterns() : [];
  const all = rootvgFiles(c.mksysbBytes);
  const files = all.filter((f) => !excl.some((r) => r.test(f.name)));
  out(`\nBacking up ${files.length} files\n`);
  const fd = fs.openSync(target, 'w');
  let written = 0;
  const rate = c.mksysbBytesPerSecond;
  const room = c.freeBytes ?? Infinity;
  let pause = findFault('pause-mksysb');
  const put = (b: Buffer): void => {
    if (pause && written + b.length > pause.at) {
      // A test's hold on the image at a known size: what a reader sees then is exactly the first `at` bytes.
      const upTo = Math.max(0, pause.at - written);
      if (upTo) put(b.subarray(0, upTo));
      const held = Date.now();
      log('mksysb', args, -1, { file: target, bytes: written, fault: 'pause-mksysb' });
      while (findFault('pause-mksysb')) sleepMs(20);
      started += Date.now() - held; // the rate goes on from where it stopped, not catching up
      pause = undefined;
      put(b.subarray(upTo));
      return;
    }
    if (written + b.length > room) {
      fs.writeSync(fd, b, 0, Math.max(0, room - written));
      fs.closeSync(fd);
      err(`backup: 0511-xxx Cannot write to ${target}.\n${errnoText('ENOSPC', 'aix')}\n0512-005 mksysb: Backup Completed.\n\tThe backup command completed with errors.\n\tThe messages displayed on Standard Error contained additional\n\tinformation.\n`);
      log('mksysb', args, 1, { file: target, bytes: room, error: 'ENOSPC' });
      throw new Exit(1, { logged: true });
    }
    fs.writeSync(fd, b);
    written += b.length;
    const due = started + (written / rate) * 1000 - Date.now();
    if (due > 20) sleepMs(due);
  };
  put(volumeHeader({ date: IMAGE_DATE }));
  for (const f of files) {
    put(entryHeader({ name: f.name, size: f.size, mode: f.mode, mtime: IMAGE_DATE }));
    if (f.size) {
      put(f.data(c.seed));
      const p = pad8(f.size);
      if (p) put(Buffer.alloc(p));
    }
  }
  put(endHeader());
  const tail = (BLOCK - (written % BLOCK)) % BLOCK;
  if (tail) put(Buffer.alloc(tail));
  fs.closeSync(fd);
  const left = started + (written / rate) * 1000 - Date.now();
  sleepMs(left);
  out(`${files.length} of ${files.length} files backed up (100%)\n0512-038 mksysb: Backup Completed Successfully.\n`);
  log('mksysb', args, 0, { file: target, bytes: written, files: files.length, excluded: all.length - files.length, seconds: (Date.now() - started) / 1000 });
  return 0;
}

let lastTape: Record<string, unknown> | undefined;

/**
 * What restore (and lsmksysb, which runs it) says when the bytes after a header are not what backup wrote: restbyname
 * then misses the next header (rbyname.msg MISSHDR, RSYNC). AIX goes on scanning and may list garbage; the lab, the
 * stricter of the two, stops and fails so a damaged image never passes for a good one.
 */
function damagedText(src: string, e: BffError): string {
  return 'restore: 0511-119 There is a missing header block.\nrestore: 0511-137 Trying to find the next header. Data may be lost.\n' +
    `(lab: the backup archive on ${src} is damaged: ${e.message})\n`;
}

/**
 * Streams an archive from a file, or from standard input (`-f -`), into a parser. From a pipe it stops reading at the
 * end-of-archive header, as a reader that has what it needs does: whoever feeds it must not count on it reading the
 * rest (the lab is the stricter of the two here; AIX's restore was not checked).
 */
function scanFile(source: string, capture?: ReadonlySet<string>): BffParser {
  const p = new BffParser(capture);
  const stdin = source === '-';
  const fd = stdin ? 0 : fs.openSync(source, 'r');
  const buf = Buffer.allocUnsafe(stdin ? 64 << 10 : 4 << 20);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw e;
    }
    if (!n) break;
    p.push(buf.subarray(0, n));
    if (stdin && p.ended) break;
  }
  if (!stdin) fs.closeSync(fd);
  p.end();
  return p;
}

/** An archive from a file, or from a tape (following its volumes) where `position` leaves it. */
function scanArchive(source: string, position: (d: Drive) => void, capture?: ReadonlySet<string>): BffParser {
  if (!parseDevice(source)) return scanFile(source, capture);
  const r = scanTape(source, position);
  lastTape = r.tape;
  return r.parser;
}

/** A tape file from the beginning of the tape (lsmksysb reads record 4). */
const tapeFile = (n: number) => (d: Drive): void => {
  d.rewind();
  if (n > 1) d.fsf(n - 1);
};

/** What a failed read says: the reader's own lines for a volume problem, else the error in one line. */
function readFailure(src: string, e: unknown): string {
  return e instanceof TapeError ? `${src}: ${errnoText(e.errno, 'aix')}` : (e as Error).message;
}

export function lsmksysb(args: string[]): number {
  let o: ReturnType<typeof opts>;
  try {
    o = opts(args, 'lLVBcnrsa', 'fd', 'lsmksysb');
  } catch (e) {
    usageFail('lsmksysb', args, e, 'Usage: lsmksysb [-b blocks] [-f device] [-a] [-c] [-l] [-n] [-r] [-s] [-d path] [-B] [-D] [-L] [-V]');
  }
  const src = o.flags.get('f') ?? '/dev/rmt0';
  let p: BffParser;
  try {
    p = scanArchive(src, tapeFile(4));
  } catch (e) {
    const msg = readFailure(src, e);
    const lines = e instanceof VolumeError ? msg : e instanceof BffError && e.damaged ? damagedText(src, e) : '';
    err(`${lines}lsmksysb: 0511-xxx The backup image on ${src} is not valid or cannot be read.\n${e instanceof VolumeError ? '' : `${msg}\n`}`);
    log('lsmksysb', args, 1, { error: msg });
    return 1;
  }
  const size = p.entries.reduce((s, e) => s + e.size, 0);
  if (o.flags.has('V')) {
    out(`Verifying the mksysb image on ${src}.\n${p.entries.length} files verified, ${size} bytes.\n`);
  } else if (o.flags.has('l') || o.flags.has('L')) {
    out(
      `VOLUME GROUP:           rootvg\nBACKUP DATE/TIME:       Mon Jan  1 00:00:00 UTC 2024\nUNAME INFO:             AIX ${config().name} 2 7 00C0FFEE4C00\n` +
        `BACKUP OSLEVEL:         7.2.5.0\nMAINTENANCE LEVEL:      7200-05\nBACKUP SIZE (MB):       ${Math.ceil(size / 1048576)}\nSHRINK SIZE (MB):       ${Math.ceil(size / 1048576)}\nVG DATA ONLY:           no\n\nrootvg:\nLV NAME             TYPE       LPs     PPs     PVs  LV STATE      MOUNT POINT\nhd4                 jfs2       1       1       1    open/syncd    /\n`,
    );
  } else {
    for (const e of p.entries) out(`${String(e.size).padStart(12)} ${e.name}\n`);
  }
  log('lsmksysb', args, 0, { source: src, files: p.entries.length, bytes: size, tape: lastTape });
  return 0;
}

export function restore(args: string[]): number {
  let o: ReturnType<typeof opts>;
  try {
    o = opts(args, 'TtvqxXdBhimMrRSDpP', 'fsbe', 'restore');
  } catch (e) {
    usageFail('restore', args, e, 'Usage: restore -T|-t [-d] [-v] [-q] [-f Device] [-s SeekBackup] [-b Number]');
  }
  const extract = o.flags.has('x');
  if (!o.flags.has('T') && !o.flags.has('t') && !(extract && o.rest.length > 0)) {
    err('restore: lab: only the table of contents (-T) and extracting named files (-x NAME ...) are simulated.\n');
    log('restore', args, 1);
    return 1;
  }
  const src = o.flags.get('f') ?? '/dev/rmt0';
  const seek = Number(o.flags.get('s') ?? '1');
  let p: BffParser;
  try {
    // -s N: skip N-1 tape files from where the tape is, then read one.
    p = scanArchive(src, (d) => (seek > 1 ? d.fsf(seek - 1) : undefined), extract ? new Set(o.rest) : undefined);
  } catch (e) {
    const msg = readFailure(src, e);
    err(e instanceof VolumeError ? msg : e instanceof BffError && e.damaged ? damagedText(src, e) : `restore: 0511-xxx ${msg}\n`);
    log('restore', args, 1, { error: msg });
    return 1;
  }
  if (extract) return extractNamed(args, src, p, o.rest);
  out(`New volume on ${src}:\nCluster size is 51200 bytes (100 blocks).\nThe volume number is 1.\nThe backup date is: Mon Jan  1 00:00:00 UTC 2024\nFiles are backed up by name.\nThe user is ${p.volume?.user ?? 'root'}.\n`);
  for (const e of p.entries) out(`${String(e.size).padStart(12)} ${e.name}\n`);
  out(`The total size is ${p.entries.reduce((s, e) => s + e.size, 0)} bytes.\nThe number of archived files is ${p.entries.length}.\n`);
  log('restore', args, 0, { source: src, files: p.entries.length, tape: lastTape });
  return 0;
}

/** restore -x NAME ...: the named files written below the current folder, as restore puts them (`./a/b` → `a/b`). */
function extractNamed(args: string[], src: string, p: BffParser, names: string[]): number {
  const missing = names.filter((n) => !p.captured.has(n));
  for (const [name, data] of p.captured) {
    const to = path.join(process.cwd(), name);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.writeFileSync(to, data);
    out(`x ${name}\n`);
  }
  if (missing.length) {
    err(missing.map((n) => `restore: 0511-xxx ${n} is not on the volume.\n`).join(''));
    log('restore', args, 1, { source: src, missing });
    return 1;
  }
  log('restore', args, 0, { source: src, extracted: names, tape: lastTape });
  return 0;
}

