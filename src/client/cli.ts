/**
 * `mksysb-tape`: the command-line tool on the client API (src/client/backups.ts).
 *
 *   mksysb-tape start --source aix01 --tape tapesrv:rmt0 --wait
 *   mksysb-tape status|watch ID
 *   mksysb-tape retry ID [--from-record N]      mksysb-tape abort ID [--reason TEXT]
 *   mksysb-tape list [--source aix01] [--outcome failed]
 *   mksysb-tape schedule create|list|pause|unpause|update|trigger|delete
 *   mksysb-tape schedule create --fleet --group nightly --drives tapesrv:rmt0,tapesrv:rmt1 --cron "0 1 * * *"
 *   mksysb-tape fleet start (--group G | --sources a,b) --drives tapesrv:rmt0,tapesrv:rmt1 [--wait]
 *   mksysb-tape fleet status|watch ID
 *   mksysb-tape inventory check
 *   mksysb-tape inventory trust HOST [--yes]
 *
 * Human output by default, `--json` for scripts. Exit codes: 0 ok, 1 the run failed or was aborted, 2 bad usage or
 * input (or a refused request), 3 Temporal cannot be reached, 4 the inventory check found problems.
 * Connection settings come from temporal.config.ts (envconfig: TEMPORAL_ADDRESS, TEMPORAL_PROFILE, ...).
 */
import * as fs from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError, Option } from 'commander';
import { loadConfig, type MksysbTapeConfig } from '../../temporal.config';
import { InputValidationError, MKSYSB_FLAGS, VERIFY_LEVELS } from '../schema';
import type { BackupInput } from '../shared/contract';
import { createHash } from 'node:crypto';
import { WorkflowNotFoundError, type WorkflowExecutionDescription } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, type Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import {
  FLEET_WORKFLOW_TYPE,
  fleetStatusQuery,
  type FleetInput,
  type FleetResult,
  type FleetSourceResult,
  type FleetStatus,
} from '../shared/fleet';
import {
  MksysbTapeClient,
  OVERLAP_POLICIES,
  calendarText,
  describeFailure,
  validateBackupInput,
  workflowIdFor,
  type BackupStatus,
  type OverlapPolicy,
} from './backups';
import { createFleetSchedule, fleetScheduleInfo, fleetSummary, type FleetScheduleInfo } from './fleet-schedule';
import {
  BackupAlreadyStartedError,
  BackupNotFoundError,
  OperatorRequestRejectedError,
  ScheduleError,
  TemporalUnreachableError,
} from './errors';
import { formatInventoryReport, formatList, formatResult, formatSchedules, formatStatus } from './format';
import { checkInventory } from './inventory-check';
import { fetchHostKey, formatSeenHostKey, recordHostKey } from './inventory-trust';
import { createProgressView, follow } from './progress';

export const EXIT = { ok: 0, runFailed: 1, usage: 2, unreachable: 3, inventory: 4 } as const;

class CliExit extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

interface GlobalOpts {
  json?: boolean;
  address?: string;
  namespace?: string;
  taskQueue?: string;
  inventory?: string;
}

