/** AIX tctl, chdev, lsattr, lsdev and Linux mt over the tape emulator. */
import * as fs from 'node:fs';
import { Drive, TapeError, awsPath, openDevice, parseDevice, readState, writeState, type DriveState } from '../tape';
import { unloadCartridge } from '../cartridges';
import { config, err, errnoText, Exit, log, noTape, out, tapePaths } from './common';

const ATTRS: Array<[string, string, string]> = [
  ['block_size', '1024', 'BLOCK size (0=variable length)'],
  ['compress', 'yes', 'Use data COMPRESSION'],
  ['delay', '45', 'Set delay after a FAILED command'],
  ['density_set_1', '0', 'DENSITY setting #1'],
  ['density_set_2', '0', 'DENSITY setting #2'],
  ['extfm', 'no', 'Use EXTENDED file marks'],
  ['mode', 'yes', 'Use DEVICE BUFFERS during writes'],
  ['ret', 'no', 'RETENSION on tape change or reset'],
  ['ret_error', 'no', 'RETURN error on tape change or reset'],
  ['rwtimeout', '144', 'Set timeout for the READ or WRITE command'],
  ['size_in_mb', '0', 'Size in Megabytes'],
];

function attrValue(st: DriveState, name: string, def: string): string {
  if (name === 'block_size') return String(st.blockSize);
  if (name === 'extfm') return st.extfm ? 'yes' : 'no';
  if (name === 'size_in_mb') return String(Math.floor(st.capacityBytes / 1e6));
  return st.attrs[name] ?? def;
}

/** Runs `fn` with the drive open; `busy` answers instead when another command has it open (EBUSY). */
function withDrive<T>(drive: string, fn: (p: ReturnType<typeof tapePaths>) => T, busy: () => T): T {
  const p = tapePaths(drive);
  let unlock: () => void;
  try {
    unlock = openDevice(p.lock);
  } catch (e) {
    if (e instanceof TapeError && e.errno === 'EBUSY') return busy();
    throw e;
  }
  try {
    return fn(p);
  } finally {
    unlock();
  }
}

/** getopt(3)-style parsing: combined flags (-El rmt0), flags with values; unknown flags throw. */
export function getopt(args: string[], noArg: string, withArg: string, each?: (f: string, v: string) => void): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-') || a === '-') continue;
    for (let j = 1; j < a.length; j++) {
      const f = a[j]!;
      if (noArg.includes(f)) {
        m.set(f, '');
        each?.(f, '');
      } else if (withArg.includes(f)) {
        const v = a.slice(j + 1) || args[++i] || '';
        m.set(f, v);
        each?.(f, v);
        break;
      } else throw new Error(`Not a recognized flag: ${f}`);
    }
  }
  return m;
}

function knownDrive(name: string): boolean {
  return !!config().devices[name];
}

function location(drive: string): string {
  return `00-08-00-${drive.replace(/\D/g, '')},0`;
}

export function lsdev(args: string[]): number {
  const a = args.join(' ');
  if (!/-C/.test(a)) {
    err('lsdev: lab supports only lsdev -C [-c tape] [-l NAME]\n');
    return 1;
  }
  const cls = /-c\s*(\S+)/.exec(a)?.[1];
  const only = /-l\s*(\S+)/.exec(a)?.[1];
  for (const d of Object.keys(config().devices)) {
    if (cls && cls !== 'tape') continue;
    if (only && only !== d) continue;
    out(`${d} Available ${location(d)} LTO Ultrium Tape Drive (FCP)\n`);
  }
  log('lsdev', args, 0);
  return 0;
}

export function lsattr(args: string[]): number {
  let o = new Map<string, string>();
  try {
    o = getopt(args, 'EDRHO', 'lac');
  } catch {
    o.clear();
  }
  const dev = o.get('l');
  if (!dev || !o.has('E')) {
    err('Usage: lsattr -E -l Name [-a Attribute] ...\n');
    log('lsattr', args, 2);
    return 2;
  }
  if (!knownDrive(dev)) {
    err(`lsattr: 0514-519 The following device was not found in the customized\n\tdevice configuration database:\n\t${dev}\n`);
    log('lsattr', args, 1);
    return 1;
  }
  const onlyAttr = o.get('a');
  const st = readState(tapePaths(dev));
  for (const [name, def, desc] of ATTRS) {
    if (onlyAttr && onlyAttr !== name) continue;
    out(`${name.padEnd(14)}${attrValue(st, name, def).padEnd(6)}${desc.padEnd(40)}True\n`);
  }
  log('lsattr', args, 0);
  return 0;
}

