/**
 * The options of a backup and of a fleet, as `start`, `schedule create|update` and `fleet start` take them, and the
 * workflow inputs they make. Bad usage is refused here (exit 2), before anything connects.
 */
import * as fs from 'node:fs';
import { Option, type Command } from 'commander';
import { MKSYSB_FLAGS, VERIFY_LEVELS } from '../../schema';
import type { BackupInput } from '../../shared/contract';
import type { Drive } from '../../shared/drive';
import type { FleetInput } from '../../shared/fleet';
import { validateBackupInput } from '../backups';
import { CliExit, EXIT, intArg } from './context';

export interface InputOpts {
  input?: string;
  source?: string;
  tape?: string;
  backupId?: string;
  mksysbFlags?: string;
  record4BlockSize?: string;
  verify?: string;
  overwrite?: boolean;
  keepStaging?: boolean;
  maxAttempts?: string;
  maxVolumes?: string;
  writeWhileMksysb?: boolean;
  waitHours?: string;
  bootDevice?: string;
}

const numberish = (v: string): number | string => (/^\d+(\.\d+)?$/.test(v) ? Number(v) : v);

/** The workflow input from `--input` (JSON, or @file) overlaid with the individual flags. */
export function inputFromOptions(o: InputOpts): BackupInput {
  const example = '{"source":"aix01","tape":{"host":"tapesrv","device":"rmt0"}}';
  const base: Record<string, unknown> = o.input !== undefined ? jsonObjectArg('--input', o.input, example) : {};
  if (o.source !== undefined) base.source = o.source;
  if (o.tape !== undefined) base.tape = parseDrive('--tape', o.tape);
  if (o.backupId !== undefined) base.backupId = o.backupId;
  overlayBackupFlags(base, o);
  if (base.source === undefined && base.tape === undefined) {
    throw new CliExit(EXIT.usage, 'say what to back up: --source HOST --tape HOST:DEVICE (inventory names), or --input JSON');
  }
  return base as BackupInput;
}

/** HOST:DEVICE (inventory names) as a drive. */
function parseDrive(flag: string, v: string): Drive {
  const i = v.lastIndexOf(':');
  if (i <= 0 || i === v.length - 1) throw new CliExit(EXIT.usage, `${flag} must be HOST:DEVICE such as tapesrv:rmt0 (got "${v}")`);
  return { host: v.slice(0, i), device: v.slice(i + 1) };
}

/** The per-backup flags (--mksysb-flags, --verify, --overwrite, ...) written into a backup input or a fleet's backupInput. */
function overlayBackupFlags(base: Record<string, unknown>, o: InputOpts): void {
  if (o.mksysbFlags !== undefined) {
    base.mksysbFlags = o.mksysbFlags
      .split(/[,\s]+/)
      .filter(Boolean)
      .map((f) => (f.startsWith('-') ? f : `-${f}`));
  }
  if (o.record4BlockSize !== undefined) base.record4BlockSize = numberish(o.record4BlockSize);
  if (o.verify !== undefined) base.verify = o.verify;
  if (o.overwrite) base.overwrite = true;
  if (o.keepStaging) base.keepStaging = true;
  if (o.bootDevice !== undefined) base.bootDevice = o.bootDevice;
  if (o.waitHours !== undefined) base.operatorWaitHours = numberish(o.waitHours);
  if (o.maxAttempts !== undefined) base.retry = { ...((base.retry as object) ?? {}), maxAttempts: numberish(o.maxAttempts) };
  if (o.maxVolumes !== undefined) base.maxVolumes = numberish(o.maxVolumes);
  if (o.writeWhileMksysb) base.writeWhileMksysb = true;
}

/** A JSON object given inline or as @file. */
function jsonObjectArg(flag: string, v: string, example: string): Record<string, unknown> {
  const text = v.startsWith('@') ? readInputFile(flag, v.slice(1)) : v;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliExit(EXIT.usage, `${flag} is not valid JSON (${(err as Error).message}); give one object such as '${example}'`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliExit(EXIT.usage, `${flag} must be one JSON object such as ${example}`);
  }
  return { ...(parsed as Record<string, unknown>) };
}

function readInputFile(flag: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliExit(EXIT.usage, `cannot read ${flag} file ${file}: ${(err as Error).message}`);
  }
}

/** The options of one backup: what to back up and to which drive, with the per-backup flags (addBackupFlags). */
export function addInputOptions(cmd: Command): Command {
  return addBackupFlags(
    cmd
      .option('--source <host>', 'inventory name of the AIX host to back up, e.g. aix01')
      .option('--tape <host:device>', 'tape host and device, e.g. tapesrv:rmt0')
      .option('--backup-id <id>', 'names the staging files (default: from the workflow ID)'),
  ).option('--input <json>', 'the whole input as one JSON object (or @file.json); the flags above override its fields');
}

