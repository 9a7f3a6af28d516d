/**
 * Nightly fleet schedules: a Temporal Schedule that starts the `mksysbFleet` workflow on a cron spec in a time zone,
 * with an overlap policy (what to do when last night's fleet still runs) and a catch-up window (how late a run
 * missed while the server was down may still start).
 *
 *   const client = new Client({ connection: await Connection.connect(...) });
 *   await createFleetSchedule(client, {
 *     scheduleId: 'nightly', cron: '0 1 * * *', timeZone: 'Europe/Berlin', taskQueue: 'mksysb-tape',
 *     input: { group: 'nightly', drives: [{ host: 'tapesrv', device: 'rmt0' }, { host: 'tapesrv', device: 'rmt1' }] },
 *   });
 *
 * Runs are named `<workflowIdPrefix>-<scheduled time>` (default prefix `mksysb-fleet/<scheduleId>`), their children
 * `<fleet run ID>/<source>`. In the Web UI the schedule is under "Schedules", where it can be paused, unpaused and
 * triggered; `temporal schedule toggle --schedule-id ID --pause --reason ...` does the same from a shell.
 */
import { ScheduleAlreadyRunning, type Client, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { FLEET_WORKFLOW_TYPE, type FleetInput } from '../shared/fleet';
import { OVERLAP, OVERLAP_POLICIES } from './backups/schedules';
import type { OverlapPolicy } from './backups/types';

export interface FleetScheduleOptions {
  scheduleId: string;
  /** Cron expression(s), e.g. `0 1 * * *` (01:00 every day). */
  cron: string | string[];
  /** IANA time zone of the cron expression, e.g. `Europe/Berlin`; default UTC. */
  timeZone?: string;
  input: FleetInput;
  /** When the previous fleet still runs: default `skip` (never two fleets on the same drives' queue at once). */
  overlap?: OverlapPolicy;
  /** How late a run missed while the Temporal server was down may still start; default `1h`. */
  catchupWindow?: Duration;
  /** Task queue of the workers (temporal.config.ts `taskQueue`). */
  taskQueue: string;
  pauseOnFailure?: boolean;
  paused?: boolean;
  note?: string;
  /** Default `mksysb-fleet/<scheduleId>`; Temporal appends `-<scheduled time>`. */
  workflowIdPrefix?: string;
}

export interface FleetScheduleInfo {
  scheduleId: string;
  cron: string[];
  timeZone?: string;
  paused: boolean;
  note?: string;
  overlap: string;
  catchupWindowMs: number;
  workflowIdPrefix: string;
  nextActionTimes: Date[];
  recentActions: Array<{ scheduledAt: Date; workflowId: string; runId: string }>;
}

/** Checks what can be checked without the inventory (which lives on the worker; the fleet checks the rest). */
function checkFleetScheduleOptions(opts: FleetScheduleOptions): void {
  const problems: string[] = [];
  if (!opts.scheduleId || typeof opts.scheduleId !== 'string') problems.push('scheduleId is required');
  const crons = Array.isArray(opts.cron) ? opts.cron : [opts.cron];
  if (crons.length === 0 || crons.some((c) => typeof c !== 'string' || c.trim().split(/\s+/).length < 5)) {
    problems.push('cron must be a cron expression with five fields, e.g. "0 1 * * *"');
  }
  if (opts.overlap !== undefined && !(opts.overlap in OVERLAP)) {
    problems.push(`overlap must be one of ${OVERLAP_POLICIES.join(', ')}`);
  }
  const i = opts.input;
  if (!i || typeof i !== 'object') problems.push('input is required: {"group": "nightly", "drives": [...]}');
  else {
    if ((i.sources === undefined) === (i.group === undefined)) problems.push('input needs either "sources" or "group"');
    if (!Array.isArray(i.drives) || i.drives.length === 0) problems.push('input.drives must list at least one drive');
  }
  if (!opts.taskQueue) problems.push('taskQueue is required');
  if (problems.length) throw new Error(`invalid fleet schedule: ${problems.join('; ')}`);
}

export function fleetSummary(input: FleetInput): string {
  const what = input.group !== undefined ? `group ${input.group}` : `${input.sources?.length ?? 0} sources`;
  return `mksysb fleet of ${what} on ${input.drives.length} drive(s)`;
}

/** Creates the schedule (refused if one with this ID exists) and returns its description. */
export async function createFleetSchedule(client: Client, opts: FleetScheduleOptions): Promise<FleetScheduleInfo> {
  checkFleetScheduleOptions(opts);
  const prefix = opts.workflowIdPrefix ?? `mksysb-fleet/${opts.scheduleId}`;
  try {
    const handle = await client.schedule.create({
      scheduleId: opts.scheduleId,
      spec: {
        cronExpressions: Array.isArray(opts.cron) ? opts.cron : [opts.cron],
        ...(opts.timeZone ? { timezone: opts.timeZone } : {}),
      },
      action: {
        type: 'startWorkflow',
        workflowType: FLEET_WORKFLOW_TYPE,
        workflowId: prefix,
        taskQueue: opts.taskQueue,
        args: [opts.input],
        staticSummary: fleetSummary(opts.input),
        staticDetails: `started by schedule \`${opts.scheduleId}\`; input: \`${JSON.stringify(opts.input)}\``,
      },
      policies: {
        overlap: OVERLAP[opts.overlap ?? 'skip'],
        catchupWindow: opts.catchupWindow ?? '1h',
        pauseOnFailure: opts.pauseOnFailure ?? false,
      },
      state: { paused: opts.paused ?? false, ...(opts.note ? { note: opts.note } : {}) },
      memo: { cron: Array.isArray(opts.cron) ? opts.cron : [opts.cron], kind: 'mksysb-fleet' },
    });
    return fleetScheduleInfo(await handle.describe());
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      throw new Error(`schedule ${opts.scheduleId} already exists; delete it first or choose another ID`);
    }
    throw err;
  }
}

function fleetScheduleHandle(client: Client, scheduleId: string): ScheduleHandle {
  return client.schedule.getHandle(scheduleId);
}

export async function describeFleetSchedule(client: Client, scheduleId: string): Promise<FleetScheduleInfo> {
  return fleetScheduleInfo(await fleetScheduleHandle(client, scheduleId).describe());
}

export async function deleteFleetSchedule(client: Client, scheduleId: string): Promise<void> {
  await fleetScheduleHandle(client, scheduleId).delete();
}

export function fleetScheduleInfo(d: ScheduleDescription): FleetScheduleInfo {
  const action = d.action.type === 'startWorkflow' ? d.action : undefined;
  return {
    scheduleId: d.scheduleId,
    // The server keeps cron expressions as calendar specs; the text as given is kept in the schedule's memo.
    cron: Array.isArray(d.memo?.cron) ? (d.memo.cron as string[]) : [],
    ...(d.spec.timezone ? { timeZone: d.spec.timezone } : {}),
    paused: d.state.paused,
    ...(d.state.note ? { note: d.state.note } : {}),
    overlap: String(d.policies.overlap),
    catchupWindowMs: d.policies.catchupWindow,
    workflowIdPrefix: action?.workflowId ?? '',
    nextActionTimes: d.info.nextActionTimes,
    recentActions: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt,
      workflowId: a.action.workflow.workflowId,
      runId: a.action.workflow.firstExecutionRunId,
    })),
  };
}