export function chdev(args: string[]): number {
  let dev: string | undefined;
  const sets: Array<[string, string]> = [];
  try {
    getopt(args, 'PTU', 'la', (f, v) => {
      if (f === 'l') dev = v;
      else for (const kv of v.split(/\s+/).filter(Boolean)) {
        const eq = kv.indexOf('=');
        sets.push([kv.slice(0, eq), kv.slice(eq + 1)]);
      }
    });
  } catch {
    dev = undefined;
  }
  if (!dev || !sets.length) {
    err('Usage: chdev -l Name [-a Attribute=Value ...] [-P | -T] [-U]\n');
    log('chdev', args, 2);
    return 2;
  }
  if (!knownDrive(dev)) {
    err(`chdev: 0514-519 The following device was not found in the customized\n\tdevice configuration database:\n\t${dev}\n`);
    log('chdev', args, 1);
    return 1;
  }
  const bad = sets.filter(([k, v]) => {
    if (k === 'block_size') return !/^\d+$/.test(v) || Number(v) > 16 * 1024 * 1024;
    if (k === 'extfm' || k === 'compress' || k === 'mode' || k === 'ret' || k === 'ret_error') return v !== 'yes' && v !== 'no';
    return !ATTRS.some(([n]) => n === k);
  });
  if (bad.length) {
    err(`Method error (/usr/lib/methods/chggen):\n\t0514-018 The values specified for the following attributes\n\t\t are not valid:\n${bad.map(([k, v]) => `\t${k}\t${v}\n`).join('')}`);
    log('chdev', args, 1);
    return 1;
  }
  return withDrive(dev, (p) => {
    const st = readState(p);
    for (const [k, v] of sets) {
      if (k === 'block_size') st.blockSize = Number(v);
      else if (k === 'extfm') st.extfm = v === 'yes';
      else st.attrs[k] = v;
    }
    // Changing a tape device's attributes reconfigures it, which rewinds the tape.
    st.offset = 0;
    writeState(p, st);
    out(`${dev} changed\n`);
    log('chdev', args, 0, { device: dev, blockSize: st.blockSize, extfm: st.extfm, position: { file: 1, offset: 0, atBOT: true } });
    return 0;
  }, () => {
    err('Method error (/usr/lib/methods/chggen):\n\t0514-062 Cannot perform the requested function because the\n\t\t specified device is busy.\n');
    log('chdev', args, 1, { device: dev, error: 'EBUSY' });
    return 1;
  });
}

function positioningOp(
  tool: 'tctl' | 'mt',
  devPath: string,
  cmd: string,
  count: number,
  args: string[],
): number {
  const os = config().os;
  const dev = parseDevice(devPath);
  const failCode = tool === 'mt' ? 2 : 1;
  const fail = (msg: string, extra: Record<string, unknown> = {}): never => {
    err(msg);
    log(tool, args, failCode, extra);
    throw new Exit(failCode, { logged: true });
  };
  if (!dev || dev.os !== os || !config().devices[dev.drive]) {
    fail(tool === 'tctl' ? `tctl: ${devPath}: ${errnoText('ENOENT', os)}\n` : `${tool}: ${devPath}: ${errnoText('ENOENT', os)}\n`);
  }
  const d = dev!;
  return withDrive(d.drive, (p) => {
    if (noTape(d.drive) || !readState(p).loaded) {
      if (tool === 'mt' && cmd === 'status') {
        // mt-st opens the drive with O_NONBLOCK for status: it succeeds and reports the door open.
        out(
          'SCSI 2 tape drive:\nFile number=-1, block number=-1, partition=0.\nTape block size 0 bytes. Density code 0x0 (default).\n' +
            'Soft error count since last status=0\nGeneral status bits on (50000):\n DR_OPEN IM_REP_EN\n',
        );
        log(tool, args, 0, { device: d.drive, op: cmd, loaded: false });
        return 0;
      }
      fail(`${devPath}: ${errnoText('ENOTREADY', os)}\n`, { device: d.drive, error: 'ENOTREADY' });
    }
    const drive = new Drive(p, d.rewindOnClose);
    const before = drive.position();
    try {
      switch (cmd) {
        case 'rewind':
          drive.rewind();
          break;
        case 'fsf':
          drive.fsf(count);
          break;
        case 'bsf':
          drive.bsf(count);
          break;
        case 'weof':
        case 'eof':
          drive.writeMarks(count);
          break;
        case 'eod':
        case 'seod':
          drive.eod();
          break;
        case 'retension':
          drive.rewind();
          break;
        case 'erase':
          drive.rewind();
          drive.st.size = 0;
          drive.st.marks = [];
          drive.st.lastLen = 0;
          fs.truncateSync(awsPath(p, drive.st), 0);
          drive.save();
          break;
        case 'offline':
        case 'rewoffl':
        case 'eject':
          drive.rewind();
          unloadCartridge(drive.st, Date.now());
          drive.save();
          break;
        case 'setblk':
          drive.st.blockSize = count;
          drive.save();
          break;
        case 'status':
          status(tool, d.drive, drive);
          break;
        default:
          fail(tool === 'tctl' ? `tctl: 0511-579 ${cmd} is not a valid subcommand.\n` : `mt: unknown command "${cmd}"\n`);
      }
    } catch (e) {
      if (!(e instanceof TapeError)) throw e;
      drive.close();
      fail(tool === 'tctl' ? `tctl: ${devPath}: ${errnoText(e.errno, os)}\n` : `${devPath}: ${errnoText(e.errno, os)}\n`, {
        device: d.drive,
        error: e.errno,
        position: drive.position(),
      });
    }
    drive.close();
    log(tool, args, 0, { device: d.drive, op: cmd, count, before, position: drive.position() });
    return 0;
  }, () =>
    fail(tool === 'tctl' ? `tctl: ${devPath}: ${errnoText('EBUSY', os)}\n` : `${devPath}: ${errnoText('EBUSY', os)}\n`, { device: d.drive, error: 'EBUSY' }),
  );
}

