/**
 * The cartridges of a lab drive: a library of AWSTAPE files beside the drive, at most one of them loaded, and an
 * optional sequential autoloader whose magazine loads the next blank cartridge some seconds after an unload.
 * Everything is kept in the drive's state file (drive-state.ts) so that one atomic rename changes drive and library
 * together; the loaded cartridge's recorded state lives in the drive's own fields, the others' in `library`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DriveState } from './drive-state';

/** A cartridge out of the drive, as it was when it came out (the loaded one is in the drive's fields). */
export interface Cartridge {
  name: string;
  /** Its AWSTAPE file, a name in the drive's folder. */
  file: string;
  capacityBytes: number;
  marks: number[];
  size: number;
  lastLen: number;
  eom: boolean;
}

export interface Autoloader {
  /** Cartridges still in the magazine, in the order it loads them. */
  magazine: string[];
  loadSeconds: number;
  /** When the next one is in the drive (ms since the epoch); set by an unload while the magazine holds one. */
  dueAt?: number;
}

/** What `Lab.cartridges` lists. */
export interface CartridgeInfo {
  name: string;
  aws: string;
  capacityBytes: number;
  /** AWS bytes recorded on it (data, block headers and filemarks). */
  bytes: number;
  loaded: boolean;
}

export const CARTRIDGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const loadedName = (st: DriveState): string => st.cartridge ?? st.device;
const loadedFile = (st: DriveState): string => st.file ?? `${st.device}.aws`;

/** The cartridge in the drive as a library record; undefined when the drive is empty. */
function inDrive(st: DriveState): Cartridge | undefined {
  if (!st.loaded) return undefined;
  const { capacityBytes, marks, size, lastLen, eom } = st;
  return { name: loadedName(st), file: loadedFile(st), capacityBytes, marks, size, lastLen, eom };
}

/** Where a name sorts: the drive's own cartridge, then DEVICE-2, DEVICE-3, ... by number, then other names. */
function order(device: string, name: string): [number, string] {
  if (name === device) return [0, ''];
  const m = new RegExp(`^${device}-(\\d+)$`).exec(name);
  return m ? [Number(m[1]), ''] : [Infinity, name];
}

/** Every cartridge of the drive in a stable order (the one the lab started with first, then as they were made). */
export function allCartridges(st: DriveState): Array<Cartridge & { loaded: boolean }> {
  const d = inDrive(st);
  const all = [...(d ? [{ ...d, loaded: true }] : []), ...(st.library ?? []).map((c) => ({ ...c, loaded: false }))];
  return all.sort((a, b) => {
    const [x, y] = [order(st.device, a.name), order(st.device, b.name)];
    return x[0] - y[0] || (x[0] === Infinity ? x[1].localeCompare(y[1]) : 0);
  });
}

export function describeCartridges(tapeDir: string, st: DriveState): CartridgeInfo[] {
  return allCartridges(st).map((c) => ({ name: c.name, aws: path.join(tapeDir, c.file), capacityBytes: c.capacityBytes, bytes: c.size, loaded: c.loaded }));
}

/** Puts `c` in the drive at the beginning of the tape. */
function insert(st: DriveState, c: Cartridge): void {
  Object.assign(st, { capacityBytes: c.capacityBytes, marks: c.marks, size: c.size, lastLen: c.lastLen, eom: c.eom });
  st.cartridge = c.name;
  st.file = c.file;
  st.offset = 0;
  st.loaded = true;
}

/**
 * Takes the cartridge out of the drive into the library (tctl offline, mt offline|rewoffl|eject). An autoloader with
 * cartridges left in its magazine then starts loading the next one.
 */
export function unloadCartridge(st: DriveState, now: number): void {
  const c = inDrive(st);
  if (!c) return;
  st.library = [...(st.library ?? []), c];
  st.loaded = false;
  st.offset = 0;
  const a = st.autoloader;
  if (a && a.magazine.length) a.dueAt = now + a.loadSeconds * 1000;
}

