/**
 * Fleets through the client API: start a mksysbFleet run, read its status (per source: queued, running on which drive,
 * ok, failed), follow it to its end, and create and list fleet schedules. `MksysbTapeClient.fleets` is one of these.
 *
 *   const api = await MksysbTapeClient.connect();
 *   const { workflowId } = await api.fleets.start({ group: 'nightly', drives: [{ host: 'tapesrv', device: 'rmt0' }] });
 *   const end = await api.fleets.follow(workflowId);
 */
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { FLEET_WORKFLOW_TYPE, fleetStatusQuery, type FleetInput, type FleetResult, type FleetSourceResult, type FleetStatus } from '../shared/fleet';
import { calendarText } from './backups/calendar';
import { startedBy } from './backups/run-fields';
import { FleetError, describeFailure } from './errors';
import { createFleetSchedule, fleetScheduleInfo, fleetSummary, type FleetScheduleInfo, type FleetScheduleOptions } from './fleet-schedule';

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

/** A fleet schedule with the fleet input it starts. */
export type FleetScheduleEntry = FleetScheduleInfo & { kind: 'fleet'; input?: FleetInput };

export interface StartFleetOptions {
  /** Default `mksysb-fleet/<group or sources>/<YYYY-MM-DD>` (fleetWorkflowId). */
  workflowId?: string;
  /** Text for the run's static details in the UI; default who started it. */
  note?: string;
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

/** A fleet's progress as the CLI prints it: a change of its status or of any source's state. */
const stateKey = (s: FleetRunStatus) => `${s.status}|${(s.sources ?? []).map((e) => `${e.source}=${e.state}`).join(',')}`;

export class FleetClient {
  constructor(
    private readonly temporal: Client,
    private readonly taskQueue: string,
    private readonly queryTimeoutMs: number,
  ) {}

  /** Starts a fleet. Throws FleetError when a run with this ID runs or succeeded (a failed one may start again). */
  async start(input: FleetInput, opts: StartFleetOptions = {}): Promise<{ workflowId: string; runId: string }> {
    const workflowId = opts.workflowId ?? fleetWorkflowId(input);
    try {
      const h = await this.temporal.workflow.start(FLEET_WORKFLOW_TYPE, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        staticSummary: fleetSummary(input),
        staticDetails: `${opts.note ?? `started by ${startedBy()}`}; input: \`${JSON.stringify(input)}\``,
      });
      return { workflowId, runId: h.firstExecutionRunId };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new FleetError(`fleet ${workflowId} was already started (it runs, or it succeeded); see it with: mksysb-tape fleet status ${workflowId}, or give another --workflow-id`);
      }
      throw err;
    }
  }

  /** The fleet's status: per source from its `fleetStatus` query while it runs, from its result once completed. */
  async status(workflowId: string, runId?: string): Promise<FleetRunStatus> {
    const d = await this.describeFleet(workflowId, runId);
    const out: FleetRunStatus = { workflowId, runId: d.runId, status: d.status.name };
    const pinned = this.temporal.workflow.getHandle(workflowId, d.runId);
    if (d.status.name === 'RUNNING') {
      try {
        const st = await this.temporal.connection.withDeadline(Date.now() + this.queryTimeoutMs, () => pinned.query(fleetStatusQuery));
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
  async follow(
    workflowId: string,
    opts: { runId?: string; intervalMs?: number; onChange?: (s: FleetRunStatus, prev?: FleetRunStatus) => void } = {},
  ): Promise<FleetRunStatus> {
    let { runId } = opts;
    let prev: FleetRunStatus | undefined;
    for (;;) {
      const s = await this.status(workflowId, runId);
      if (!prev || stateKey(s) !== stateKey(prev)) opts.onChange?.(s, prev);
      if (s.status !== 'RUNNING') return s;
      prev = s;
      runId ??= s.runId;
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 2000));
    }
  }

  /** Creates a schedule that starts the fleet. Throws FleetError for options or a spec the server refuses, or an ID in use. */
  async createSchedule(opts: Omit<FleetScheduleOptions, 'taskQueue'>): Promise<FleetScheduleInfo> {
    try {
      return await createFleetSchedule(this.temporal, { ...opts, taskQueue: this.taskQueue });
    } catch (err) {
      const m = (err as Error).message;
      if (/^invalid fleet schedule|already exists/.test(m) || (err as { name?: string }).name === 'ServiceError') throw new FleetError(m, { cause: err });
      throw err;
    }
  }

  /** Fleet schedules (they start mksysbFleet) with the fleet input each one starts, by ID. */
  async listSchedules(): Promise<FleetScheduleEntry[]> {
    const out: FleetScheduleEntry[] = [];
    const ids: string[] = [];
    for await (const s of this.temporal.schedule.list()) {
      if (s.action?.type === 'startWorkflow' && s.action.workflowType === FLEET_WORKFLOW_TYPE) ids.push(s.scheduleId);
    }
    for (const id of ids) {
      const d = await this.temporal.schedule.getHandle(id).describe().catch(() => undefined);
      if (!d) continue;
      const input = d.action.type === 'startWorkflow' ? (d.action.args?.[0] as FleetInput | undefined) : undefined;
      const info = fleetScheduleInfo(d);
      if (!info.cron.length) info.cron = (d.spec.calendars ?? []).map(calendarText);
      out.push({ kind: 'fleet', ...info, nextActionTimes: info.nextActionTimes.slice(0, 3), ...(input ? { input } : {}) });
    }
    return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  }

  private async describeFleet(workflowId: string, runId?: string): Promise<WorkflowExecutionDescription> {
    let d: WorkflowExecutionDescription;
    try {
      d = await this.temporal.workflow.getHandle(workflowId, runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new FleetError(`no fleet run with workflow ID ${workflowId}`);
      throw err;
    }
    if (d.type !== FLEET_WORKFLOW_TYPE) throw new FleetError(`${workflowId} is a ${d.type} run, not a fleet; use mksysb-tape status`);
    return d;
  }
}