function status(tool: 'tctl' | 'mt', name: string, drive: Drive): void {
  const st = drive.st;
  if (tool === 'tctl') {
    out(`${name} Available ${location(name)} LTO Ultrium Tape Drive (FCP)\nattribute     value  description                             user_settable\n\n`);
    for (const [n, def, desc] of ATTRS) out(`${n.padEnd(14)}${attrValue(st, n, def).padEnd(7)}${desc.padEnd(40)}True\n`);
    return;
  }
  const pos = drive.position();
  const atFileStart = pos.offset === 0 || st.marks.includes(pos.offset - 6);
  out(
    `SCSI 2 tape drive:\nFile number=${pos.file - 1}, block number=${atFileStart ? 0 : -1}, partition=0.\n` +
      `Tape block size ${st.blockSize} bytes. Density code 0x58 (LTO-5).\nSoft error count since last status=0\n` +
      `General status bits on (${pos.atBOT ? '41010000' : '81010000'}):\n ${pos.atBOT ? 'BOT' : 'EOF'} ONLINE IM_REP_EN\n`,
  );
}

export function tctl(args: string[]): number {
  let dev = process.env.TAPE ?? '/dev/rmt0';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-f') dev = args[++i] ?? '';
    else if (a.startsWith('-f')) dev = a.slice(2);
    else if (a === '-b' || a === '-p') i++;
    else if (a === '-n' || a === '-v') continue;
    else rest.push(a);
  }
  const [cmd, n] = rest;
  if (!cmd) {
    err('Usage: tctl [-f Device] [-b Blocksize] [-n] [-p Buffsize] [-v] Subcommand [Count]\n');
    log('tctl', args, 1);
    return 1;
  }
  const count = n === undefined ? 1 : Number(n);
  if (!Number.isInteger(count) || count < 0) {
    err(`tctl: 0511-580 ${n} is not a valid count.\n`);
    log('tctl', args, 1);
    return 1;
  }
  const c = cmd === 'rewoffl' ? 'offline' : cmd;
  if (!['rewind', 'fsf', 'bsf', 'weof', 'eof', 'status', 'offline', 'retension', 'erase'].includes(c)) {
    err(`tctl: 0511-579 ${cmd} is not a valid subcommand.\n`);
    log('tctl', args, 1);
    return 1;
  }
  return positioningOp('tctl', dev, c, count, args);
}

export function mt(args: string[]): number {
  let dev = process.env.TAPE ?? '/dev/nst0';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-f' || a === '-t') dev = args[++i] ?? '';
    else rest.push(a);
  }
  const [cmd, n] = rest;
  const valid = ['rewind', 'fsf', 'bsf', 'weof', 'eof', 'setblk', 'eod', 'seod', 'status', 'offline', 'rewoffl', 'eject', 'erase', 'retension'];
  if (!cmd || !valid.includes(cmd)) {
    err(`mt: ${cmd ? `unrecognized command "${cmd}"` : 'no command given'}\n`);
    log('mt', args, 1);
    return 1;
  }
  const count = n === undefined ? (cmd === 'setblk' ? NaN : 1) : Number(n);
  if (!Number.isInteger(count) || count < 0) {
    err(`mt: invalid count "${n ?? ''}"\n`);
    log('mt', args, 1);
    return 1;
  }
  return positioningOp('mt', dev, cmd, count, args);
}