/** Options of every backup (also of every backup of a fleet). */
export function addBackupFlags(cmd: Command): Command {
  return cmd
    .option('--mksysb-flags <flags>', `mksysb flags, comma-separated, from ${MKSYSB_FLAGS.join(' ')} (default -i,-p); write --mksysb-flags=-e,-i,-p`)
    .option('--record4-block-size <bytes>', 'block size of record 4, a multiple of 512 (default 512)')
    .addOption(new Option('--verify <level>', 'verification after writing (default full)').choices([...VERIFY_LEVELS]))
    .option('--overwrite', 'allow writing over a cartridge that holds data')
    .option('--keep-staging', 'keep the staged images after a verified tape')
    .option('--max-attempts <n>', 'attempts of each step before waiting for an operator (default 3)')
    .option('--max-volumes <n>', 'cartridges the backup may span; the run waits for each next one (default 1)')
    .option('--write-while-mksysb', 'write records 1-3 and stream record 4 to the drive while mksysb runs (holds the drive meanwhile)')
    .option('--wait-hours <h>', 'how long a run waits for retry/abort after a step used its attempts (default 24)')
    .option('--boot-device <dev>', 'device given to bosboot -ad (default /dev/rmt0)');
}

export interface FleetOpts extends InputOpts {
  group?: string;
  sources?: string;
  drives?: string;
  maxPerTapeHost?: string;
  maxTransfers?: string;
  backupInput?: string;
  detailsEvery?: string;
}

/** Options only a fleet takes: refused on a single backup's schedule. */
export const FLEET_ONLY = ['group', 'sources', 'drives', 'maxPerTapeHost', 'maxTransfers', 'detailsEvery', 'backupInput'] as const;
export const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * A fleet's input from the options: `--group` or `--sources a,b`, `--drives host:dev,host:dev`, the limits, and
 * the children's options from `--backup-input` (JSON or @file) overlaid with the per-backup flags (--verify, ...).
 * Checked here as far as it can be without the inventory (which the worker reads): bad usage exits 2 before connecting.
 */
export function fleetInputFromOptions(o: FleetOpts): FleetInput {
  const single = (['source', 'tape', 'backupId', 'input'] as const).filter((k) => o[k] !== undefined);
  if (single.length) {
    throw new CliExit(EXIT.usage, `${single.map(flagName).join(', ')}: for a single backup; a fleet takes --group NAME or --sources a,b, --drives HOST:DEV,..., and --backup-input JSON for every backup`);
  }
  if ((o.group === undefined) === (o.sources === undefined)) {
    throw new CliExit(EXIT.usage, 'say which sources: --group NAME (an inventory group) or --sources aix01,aix02 (one of the two)');
  }
  const list = (v: string) => v.split(/[,\s]+/).filter(Boolean);
  const input: FleetInput = { drives: [] };
  if (o.group !== undefined) {
    if (!o.group.trim()) throw new CliExit(EXIT.usage, '--group needs a group name');
    input.group = o.group;
  } else {
    const sources = list(o.sources!);
    if (!sources.length) throw new CliExit(EXIT.usage, '--sources needs at least one host, e.g. --sources aix01,aix02');
    input.sources = sources;
  }
  const drives = list(o.drives ?? '');
  if (!drives.length) throw new CliExit(EXIT.usage, '--drives needs at least one drive, e.g. --drives tapesrv:rmt0,tapesrv:rmt1');
  input.drives = drives.map((d) => parseDrive('--drives', d));
  const perHost = intArg('--max-per-tape-host', o.maxPerTapeHost, 1, 10_000);
  if (perHost !== undefined) input.maxConcurrentMksysbPerTapeHost = perHost;
  const transfers = intArg('--max-transfers', o.maxTransfers, 1, 10_000);
  if (transfers !== undefined) input.maxConcurrentTransfers = transfers;
  const every = intArg('--details-every', o.detailsEvery, 0, 86_400);
  if (every !== undefined) input.detailsEverySeconds = every;
  const backup = o.backupInput !== undefined ? jsonObjectArg('--backup-input', o.backupInput, '{"verify":"full","overwrite":true}') : {};
  overlayBackupFlags(backup, o);
  for (const k of ['source', 'tape', 'backupId'] as const) {
    if (k in backup) throw new CliExit(EXIT.usage, `--backup-input: leave out "${k}"; the fleet sets it for every source`);
  }
  // The checks the fleet makes before starting any child (on a stand-in source), with each drive.
  for (const tape of input.drives) {
    validateBackupInput({ ...backup, source: input.sources?.[0] ?? 'fleet-source', tape } as BackupInput, 'mksysb-fleet/check/source');
  }
  if (Object.keys(backup).length) input.backupInput = backup as FleetInput['backupInput'];
  return input;
}

/** The fleet's own options; the per-backup flags (addBackupFlags) go with them. */
export function addFleetOnlyOptions(cmd: Command): Command {
  return cmd
    .option('--group <name>', 'fleet: back up the hosts of this inventory group')
    .option('--sources <hosts>', 'fleet: back up these inventory hosts, comma-separated, e.g. aix01,aix02')
    .option('--drives <drives>', 'fleet: drives it may use, comma-separated HOST:DEVICE, e.g. tapesrv:rmt0,tapesrv:rmt1')
    .option('--max-per-tape-host <n>', 'fleet: running backups per tape host (default 2 x its drives)')
    .option('--max-transfers <n>', 'fleet: running backups in all, so at most this many transfers (default no further limit)')
    .option('--details-every <s>', 'fleet: ignored (the fleet no longer polls its backups; fleet status asks them); kept for scripts that pass it')
    .option('--backup-input <json>', 'fleet: options of every backup as one JSON object (or @file.json), e.g. \'{"verify":"full","overwrite":true}\'; the per-backup flags override its fields');
}
