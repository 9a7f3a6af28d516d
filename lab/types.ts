/** The lab's shapes: what `startLab` takes, the hosts it makes, and the Lab handle tests and the CLI hold. */
import type { Fault } from './faults';
import type { DriveState } from './drive-state';
import type { Autoloader, CartridgeInfo } from './cartridges';
import type { HostOs } from '../src/schema/tape-rules';

export interface LabOptions {
  dir?: string;
  sources?: number | string[];
  tapeHosts?: Array<{ name: string; os: HostOs; drives?: number; capacityBytes?: number }>;
  mksysbBytes?: number;
  mksysbBytesPerSecond?: number;
  bootImageBytes?: number;
  /** Keep the hosts running after this process exits (the CLI's `up`). Otherwise they are killed when it exits. */
  detach?: boolean;
  /** The AIX hosts' shell: root's login shell, `sh` on the PATH and `/bin/sh` (default `lksh`; see AIX_SHELLS). */
  shell?: AixShell;
}

/**
 * Shells an AIX host of the lab can run command lines under. AIX runs an SSH command line under root's login shell,
 * ksh88, and its /usr/bin/sh is a Korn shell too (AIX-TAPE.md, "AIX userland"); `lksh` (mksh's legacy mode, a pdksh
 * descendant) is the nearest Debian has, so it is the default. `ksh93` and `dash` catch what other dialects refuse.
 */
export const AIX_SHELLS = ['lksh', 'dash', 'ksh93'] as const;
export type AixShell = (typeof AIX_SHELLS)[number];

export interface LabHost {
  name: string;
  address: '127.0.0.1';
  port: number;
  user: string;
  privateKeyPath: string;
  knownHostsLine: string;
  hostKey: string;
  os: HostOs;
  /** root's login shell in the host's tree (the shell sshd runs command lines under). */
  loginShell: string;
  role: 'source' | 'tape';
  workFolder: string;
  root: string;
  commandLog: string;
  devices?: Record<string, { aws: string; capacityBytes: number }>;
}

export interface CommandLogEntry {
  time: string;
  command: string;
  args: string[];
  exit: number;
  [k: string]: unknown;
}

/** Per-host settings of the doubles (the host reads them from /var/lab/config.json). */
export interface HostConfig {
  seed?: string;
  mksysbBytes?: number;
  mksysbBytesPerSecond?: number;
  bootImageBytes?: number;
  /** Free space every filesystem of the host reports in `df -k`; mksysb fails with ENOSPC beyond it. */
  freeBytes?: number;
  /**
   * Tape writes on this host run no faster than this many bytes per second (default: as fast as the disk), and never
   * faster to make up for input that came late: each time the drive ran dry and stopped, the write's command-log
   * entry counts an underrun (`tape.underruns`: the stops and starts a real drive shoe-shines with).
   */
  tapeBytesPerSecond?: number;
  /**
   * What mkinsttape archives as ./tapeblksz whatever /tapeblksz holds (a source whose install image records another
   * block size for record 4 than the one it is written with); "" leaves ./tapeblksz out.
   */
  tapeblkszOverride?: string;
  /** Every SSH session prints a login banner on stdout and stderr before its command (lab/banner.ts). */
  banner?: boolean;
}

export interface Lab {
  dir: string;
  hosts: LabHost[];
  inventoryPath: string;
  host(name: string): LabHost;
  fault(host: string, spec: string): Promise<void>;
  clearFaults(host?: string): Promise<void>;
  commandLog(host: string): Promise<CommandLogEntry[]>;
  exec(host: string, command: string, opts?: { stdin?: Buffer | string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  down(): Promise<void>;
  /** Extras beyond the contract. */
  faults(host: string): Fault[];
  setHostConfig(host: string, cfg: HostConfig): Promise<void>;
  /** The drive and its loaded cartridge (`cartridge` names it; `loaded: false` when the drive is empty). */
  tapeState(host: string, device: string): DriveState;
  /**
   * Loads a cartridge as an operator does, at the beginning of its tape, putting the one in the drive back in the
   * library: the library's cartridge `name`, or else a new blank one (named `name`, or DEVICE-2, DEVICE-3, ...) of
   * `capacityBytes` (default: the drive's). `capacityBytes` with an existing cartridge changes its capacity (lab only).
   * Returns the cartridge's name and AWSTAPE file.
   */
  load(host: string, device: string, opts?: LoadOptions): { name: string; aws: string };
  /** Takes the cartridge out as `tctl offline` does (an autoloader then loads its next one); an empty drive stays so. */
  unload(host: string, device: string): void;
  /** Every cartridge of the drive: the one the lab started with, then DEVICE-2, DEVICE-3, ..., then other names. */
  cartridges(host: string, device: string): CartridgeInfo[];
  /**
   * Gives the drive a sequential autoloader holding `cartridges` new blank cartridges: after each unload (tctl or mt
   * offline) the next one is in the drive `loadSeconds` later; before that the drive is not ready. An empty drive
   * starts loading the first at once. `cartridges: 0` is an empty magazine: nothing loads.
   */
  setAutoloader(host: string, device: string, opts: AutoloaderOptions): { magazine: string[] };
  autoloader(host: string, device: string): Autoloader | undefined;
  /** ssh(1) arguments for a host: `spawn('ssh', [...lab.sshArgs(h), 'cmd'])`. */
  sshArgs(host: string): string[];
  alive(): boolean[];
  /**
   * Lets `tapeHost` log in to `source` with its own OpenSSH client, as at a site where the two trust each other: a key
   * pair in the tape host's tree (`/root/.ssh/id_pull_SOURCE`) whose public half the source accepts, the source's host
   * key in the tape host's `/root/.ssh/known_hosts`, and (unless `inventory: false`) `pullFrom` for the pair in the
   * lab's inventory, so that the worker moves the images between them directly. Running it again changes nothing.
   */
  trust(tapeHost: string, source: string, opts?: { inventory?: boolean }): LabTrust;
  /** Undoes `trust`: the pair's `pullFrom` entry leaves the inventory and the source no longer accepts the key. */
  untrust(tapeHost: string, source: string): void;
}

/** What `trust` set up, as the tape host sees it. */
export interface LabTrust {
  /** The private key in the tape host's tree that the source accepts. */
  identityFile: string;
  /** The tape host's known_hosts file, holding the source's host key. */
  knownHostsFile: string;
  /** Options for ssh(1) and scp(1) run on the tape host: no config file, that key only, the pinned host key, no prompts. */
  options: string[];
  /** The source's sshd port (`ssh -p`, `scp -P`) and login (`root@127.0.0.1`). */
  port: number;
  login: string;
}

export interface LoadOptions {
  name?: string;
  capacityBytes?: number;
}

export interface AutoloaderOptions {
  cartridges: number;
  capacityBytes?: number;
  /** Seconds from an unload to the next cartridge being ready (default DEFAULT_LOAD_SECONDS). */
  loadSeconds?: number;
}

export const DEFAULT_LOAD_SECONDS = 1;

/** A running lab as `lab.json` in its folder records it, so that `attachLab` (another process) can take it over. */
export interface LabFile {
  dir: string;
  removeOnDown: boolean;
  hosts: LabHost[];
  pids: Record<string, number>;
  inventoryPath: string;
}

export const WORK_FOLDER = '/home/mksysb';
export const DEFAULT_CAPACITY = 4 * 1024 * 1024 * 1024;
