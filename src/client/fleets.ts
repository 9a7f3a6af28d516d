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
import { temporal as proto } from '@temporalio/proto';
import { progressQuery } from '../shared/contract';
import { FLEET_WORKFLOW_TYPE, fleetStatusQuery, type FleetInput, type FleetResult, type FleetSourceResult, type FleetStatus } from '../shared/fleet';
import { calendarText } from './backups/calendar';
import { startedBy } from './backups/run-fields';
import { FleetError, describeFailure } from './errors';
import { createFleetSchedule, fleetScheduleInfo, fleetSummary, type FleetScheduleInfo, type FleetScheduleOptions } from './fleet-schedule';

/** What a fleet run shows: its Temporal status and, per source, queued / running / ok / failed. */
export interface FleetRunStatus {
  workflowId: string;
  /** The fleet's current run (the last of the chain when it continued as new). */
  runId: string;
  status: string;
  /** The current run's number (1 + the times the fleet continued as new), while it runs. */
  run?: number;
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

  /**
   * The fleet's status: per source from its `fleetStatus` query while it runs (what each running backup does from
   * that backup's own `progress` query), from its result once completed. A run that continued as new is followed
   * to the run that took over.
   */
  async status(workflowId: string, runId?: string): Promise<FleetRunStatus> {
    let d = await this.describeFleet(workflowId, runId);
    while (d.status.name === 'CONTINUED_AS_NEW') d = await this.describeFleet(workflowId, await this.nextRun(workflowId, d.runId));
    const out: FleetRunStatus = { workflowId, runId: d.runId, status: d.status.name };
    const pinned = this.temporal.workflow.getHandle(workflowId, d.runId);
    if (d.status.name === 'RUNNING') {
      try {
        const st = await this.temporal.connection.withDeadline(Date.now() + this.queryTimeoutMs, () => pinned.query(fleetStatusQuery));
        out.run = st.run;
        out.counts = st.counts;
        out.sources = st.sources;
        await this.readRunningChildren(st.sources);
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
      // The run now current: after a continue-as-new the next poll starts from it, not from the first run.
      runId = s.runId;
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

  /** What each running backup does, from its own `progress` query; one that does not answer in time is left as it is. */
  private async readRunningChildren(sources: FleetSourceResult[]): Promise<void> {
    const running = sources.filter((e) => e.state === 'running');
    // A fleet runs a bounded number of children at once (its limits); still, ask at most 16 at a time.
    for (let i = 0; i < running.length; i += 16) {
      await Promise.all(
        running.slice(i, i + 16).map(async (e) => {
          try {
            const h = this.temporal.workflow.getHandle(e.workflowId, e.runId);
            const p = await this.temporal.connection.withDeadline(Date.now() + this.queryTimeoutMs, () => h.query(progressQuery));
            const waits = p.waiting?.for === 'cartridge' ? `WAITING for the cartridge of volume ${p.waiting.volume ?? '?'}, ` : 'WAITING for an operator, ';
            e.doing = `${p.outcome === 'waiting' ? waits : ''}${p.stage}: ${p.activity}`;
          } catch {
            // Not started yet, or no worker answered: shown with its start time instead.
          }
        }),
      );
    }
  }

  /** The run that a run which continued as new handed over to (its close event names it). */
  private async nextRun(workflowId: string, runId: string): Promise<string> {
    const res = await this.temporal.workflowService.getWorkflowExecutionHistory({
      namespace: this.temporal.options.namespace,
      execution: { workflowId, runId },
      historyEventFilterType: proto.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
    });
    const next = res.history?.events?.[0]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (!next) throw new FleetError(`fleet ${workflowId}: run ${runId} continued as new, but its successor is not named`);
    return next;
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