/** Loads the library's cartridge `name` (an operator's hand: the one in the drive goes back to the library first). */
export function loadCartridge(st: DriveState, name: string): void {
  if (st.loaded && loadedName(st) === name) {
    st.offset = 0;
    return;
  }
  const c = (st.library ?? []).find((x) => x.name === name);
  if (!c) throw new Error(`lab: ${st.device} has no cartridge named "${name}" (cartridges: ${allCartridges(st).map((x) => x.name).join(', ')})`);
  const out = inDrive(st);
  st.library = [...(st.library ?? []).filter((x) => x !== c), ...(out ? [out] : [])];
  if (st.autoloader) {
    st.autoloader.magazine = st.autoloader.magazine.filter((m) => m !== name);
    delete st.autoloader.dueAt;
  }
  insert(st, c);
}

/** The next free automatic name: DEVICE-2, DEVICE-3, ... (the cartridge the lab started with is DEVICE). */
function nextName(st: DriveState): string {
  const taken = new Set(allCartridges(st).map((c) => c.name));
  let n = 2;
  while (taken.has(`${st.device}-${n}`)) n++;
  return `${st.device}-${n}`;
}

/** A blank cartridge in the library (its AWSTAPE file made empty in `tapeDir`); returns its name. */
export function newCartridge(tapeDir: string, st: DriveState, capacityBytes: number, name = nextName(st)): string {
  if (!CARTRIDGE_NAME.test(name)) throw new Error(`lab: bad cartridge name "${name}"`);
  if (allCartridges(st).some((c) => c.name === name)) throw new Error(`lab: ${st.device} already has a cartridge named "${name}"`);
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) throw new Error(`lab: a cartridge's capacity must be a whole number of bytes above 0 (${capacityBytes})`);
  const file = `${name}.aws`;
  fs.writeFileSync(path.join(tapeDir, file), '');
  st.library = [...(st.library ?? []), { name, file, capacityBytes, marks: [], size: 0, lastLen: 0, eom: false }];
  return name;
}

/** Sets a cartridge's capacity (lab only: a real cartridge's is fixed), wherever it is. */
export function setCapacity(st: DriveState, name: string, capacityBytes: number): void {
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) throw new Error(`lab: a cartridge's capacity must be a whole number of bytes above 0 (${capacityBytes})`);
  if (st.loaded && loadedName(st) === name) st.capacityBytes = capacityBytes;
  else {
    const c = (st.library ?? []).find((x) => x.name === name);
    if (!c) throw new Error(`lab: ${st.device} has no cartridge named "${name}"`);
    c.capacityBytes = capacityBytes;
  }
}

/**
 * A sequential autoloader with a magazine of `cartridges` new blank cartridges (replacing any earlier magazine; the
 * cartridges of an earlier one stay in the library). An empty drive starts loading the first one at once.
 */
export function configureAutoloader(
  tapeDir: string,
  st: DriveState,
  opts: { cartridges: number; capacityBytes: number; loadSeconds: number },
  now: number,
): string[] {
  if (!Number.isSafeInteger(opts.cartridges) || opts.cartridges < 0) throw new Error('lab: an autoloader holds a whole number of cartridges');
  if (!(opts.loadSeconds >= 0)) throw new Error('lab: an autoloader loads in 0 seconds or more');
  const magazine = Array.from({ length: opts.cartridges }, () => newCartridge(tapeDir, st, opts.capacityBytes));
  st.autoloader = { magazine, loadSeconds: opts.loadSeconds };
  if (!st.loaded && magazine.length) st.autoloader.dueAt = now + opts.loadSeconds * 1000;
  return magazine;
}

/** The drive as it is at `now`: once an autoloader's delay has passed, its next cartridge is in the drive. */
export function settleAutoloader(st: DriveState, now: number): DriveState {
  const a = st.autoloader;
  if (st.loaded || !a || a.dueAt === undefined || now < a.dueAt) return st;
  const next = a.magazine[0];
  if (next === undefined) delete a.dueAt;
  else loadCartridge(st, next);
  return st;
}
