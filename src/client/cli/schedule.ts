/**
 * `schedule create|list|pause|unpause|trigger|update|delete`: nightly backups and fleets as Temporal Schedules.
 */
import { Option, type Command } from 'commander';
import type { Duration } from '@temporalio/common';
import { OVERLAP_POLICIES, type OverlapPolicy } from '../backups';
import { fleetSummary } from '../fleet-schedule';
import { formatSchedules } from '../format';
import { formatFleetSchedules } from '../format-fleet';
import { CliExit, EXIT, checkDuration, type Cli } from './context';
import {
  FLEET_ONLY,
  addFleetOnlyOptions,
  addInputOptions,
  flagName,
  fleetInputFromOptions,
  inputFromOptions,
  type FleetOpts,
  type InputOpts,
} from './options';

interface CreateOpts extends FleetOpts {
  fleet?: boolean;
  cron: string;
  timeZone?: string;
  id?: string;
  overlap: OverlapPolicy;
  catchupWindow: string;
  pauseOnFailure?: boolean;
  paused?: boolean;
  note?: string;
}

export function addScheduleCommands(program: Command, cli: Cli): void {
  const schedule = program.command('schedule').description('nightly backups and fleets as Temporal Schedules');
  addScheduleCreate(schedule, cli);
  addScheduleList(schedule, cli);
  addScheduleActions(schedule, cli);
  addScheduleUpdate(schedule, cli);
}

/** `schedule create [--fleet]`: a schedule that starts a backup, or a fleet. */
function addScheduleCreate(schedule: Command, cli: Cli): void {
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
    .action(async (o: CreateOpts) => (o.fleet ? await createFleetSchedule(cli, o) : await createBackupSchedule(cli, o)));
}

/** `schedule list`: the backup schedules, then the fleet schedules. */
function addScheduleList(schedule: Command, cli: Cli): void {
  schedule
    .command('list')
    .description('list the schedules that start backups, then those that start fleets (in --json: "kind": "fleet")')
    .action(async () => {
      const c = await cli.connect();
      const list = await c.listSchedules();
      const fleets = await c.fleets.listSchedules();
      if (cli.json()) cli.printJson([...list, ...fleets]);
      else if (!fleets.length) cli.print(formatSchedules(list));
      else cli.print(`${list.length ? `${formatSchedules(list)}\n\n` : ''}${formatFleetSchedules(fleets)}`);
    });
}

/** `schedule pause|unpause|trigger|delete`, on a backup's schedule or a fleet's alike. */
function addScheduleActions(schedule: Command, cli: Cli): void {
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
        const c = await cli.connect();
        if (name === 'pause') await c.pauseSchedule(id, o.note);
        else if (name === 'unpause') await c.unpauseSchedule(id, o.note);
        else if (name === 'trigger') await c.triggerSchedule(id);
        else await c.deleteSchedule(id);
        const past = { pause: 'paused', unpause: 'unpaused', trigger: 'triggered', delete: 'deleted' }[name];
        if (cli.json()) cli.printJson({ scheduleId: id, [past]: true });
        else cli.print(`${past} schedule ${id}`);
      });
  }
}

/** `schedule update`: new timing, and for a backup's schedule a new input. */
function addScheduleUpdate(schedule: Command, cli: Cli): void {
  addInputOptions(schedule.command('update').description('change a schedule\'s timing and/or its backup input').argument('<schedule-id>'))
    .option('--cron <expr>')
    .option('--time-zone <tz>')
    .addOption(new Option('--overlap <policy>').choices(OVERLAP_POLICIES))
    .option('--catchup-window <duration>')
    .action(async (id: string, o: InputOpts & { cron?: string; timeZone?: string; overlap?: OverlapPolicy; catchupWindow?: string }) => {
      const hasInput = o.input !== undefined || o.source !== undefined || o.tape !== undefined;
      if (hasInput && (await (await cli.connect()).fleets.listSchedules()).some((f) => f.scheduleId === id)) {
        throw new CliExit(EXIT.usage, `${id} is a fleet schedule; to change what it backs up, delete it and create it again with schedule create --fleet`);
      }
      const info = await (await cli.connect()).updateSchedule(id, {
        ...(o.cron ? { cron: o.cron } : {}),
        ...(o.timeZone ? { timeZone: o.timeZone } : {}),
        ...(o.overlap ? { overlap: o.overlap } : {}),
        ...(o.catchupWindow ? { catchupWindow: o.catchupWindow as `${number}h` } : {}),
        ...(hasInput ? { input: inputFromOptions(o) } : {}),
      });
      if (cli.json()) cli.printJson(info);
      else cli.print(`updated schedule ${id}\n${formatSchedules([info])}`);
    });
}

/** `schedule create --fleet`: a schedule that starts mksysbFleet; named after the group unless --id says otherwise. */
async function createFleetSchedule(cli: Cli, o: CreateOpts): Promise<void> {
  const input = fleetInputFromOptions(o);
  const scheduleId = o.id ?? input.group;
  if (!scheduleId) throw new CliExit(EXIT.usage, 'a fleet schedule of --sources needs --id, e.g. --id nightly');
  checkDuration('--catchup-window', o.catchupWindow);
  const info = await (await cli.connect()).fleets.createSchedule({
    scheduleId,
    cron: o.cron,
    ...(o.timeZone ? { timeZone: o.timeZone } : {}),
    input,
    overlap: o.overlap,
    catchupWindow: o.catchupWindow as Duration,
    ...(o.pauseOnFailure ? { pauseOnFailure: true } : {}),
    ...(o.paused ? { paused: true } : {}),
    ...(o.note ? { note: o.note } : {}),
  });
  if (cli.json()) cli.printJson({ kind: 'fleet', ...info, input });
  else
    cli.print(
      `created fleet schedule ${info.scheduleId}${info.paused ? ' (paused)' : ''}: ${fleetSummary(input)}\n` +
        `  runs are named ${info.workflowIdPrefix}-<scheduled time>; next runs: ${info.nextActionTimes.map((d) => d.toISOString()).join(', ') || '-'}\n` +
        `  start one now with: mksysb-tape schedule trigger ${info.scheduleId}`,
    );
}

/** `schedule create`: a schedule that starts one backup; the fleet's options are refused. */
async function createBackupSchedule(cli: Cli, o: CreateOpts): Promise<void> {
  const fleetOnly = FLEET_ONLY.filter((k) => o[k] !== undefined);
  if (fleetOnly.length) throw new CliExit(EXIT.usage, `${fleetOnly.map(flagName).join(', ')}: only for a fleet schedule; add --fleet`);
  const input = inputFromOptions(o);
  const info = await (await cli.connect()).createSchedule({
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
  if (cli.json()) cli.printJson(info);
  else cli.print(`created schedule ${info.scheduleId}${info.paused ? ' (paused)' : ''}; next runs: ${info.nextActionTimes.map((d) => d.toISOString()).join(', ') || '-'}`);
}