interface InputOpts {
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
function parseDrive(flag: string, v: string): { host: string; device: string } {
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

function addInputOptions(cmd: Command): Command {
  return addBackupFlags(
    cmd
      .option('--source <host>', 'inventory name of the AIX host to back up, e.g. aix01')
      .option('--tape <host:device>', 'tape host and device, e.g. tapesrv:rmt0')
      .option('--backup-id <id>', 'names the staging files (default: from the workflow ID)'),
  ).option('--input <json>', 'the whole input as one JSON object (or @file.json); the flags above override its fields');
}

/** Options of every backup (also of every backup of a fleet). */
function addBackupFlags(cmd: Command): Command {
  return cmd
    .option('--mksysb-flags <flags>', `mksysb flags, comma-separated, from ${MKSYSB_FLAGS.join(' ')} (default -i,-p); write --mksysb-flags=-e,-i,-p`)
    .option('--record4-block-size <bytes>', 'block size of record 4, a multiple of 512 (default 512)')
    .addOption(new Option('--verify <level>', 'verification after writing (default full)').choices([...VERIFY_LEVELS]))
    .option('--overwrite', 'allow writing over a cartridge that holds data')
    .option('--keep-staging', 'keep the staged images after a verified tape')
    .option('--max-attempts <n>', 'attempts of each step before waiting for an operator (default 3)')
    .option('--wait-hours <h>', 'how long a run waits for retry/abort after a step used its attempts (default 24)')
    .option('--boot-device <dev>', 'device given to bosboot -ad (default /dev/rmt0)');
}

interface FleetOpts extends InputOpts {
  group?: string;
  sources?: string;
  drives?: string;
  maxPerTapeHost?: string;
  maxTransfers?: string;
  backupInput?: string;
  detailsEvery?: string;
}

const FLEET_ONLY = ['group', 'sources', 'drives', 'maxPerTapeHost', 'maxTransfers', 'detailsEvery', 'backupInput'] as const;
const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

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

/** Default fleet run ID: `mksysb-fleet/<group or sources>/<YYYY-MM-DD>` (UTC), so a second start that day is refused. */
export function fleetWorkflowId(input: FleetInput, now = new Date()): string {
  const day = now.toISOString().slice(0, 10);
  if (input.group !== undefined) return `mksysb-fleet/${input.group}/${day}`;
  const s = input.sources ?? [];
  const joined = s.join(',');
  const key = joined.length <= 60 ? joined : `${s[0]}+${s.length - 1}-${createHash('sha256').update(joined).digest('hex').slice(0, 8)}`;
  return `mksysb-fleet/${key}/${day}`;
}

/** The fleet's own options; the per-backup flags (addBackupFlags) go with them. */
function addFleetOnlyOptions(cmd: Command): Command {
  return cmd
    .option('--group <name>', 'fleet: back up the hosts of this inventory group')
    .option('--sources <hosts>', 'fleet: back up these inventory hosts, comma-separated, e.g. aix01,aix02')
    .option('--drives <drives>', 'fleet: drives it may use, comma-separated HOST:DEVICE, e.g. tapesrv:rmt0,tapesrv:rmt1')
    .option('--max-per-tape-host <n>', 'fleet: running backups per tape host (default 2 x its drives)')
    .option('--max-transfers <n>', 'fleet: running backups in all, so at most this many transfers (default no further limit)')
    .option('--details-every <s>', 'fleet: how often it asks its running backups what they do (default 30, 0 never)')
    .option('--backup-input <json>', 'fleet: options of every backup as one JSON object (or @file.json), e.g. \'{"verify":"full","overwrite":true}\'; the per-backup flags override its fields');
}

/** What a fleet run shows: its Temporal status and, per source, queued / running / ok / failed. */
export interface FleetRunStatus {
  workflowId: string;
  runId: string;
  status: string;
  counts?: FleetStatus['counts'];
  sources?: FleetSourceResult[];
  result?: FleetResult;
  failure?: string;
  /** Why a running fleet showed no per-source status (it is still resolving its sources, or no worker answered). */
  pending?: string;
}

async function fleetRunStatus(c: MksysbTapeClient, workflowId: string, runId?: string): Promise<FleetRunStatus> {
  const h = c.temporal.workflow.getHandle(workflowId, runId);
  let d: WorkflowExecutionDescription;
  try {
    d = await h.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliExit(EXIT.usage, `no fleet run with workflow ID ${workflowId}`);
    throw err;
  }
  if (d.type !== FLEET_WORKFLOW_TYPE) throw new CliExit(EXIT.usage, `${workflowId} is a ${d.type} run, not a fleet; use mksysb-tape status`);
  const out: FleetRunStatus = { workflowId, runId: d.runId, status: d.status.name };
  const pinned = c.temporal.workflow.getHandle(workflowId, d.runId);
  if (d.status.name === 'RUNNING') {
    try {
      const st = await c.temporal.connection.withDeadline(Date.now() + 5000, () => pinned.query(fleetStatusQuery));
      out.counts = st.counts;
      out.sources = st.sources;
    } catch (err) {
      // Before it has resolved its sources the fleet has no status to answer yet; say so rather than fail.
      out.pending = `no per-source status yet (${(err as Error).message})`;
    }
  } else if (d.status.name === 'COMPLETED') {
    const r = (await pinned.result()) as FleetResult;
    out.result = r;
    out.sources = r.results;
    out.counts = { queued: 0, running: 0, ok: r.ok, failed: r.failed };
  } else {
    try {
      await pinned.result();
    } catch (err) {
      out.failure = describeFailure(err);
    }
  }
  return out;
}

/** Polls a fleet run until it ends; `onChange` sees each status whose counts or source states changed. */
async function followFleet(c: MksysbTapeClient, workflowId: string, runId: string | undefined, intervalMs: number, onChange?: (s: FleetRunStatus, prev?: FleetRunStatus) => void): Promise<FleetRunStatus> {
  let prev: FleetRunStatus | undefined;
  const key = (s: FleetRunStatus) => `${s.status}|${(s.sources ?? []).map((e) => `${e.source}=${e.state}`).join(',')}`;
  for (;;) {
    const s = await fleetRunStatus(c, workflowId, runId);
    if (!prev || key(s) !== key(prev)) onChange?.(s, prev);
    if (s.status !== 'RUNNING') return s;
    prev = s;
    runId ??= s.runId;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** One line per source that changed state, then the counts. */
function fleetProgressLines(s: FleetRunStatus, prev?: FleetRunStatus): string {
  const before = new Map((prev?.sources ?? []).map((e) => [e.source, e.state]));
  const lines: string[] = [];
  for (const e of s.sources ?? []) {
    if (before.get(e.source) === e.state || (e.state === 'queued' && !before.has(e.source))) continue;
    if (e.state === 'running') lines.push(`  ${e.source}: running on ${driveText(e.drive)}`);
    else if (e.state === 'ok') lines.push(`  ${e.source}: ok on ${driveText(e.drive)}, ${e.bytes} bytes, ${e.seconds}s`);
    else if (e.state === 'failed') lines.push(`  ${e.source}: FAILED${e.drive ? ` on ${driveText(e.drive)}` : ''}: ${e.error}`);
  }
  if (s.counts) lines.push(`fleet ${s.workflowId}: ${countsText(s.counts)}`);
  return lines.join('\n');
}

/** Exit code of a fleet run: 0 when it completed with every source ok (or still runs), else 1. */
const fleetExit = (s: FleetRunStatus): number =>
  s.status === 'RUNNING' || (s.status === 'COMPLETED' && s.result?.failed === 0) ? EXIT.ok : EXIT.runFailed;

const driveText = (d?: { host: string; device: string }) => (d ? `${d.host}:${d.device}` : '-');

function countsText(c: FleetStatus['counts']): string {
  return `${c.ok} ok, ${c.failed} failed, ${c.running} running, ${c.queued} queued`;
}

export function formatFleetStatus(s: FleetRunStatus): string {
  const lines = [`fleet ${s.workflowId} (run ${s.runId}): ${s.status}${s.counts ? `, ${countsText(s.counts)}` : ''}`];
  if (s.result) lines.push(`  ${s.result.seconds}s, from ${s.result.startedAt} to ${s.result.finishedAt}`);
  if (s.failure) lines.push(`  reason: ${s.failure}`);
  if (s.pending) lines.push(`  ${s.pending}`);
  if (s.sources?.length) {
    lines.push(
      table(
        ['SOURCE', 'STATE', 'DRIVE', 'BYTES', 'SECONDS', 'DETAIL'],
        s.sources.map((e) => [
          e.source,
          e.state,
          driveText(e.drive),
          e.bytes !== undefined ? String(e.bytes) : '-',
          e.seconds !== undefined ? String(e.seconds) : '-',
          e.state === 'failed' ? (e.error ?? '') : e.state === 'running' ? (e.doing ?? `since ${e.startedAt ?? '?'}`) : e.workflowId,
        ]),
      ),
    );
  }
  return lines.join('\n');
}

/** A plain text table (two spaces between columns). */
function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((x, i) => (i === cells.length - 1 ? x : x.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** Fleet schedules (they start mksysbFleet) with the fleet input each one starts. */
async function listFleetSchedules(c: MksysbTapeClient): Promise<Array<FleetScheduleInfo & { kind: 'fleet'; input?: FleetInput }>> {
  const out: Array<FleetScheduleInfo & { kind: 'fleet'; input?: FleetInput }> = [];
  const ids: string[] = [];
  for await (const s of c.temporal.schedule.list()) {
    if (s.action?.type === 'startWorkflow' && s.action.workflowType === FLEET_WORKFLOW_TYPE) ids.push(s.scheduleId);
  }
  for (const id of ids) {
    const d = await c.temporal.schedule.getHandle(id).describe().catch(() => undefined);
    if (!d) continue;
    const input = d.action.type === 'startWorkflow' ? (d.action.args?.[0] as FleetInput | undefined) : undefined;
    const info = fleetScheduleInfo(d);
    if (!info.cron.length) info.cron = (d.spec.calendars ?? []).map(calendarText);
    out.push({ kind: 'fleet', ...info, nextActionTimes: info.nextActionTimes.slice(0, 3), ...(input ? { input } : {}) });
  }
  return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

function formatFleetSchedules(list: Array<FleetScheduleInfo & { input?: FleetInput }>): string {
  return table(
    ['FLEET SCHEDULE ID', 'STATE', 'WHEN', 'SOURCES', 'DRIVES', 'NEXT RUN'],
    list.map((s) => [
      s.scheduleId,
      s.paused ? 'paused' : 'active',
      `${s.cron.join('; ')}${s.timeZone ? ` (${s.timeZone})` : ''}`,
      s.input?.group !== undefined ? `group ${s.input.group}` : (s.input?.sources?.join(',') ?? '-'),
      s.input?.drives.map(driveText).join(',') ?? '-',
      s.nextActionTimes[0]?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '-',
    ]),
  );
}

function checkDuration(flag: string, v: string): void {
  let ms = NaN;
  try {
    ms = msToNumber(v as Duration);
  } catch {
    /* reported below */
  }
  if (!Number.isFinite(ms) || ms < 0) throw new CliExit(EXIT.usage, `${flag} must be a duration such as 30m, 1h or 2d (got "${v}")`);
}

function intArg(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new CliExit(EXIT.usage, `${name} must be a whole number from ${min} to ${max} (got "${v}")`);
  return Number(v);
}

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const program = new Command('mksysb-tape');
  let code: number = EXIT.ok;
  const g = (): GlobalOpts => program.opts<GlobalOpts>();
  const json = () => !!g().json;
  const print = (text: string) => io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const printJson = (v: unknown) => io.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

  const config = (): MksysbTapeConfig => {
    const o = g();
    const env = { ...io.env };
    if (o.address) env.TEMPORAL_ADDRESS = o.address;
    if (o.namespace) env.TEMPORAL_NAMESPACE = o.namespace;
    if (o.taskQueue) env.MKSYSB_TAPE_TASK_QUEUE = o.taskQueue;
    if (o.inventory) env.MKSYSB_TAPE_INVENTORY = o.inventory;
    try {
      return loadConfig(env);
    } catch (err) {
      throw new CliExit(EXIT.usage, `configuration: ${(err as Error).message}`);
    }
  };
  let api: MksysbTapeClient | undefined;
  const connect = async (): Promise<MksysbTapeClient> => (api ??= await MksysbTapeClient.connect({ config: config() }));

  /** Prints the end of a followed run and sets the exit code. */
  const finish = (s: BackupStatus, extra: Record<string, unknown> = {}) => {
    const ok = s.status === 'COMPLETED';
    if (json()) printJson({ ...extra, ...statusJson(s) });
    else if (ok && s.result) print(`backup ${s.workflowId} succeeded\n${formatResult(s.result)}`);
    else io.stderr.write(`backup ${s.workflowId} ${s.outcome === 'aborted' ? 'was aborted' : `ended ${s.status.toLowerCase()}`}: ${s.failure ?? 'no reason given'}\n`);
    code = ok ? EXIT.ok : EXIT.runFailed;
  };

  /** Prints the end of a followed fleet and sets the exit code (1 when the fleet failed or any source failed). */
  const fleetEnd = (s: FleetRunStatus, extra: Record<string, unknown> = {}) => {
    if (json()) printJson({ ...s, ...extra });
    else if (s.status === 'COMPLETED') print(formatFleetStatus(s));
    else io.stderr.write(`fleet ${s.workflowId} ended ${s.status.toLowerCase()}: ${s.failure ?? 'no reason given'}\n`);
    code = fleetExit(s);
  };

  program
    .description('Bootable AIX mksysb backups to a remote tape drive, run as Temporal workflows')
    .option('--json', 'machine-readable output (one JSON document on stdout)')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS / profile / localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default: TEMPORAL_NAMESPACE / profile / default)')
    .option('--task-queue <q>', 'task queue of the workers (default: MKSYSB_TAPE_TASK_QUEUE / mksysb-tape)')
    .option('--inventory <file>', 'host inventory for `inventory check` (default: MKSYSB_TAPE_INVENTORY / ./inventory.json)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  addInputOptions(program.command('start').description('start a backup'))
    .option('--workflow-id <id>', 'workflow ID (default mksysb-tape/<source>/<YYYY-MM-DD>)')
    .option('--attach', 'if that backup is already running, follow it instead of failing')
    .option('--note <text>', 'text shown in the run\'s details in the Web UI')
    .option('--wait', 'follow the run with live progress until it ends; exit 1 when it fails')
    .option('--bars', 'progress bars even when stdout is not a terminal')
    .option('--interval <ms>', 'progress poll interval with --wait', '500')
    .action(async (o: InputOpts & { workflowId?: string; attach?: boolean; note?: string; wait?: boolean; bars?: boolean; interval: string }) => {
      const input = inputFromOptions(o);
      validateBackupInput(input, workflowIdFor(input, { workflowId: o.workflowId })); // bad input: exit 2 before connecting
      const c = await connect();
      const started = await c.start(input, { workflowId: o.workflowId, ifRunning: o.attach ? 'use-existing' : 'fail', note: o.note });
      const head = { workflowId: started.workflowId, runId: started.runId, started: started.started, input: started.resolved };
      if (!o.wait) {
        if (json()) printJson(head);
        else
          print(
            `${started.started ? 'started' : 'already running:'} ${started.workflowId} (run ${started.runId})\n` +
              `  mksysb of ${started.resolved.source} to ${started.resolved.tape.host}:${started.resolved.tape.device}\n` +
              `  follow it with: mksysb-tape watch ${started.workflowId}`,
          );
        return;
      }
      if (!json()) print(`${started.started ? 'started' : 'following'} ${started.workflowId} (run ${started.runId})`);
      const view = json() ? undefined : createProgressView(io.stdout, o.bars ? { bars: true } : {});
      try {
        const s = await follow(c, started.workflowId, started.runId, view, intArg('--interval', o.interval, 50, 60_000));
        view?.stop();
        finish(s, { started: started.started });
      } finally {
        view?.stop();
      }
    });

  program
    .command('status')
    .description('show where a backup is, what it waits for, its result or why it failed')
    .argument('<workflow-id>')
    .option('--run-id <id>', 'a specific run (default the latest)')
    .action(async (id: string, o: { runId?: string }) => {
      const s = await (await connect()).status(id, o.runId);
      if (json()) printJson(statusJson(s));
      else print(formatStatus(s));
      code = ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'].includes(s.status) ? EXIT.runFailed : EXIT.ok;
    });

  program
    .command('watch')
    .description('follow a backup with live progress until it ends')
    .argument('<workflow-id>')
    .option('--bars', 'progress bars even when stdout is not a terminal')
    .option('--interval <ms>', 'poll interval', '500')
    .action(async (id: string, o: { bars?: boolean; interval: string }) => {
      const c = await connect();
      const view = json() ? undefined : createProgressView(io.stdout, o.bars ? { bars: true } : {});
      try {
        const s = await follow(c, id, undefined, view, intArg('--interval', o.interval, 50, 60_000));
        view?.stop();
        finish(s);
      } finally {
        view?.stop();
      }
    });

  program
    .command('retry')
    .description('tell a run that waits for an operator to try again')
    .argument('<workflow-id>')
    .option('--from-record <n>', 'rewrite the tape from this record (1-4) onward; default the record that failed')
    .option('--reason <text>', 'kept in the run\'s history')
    .option('--signal', 'send the `retry` signal instead of the update (no answer, accepted only while waiting)')
    .action(async (id: string, o: { fromRecord?: string; reason?: string; signal?: boolean }) => {
      const fromRecord = intArg('--from-record', o.fromRecord, 1, 4);
      const answer = await (await connect()).retry(id, { ...(fromRecord ? { fromRecord } : {}), ...(o.reason ? { reason: o.reason } : {}) }, { signal: o.signal });
      if (json()) printJson({ workflowId: id, request: 'retry', answer });
      else print(`${id}: ${answer}`);
    });

  program
    .command('abort')
    .description('stop a run that waits for an operator (it fails with outcome aborted; staged images are kept)')
    .argument('<workflow-id>')
    .option('--reason <text>', 'why, kept in the run\'s failure')
    .option('--signal', 'send the `abort` signal instead of the update')
    .action(async (id: string, o: { reason?: string; signal?: boolean }) => {
      const answer = await (await connect()).abort(id, o.reason ? { reason: o.reason } : {}, { signal: o.signal });
      if (json()) printJson({ workflowId: id, request: 'abort', answer });
      else print(`${id}: ${answer}`);
    });

  program
    .command('list')
    .description('list backups, newest first, by host, stage or outcome (search attributes)')
    .option('--source <host>')
    .option('--tape-host <host>')
    .option('--tape-device <dev>')
    .option('--stage <stage>', 'validating, images, transfer, tape-prepare, tape-write, verify, cleanup, done')
    .addOption(new Option('--outcome <outcome>').choices(['running', 'waiting', 'succeeded', 'failed', 'aborted']))
    .option('--status <status>', 'Temporal status: Running, Completed, Failed, Terminated, ...')
    .option('--query <visibility-query>', 'extra visibility query, ANDed')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (o: { source?: string; tapeHost?: string; tapeDevice?: string; stage?: string; outcome?: string; status?: string; query?: string; limit: string }) => {
      const runs = await (await connect()).list({ ...o, limit: intArg('--limit', o.limit, 1, 10_000) });
      if (json()) printJson(runs);
      else print(formatList(runs));
    });

  const schedule = program.command('schedule').description('nightly backups and fleets as Temporal Schedules');
  addFleetOnlyOptions(
    addInputOptions(schedule.command('create').description('create a schedule that starts a backup (or, with --fleet, a fleet of backups) on a cron spec'))
      .option('--fleet', 'schedule a fleet (mksysbFleet): --group or --sources, and --drives, instead of --source and --tape'),
  )
    .requiredOption('--cron <expr>', 'cron expression, e.g. "0 2 * * *" for 02:00 daily')
    .option('--time-zone <tz>', 'IANA time zone of the cron expression, e.g. Europe/Berlin (default UTC)')
    .option('--id <schedule-id>', 'default mksysb-tape/<source>/nightly; with --fleet the group name (required with --sources)')
    .addOption(new Option('--overlap <policy>', 'when the previous backup (or fleet) still runs').choices(OVERLAP_POLICIES).default('skip'))
    .option('--catchup-window <duration>', 'how late a missed run may still start, e.g. 1h', '1h')
    .option('--pause-on-failure', 'pause the schedule after a failed backup (fleet: after a failed fleet run)')
    .option('--paused', 'create it paused')
    .option('--note <text>')
    .action(async (o: FleetOpts & { fleet?: boolean; cron: string; timeZone?: string; id?: string; overlap: OverlapPolicy; catchupWindow: string; pauseOnFailure?: boolean; paused?: boolean; note?: string }) => {
      if (o.fleet) {
        const input = fleetInputFromOptions(o);
        const scheduleId = o.id ?? input.group;
        if (!scheduleId) throw new CliExit(EXIT.usage, 'a fleet schedule of --sources needs --id, e.g. --id nightly');
        checkDuration('--catchup-window', o.catchupWindow);
        const c = await connect();
        let info: FleetScheduleInfo;
        try {
          info = await createFleetSchedule(c.temporal, {
            scheduleId,
            cron: o.cron,
            ...(o.timeZone ? { timeZone: o.timeZone } : {}),
            input,
            overlap: o.overlap,
            catchupWindow: o.catchupWindow as Duration,
            taskQueue: c.taskQueue,
            ...(o.pauseOnFailure ? { pauseOnFailure: true } : {}),
            ...(o.paused ? { paused: true } : {}),
            ...(o.note ? { note: o.note } : {}),
          });
        } catch (err) {
          const m = (err as Error).message;
          if (/^invalid fleet schedule|already exists/.test(m) || (err as { name?: string }).name === 'ServiceError') throw new CliExit(EXIT.usage, m);
          throw err;
        }
        if (json()) printJson({ kind: 'fleet', ...info, input });
        else
          print(
            `created fleet schedule ${info.scheduleId}${info.paused ? ' (paused)' : ''}: ${fleetSummary(input)}\n` +
              `  runs are named ${info.workflowIdPrefix}-<scheduled time>; next runs: ${info.nextActionTimes.map((d) => d.toISOString()).join(', ') || '-'}\n` +
              `  start one now with: mksysb-tape schedule trigger ${info.scheduleId}`,
          );
        return;
      }
      const fleetOnly = FLEET_ONLY.filter((k) => o[k] !== undefined);
      if (fleetOnly.length) throw new CliExit(EXIT.usage, `${fleetOnly.map(flagName).join(', ')}: only for a fleet schedule; add --fleet`);
      const input = inputFromOptions(o);
      const info = await (await connect()).createSchedule({
        input,
        cron: o.cron,
        timeZone: o.timeZone,
        scheduleId: o.id,
        overlap: o.overlap,
        catchupWindow: o.catchupWindow as `${number}h`,
        pauseOnFailure: o.pauseOnFailure,
        paused: o.paused,
        note: o.note,
      });
      if (json()) printJson(info);
      else print(`created schedule ${info.scheduleId}${info.paused ? ' (paused)' : ''}; next runs: ${info.nextActionTimes.map((d) => d.toISOString()).join(', ') || '-'}`);
    });
  schedule
    .command('list')
    .description('list the schedules that start backups, then those that start fleets (in --json: "kind": "fleet")')
    .action(async () => {
      const c = await connect();
      const list = await c.listSchedules();
      const fleets = await listFleetSchedules(c);
      if (json()) printJson([...list, ...fleets]);
      else if (!fleets.length) print(formatSchedules(list));
      else print(`${list.length ? `${formatSchedules(list)}\n\n` : ''}${formatFleetSchedules(fleets)}`);
    });
  for (const [name, what] of [
    ['pause', 'pause a schedule'],
    ['unpause', 'unpause a schedule'],
    ['trigger', 'start the scheduled backup (or fleet) now'],
    ['delete', 'delete a schedule (runs it started are kept)'],
  ] as const) {
    schedule
      .command(name)
      .description(what)
      .argument('<schedule-id>')
      .option('--note <text>', 'pause/unpause note')
      .action(async (id: string, o: { note?: string }) => {
        const c = await connect();
        if (name === 'pause') await c.pauseSchedule(id, o.note);
        else if (name === 'unpause') await c.unpauseSchedule(id, o.note);
        else if (name === 'trigger') await c.triggerSchedule(id);
        else await c.deleteSchedule(id);
        const past = { pause: 'paused', unpause: 'unpaused', trigger: 'triggered', delete: 'deleted' }[name];
        if (json()) printJson({ scheduleId: id, [past]: true });
        else print(`${past} schedule ${id}`);
      });
  }
  addInputOptions(schedule.command('update').description('change a schedule\'s timing and/or its backup input').argument('<schedule-id>'))
    .option('--cron <expr>')
    .option('--time-zone <tz>')
    .addOption(new Option('--overlap <policy>').choices(OVERLAP_POLICIES))
    .option('--catchup-window <duration>')
    .action(async (id: string, o: InputOpts & { cron?: string; timeZone?: string; overlap?: OverlapPolicy; catchupWindow?: string }) => {
      const hasInput = o.input !== undefined || o.source !== undefined || o.tape !== undefined;
      if (hasInput && (await listFleetSchedules(await connect())).some((f) => f.scheduleId === id)) {
        throw new CliExit(EXIT.usage, `${id} is a fleet schedule; to change what it backs up, delete it and create it again with schedule create --fleet`);
      }
      const info = await (await connect()).updateSchedule(id, {
        ...(o.cron ? { cron: o.cron } : {}),
        ...(o.timeZone ? { timeZone: o.timeZone } : {}),
        ...(o.overlap ? { overlap: o.overlap } : {}),
        ...(o.catchupWindow ? { catchupWindow: o.catchupWindow as `${number}h` } : {}),
        ...(hasInput ? { input: inputFromOptions(o) } : {}),
      });
      if (json()) printJson(info);
      else print(`updated schedule ${id}\n${formatSchedules([info])}`);
    });

  const fleet = program.command('fleet').description('many backups on a few drives (the mksysbFleet workflow)');
  addBackupFlags(addFleetOnlyOptions(fleet.command('start').description('start a fleet: one backup per source, on the given drives')))
    .option('--workflow-id <id>', 'fleet run ID (default mksysb-fleet/<group or sources>/<YYYY-MM-DD>)')
    .option('--wait', 'follow the fleet until it ends; exit 1 when it fails or any source failed')
    .option('--interval <ms>', 'poll interval with --wait', '2000')
    .action(async (o: FleetOpts & { workflowId?: string; wait?: boolean; interval: string }) => {
      const input = fleetInputFromOptions(o);
      const interval = intArg('--interval', o.interval, 50, 600_000)!;
      const workflowId = o.workflowId ?? fleetWorkflowId(input);
      const c = await connect();
      let runId: string;
      try {
        const h = await c.temporal.workflow.start(FLEET_WORKFLOW_TYPE, {
          taskQueue: c.taskQueue,
          workflowId,
          args: [input],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          staticSummary: fleetSummary(input),
          staticDetails: `started with mksysb-tape fleet start; input: \`${JSON.stringify(input)}\``,
        });
        runId = h.firstExecutionRunId;
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          throw new CliExit(EXIT.usage, `fleet ${workflowId} was already started (it runs, or it succeeded); see it with: mksysb-tape fleet status ${workflowId}, or give another --workflow-id`);
        }
        throw err;
      }
      const head = { workflowId, runId, input };
      if (!o.wait) {
        if (json()) printJson(head);
        else print(`started fleet ${workflowId} (run ${runId}): ${fleetSummary(input)}\n  follow it with: mksysb-tape fleet watch ${workflowId}`);
        return;
      }
      if (!json()) print(`started fleet ${workflowId} (run ${runId}): ${fleetSummary(input)}`);
      const s = await followFleet(c, workflowId, runId, interval, json() ? undefined : (now, prev) => print(fleetProgressLines(now, prev)));
      fleetEnd(s, { input });
    });

  fleet
    .command('status')
    .description('show a fleet run: its status and, per source, queued / running (on which drive, doing what) / ok / failed')
    .argument('<workflow-id>')
    .option('--run-id <id>', 'a specific run (default the latest)')
    .action(async (id: string, o: { runId?: string }) => {
      const s = await fleetRunStatus(await connect(), id, o.runId);
      if (json()) printJson(s);
      else print(formatFleetStatus(s));
      code = fleetExit(s);
    });

  fleet
    .command('watch')
    .description('follow a fleet run until it ends (e.g. one a schedule started); exit 1 when it fails or any source failed')
    .argument('<workflow-id>')
    .option('--interval <ms>', 'poll interval', '2000')
    .action(async (id: string, o: { interval: string }) => {
      const interval = intArg('--interval', o.interval, 50, 600_000)!;
      const s = await followFleet(await connect(), id, undefined, interval, json() ? undefined : (now, prev) => print(fleetProgressLines(now, prev)));
      fleetEnd(s);
    });

  const inventory = program.command('inventory').description('the host inventory');
  inventory
    .command('trust')
    .description("show the host key HOST presents now and pin it in the inventory (only with --yes or after you confirm)")
    .argument('<host>', 'inventory name of the host')
    .option('--yes', 'record the key without asking (check the fingerprint first)')
    .action(async (host: string, o: { yes?: boolean }) => {
      const cfg = config();
      const seen = await fetchHostKey(cfg.inventoryPath, host).catch((err: unknown) => {
        throw new CliExit(EXIT.usage, (err as Error).message);
      });
      if (!json()) print(formatSeenHostKey(seen));
      let yes = !!o.yes || seen.matchesPinned;
      if (!yes && !json() && process.stdin.isTTY) {
        const rl = createInterface({ input: process.stdin, output: io.stdout });
        const answer = await rl.question(`record this key for ${host} in ${cfg.inventoryPath}? [y/N] `);
        rl.close();
        yes = /^y(es)?$/i.test(answer.trim());
      }
      const recorded = yes && !seen.matchesPinned ? await recordHostKey(cfg.inventoryPath, host, seen.hostKey) : undefined;
      if (json()) printJson({ ...seen, recorded: !!recorded, inventoryProblems: recorded?.inventoryProblems ?? null });
      else if (seen.matchesPinned) print('nothing to change');
      else if (recorded) {
        print(`recorded ${seen.fingerprint} as the host key of ${host} in ${cfg.inventoryPath}`);
        if (recorded.inventoryProblems) print(`the inventory still has problems: ${recorded.inventoryProblems}`);
      } else print(`not recorded; check the fingerprint on the host's console, then run: mksysb-tape inventory trust ${host} --yes`);
      code = yes ? EXIT.ok : EXIT.usage;
    });
  inventory
    .command('check')
    .description('connect to every host: host key, commands each role needs, work folder free space (run it where the worker runs)')
    .option('--host <name...>', 'only these hosts')
    .option('--min-free <MiB>', 'a work folder with less free space is a problem', '1024')
    .action(async (o: { host?: string[]; minFree: string }) => {
      const cfg = config();
      const min = intArg('--min-free', o.minFree, 0, Number.MAX_SAFE_INTEGER)!;
      const report = await checkInventory(cfg.inventoryPath, { hosts: o.host, minFreeBytes: min * 1024 * 1024 });
      if (json()) printJson(report);
      else print(formatInventoryReport(report));
      code = report.ok ? EXIT.ok : EXIT.inventory;
    });

  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    const [exit, message] = classify(err);
    if (exit === EXIT.ok) return EXIT.ok;
    if (!(err instanceof CommanderError)) {
      io.stderr.write(`mksysb-tape: ${message}\n`);
      if (json()) printJson({ error: { type: (err as Error).name ?? 'Error', message }, exitCode: exit });
    }
    return exit;
  } finally {
    await api?.close().catch(() => undefined);
  }
}

function classify(err: unknown): [number, string] {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return [EXIT.ok, ''];
    return [EXIT.usage, err.message];
  }
  if (err instanceof CliExit) return [err.code, err.message];
  if (err instanceof InputValidationError) return [EXIT.usage, `${err.message}\nNothing was started. Fix the input and run the command again.`];
  if (err instanceof TemporalUnreachableError) return [EXIT.unreachable, err.message];
  if (
    err instanceof BackupAlreadyStartedError ||
    err instanceof BackupNotFoundError ||
    err instanceof OperatorRequestRejectedError ||
    err instanceof ScheduleError
  ) {
    return [EXIT.usage, err.message];
  }
  return [EXIT.runFailed, err instanceof Error ? err.message : String(err)];
}

/** BackupStatus as JSON (dates as ISO strings). */
function statusJson(s: BackupStatus): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
