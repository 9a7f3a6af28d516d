/**
 * Reading a backup archive from a tape device as AIX's restbyname does (restore, lsmksysb), across volumes: when a
 * volume ends (filemark or end of data) before FS_END and the archive's volume header says more may follow (numwds
 * 0x7FFFFFFF), it asks for the next volume and reads the answer from /dev/tty, checks that the new cartridge starts
 * with a valid FS_VOLUME header of the expected number, and reads on after it (AIX-TAPE.md, "Backups larger than one
 * cartridge", Reading).
 *
 * LAB_RESTORE_VOLUMES=NAME2,NAME3 (lab only) stands in for the operator: at each question the next named cartridge of
 * the drive is loaded, as if mounted by hand and Enter pressed.
 */
import * as fs from 'node:fs';
import { BffParser, NUMWDS_TAPE, VOLUME_HEADER_BYTES, volumeNumber } from '../bff';
import { loadCartridge } from '../cartridges';
import { Drive, TapeError, openDevice, parseDevice, readState, writeState, type DevicePaths, type DeviceName } from '../tape';
import { config, err, errnoText, noTape, tapePaths } from './common';

/** A failure with restore's own words (already complete lines). */
export class VolumeError extends Error {}

class WrongVolume extends Error {}

export interface TapeRead {
  parser: BffParser;
  /** For the command log: device, position at the end, the volumes read and the cartridges they were on. */
  tape: Record<string, unknown>;
}

function readSizeFor(d: Drive): number {
  const bs = d.st.blockSize;
  return bs > 0 ? bs * Math.max(1, Math.floor((1 << 20) / bs)) : 16 << 20;
}

/**
 * Reads one volume into the parser from where `position` leaves the tape, to its filemark or its end of data.
 * `expect`: a continuation volume, whose first 72 bytes must be the FS_VOLUME header numbered so; they are not part
 * of the archive stream. Throws WrongVolume when they are not.
 */
function readVolume(paths: DevicePaths, dev: DeviceName, p: BffParser, position: (d: Drive) => void, expect?: number): Drive {
  const drive = new Drive(paths, dev.rewindOnClose);
  let head: Buffer | undefined = expect === undefined ? undefined : Buffer.alloc(0);
  let got = 0;
  try {
    position(drive);
    drive.read(readSizeFor(drive), Infinity, (d) => {
      got += d.length;
      if (!head) return p.push(d);
      head = Buffer.concat([head, d]);
      if (head.length < VOLUME_HEADER_BYTES) return;
      if (volumeNumber(head) !== expect) throw new WrongVolume();
      const rest = head.subarray(VOLUME_HEADER_BYTES);
      head = undefined;
      if (rest.length) p.push(rest);
    });
  } catch (e) {
    // The end of the recorded data ends a volume as a filemark does (a zero-length read); a blank cartridge offered
    // as a continuation is not the volume asked for, but as the first one it is the read error it always was.
    const endOfData = e instanceof TapeError && e.errno === 'EIO' && drive.st.offset >= drive.st.size;
    if (!endOfData || (got === 0 && expect === undefined)) {
      drive.close();
      throw e;
    }
  }
  drive.close();
  if (head) throw new WrongVolume();
  return drive;
}

/** The operator's answer to "Mount volume N": the next LAB_RESTORE_VOLUMES cartridge loaded, or Enter on /dev/tty. */
function answer(paths: DevicePaths, drive: string, names: string[] | undefined, relock: () => void, release: () => void): void {
  if (names) {
    const name = names.shift();
    if (name === undefined) throw new VolumeError('restore: 0511-xxx There is no answer to the mount request.\n(lab: LAB_RESTORE_VOLUMES names no more cartridges)\n');
    const st = readState(paths);
    try {
      loadCartridge(st, name);
    } catch (e) {
      throw new VolumeError(`restore: 0511-xxx (lab: LAB_RESTORE_VOLUMES: ${(e as Error).message})\n`);
    }
    writeState(paths, st);
    return;
  }
  let fd: number;
  try {
    fd = fs.openSync('/dev/tty', 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ENXIO';
    throw new VolumeError(`restore: 0511-xxx Cannot open /dev/tty to read the answer: ${errnoText(code === 'ENOENT' ? 'ENOENT' : 'ENXIO', 'aix')}\n(lab: there is no terminal to answer on, so the volumes after this one of ${drive} cannot be read; in tests LAB_RESTORE_VOLUMES=NAME,... answers)\n`);
  }
  // The operator changes the cartridge meanwhile: the drive is closed while restore waits for Enter.
  release();
  try {
    const b = Buffer.alloc(1);
    while (fs.readSync(fd, b, 0, 1, null) === 1 && b[0] !== 0x0a);
  } finally {
    fs.closeSync(fd);
    relock();
  }
}

/**
 * Reads the archive that begins where `position` leaves the tape in `src`, following its volumes. Throws TapeError
 * (device problems), BffError (from the parser's end()) or VolumeError.
 */
export function scanTape(src: string, position: (d: Drive) => void): TapeRead {
  const dev = parseDevice(src)!;
  if (dev.os !== config().os || !config().devices[dev.drive]) throw new TapeError('ENXIO');
  const paths = tapePaths(dev.drive);
  let unlock: (() => void) | undefined = openDevice(paths.lock);
  const names = process.env.LAB_RESTORE_VOLUMES?.split(',').filter(Boolean);
  const p = new BffParser();
  const cartridges: string[] = [];
  let drive: Drive;
  let volnum = 1;
  const ready = (): void => {
    if (noTape(dev.drive) || !readState(paths).loaded) throw new TapeError('ENOTREADY');
  };
  try {
    ready();
    cartridges.push(readState(paths).cartridge ?? dev.drive);
    drive = readVolume(paths, dev, p, position);
    while (!p.ended && p.volume?.numwds === NUMWDS_TAPE) {
      volnum++;
      for (;;) {
        err(`Mount volume ${volnum} on ${src}.\n`);
        answer(paths, dev.drive, names, () => (unlock = openDevice(paths.lock)), () => {
          unlock?.();
          unlock = undefined;
        });
        try {
          ready();
          drive = readVolume(paths, dev, p, (d) => d.rewind(), volnum);
          cartridges.push(readState(paths).cartridge ?? dev.drive);
          break;
        } catch (e) {
          if (e instanceof WrongVolume) err(`restore: 0511-103 The volume is not correct. Restore expects volume ${volnum}.\n`);
          else if (e instanceof TapeError && e.errno === 'ENOTREADY') err(`restore: ${src}: ${errnoText('ENOTREADY', 'aix')}\n`);
          else throw e;
        }
      }
    }
  } finally {
    unlock?.();
  }
  p.end();
  return { parser: p, tape: { device: dev.drive, position: drive.position(), volumes: volnum, cartridges } };
}
