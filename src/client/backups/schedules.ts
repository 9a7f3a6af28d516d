/**
 * Nightly backups as Temporal Schedules: create one that starts mksysbToTape on a cron spec, list, change, pause,
 * trigger and delete them. MksysbTapeClient's schedule methods are these.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOverlapPolicy,
  type ScheduleSpec,
  type ScheduleSummary,
  type ScheduleUpdateOptions,
} from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import type { ResolvedBackup } from '../../schema';
import { WORKFLOW_TYPE, type BackupInput } from '../../shared/contract';
import { SA_SOURCE, SA_TAPE_DEVICE, SA_TAPE_HOST } from '../../shared/search-attributes';
import { ScheduleError, unreachableOr } from '../errors';
import { calendarText } from './calendar';
import { backupDetails, backupSummary, startAttributes, validateBackupInput, workflowIdFor } from './run-fields';
import type { OverlapPolicy, ScheduleBackupOptions, ScheduleInfo } from './types';

/** The policy names of the CLI and the API, in Temporal's spelling; fleet schedules use the same. */
export const OVERLAP: Record<OverlapPolicy, ScheduleOverlapPolicy> = {
  skip: 'SKIP',
  'buffer-one': 'BUFFER_ONE',
  'buffer-all': 'BUFFER_ALL',
  'cancel-other': 'CANCEL_OTHER',
  'terminate-other': 'TERMINATE_OTHER',
  'allow-all': 'ALLOW_ALL',
};
export const OVERLAP_POLICIES = Object.keys(OVERLAP) as OverlapPolicy[];

/** A workflow ID of a scheduled run: Temporal appends `-<scheduled time>` to the schedule's prefix. */
const scheduledRunId = (prefix: string) => `${prefix}-2000-01-01T00:00:00Z`;

export class BackupSchedules {
  constructor(
    private readonly temporal: Client,
    private readonly taskQueue: string,
    private readonly address: string,
  ) {}

  /** Creates a Temporal Schedule that starts a backup on a cron spec. Input validated first. */
  async create(opts: ScheduleBackupOptions): Promise<ScheduleInfo> {
    const source = workflowIdFor(opts.input).split('/')[1] ?? 'unknown';
    const scheduleId = opts.scheduleId ?? `mksysb-tape/${source}/nightly`;
    const prefix = opts.workflowIdPrefix ?? `mksysb-tape/${source}/nightly`;
    // Runs get the prefix plus `-<scheduled time>`, e.g. mksysb-tape/aix01/nightly-2024-06-01T02:00:00Z.
    const resolved = validateBackupInput(opts.input, scheduledRunId(prefix));
    try {
      const h = await this.temporal.schedule.create({
        scheduleId,
        spec: {
          cronExpressions: Array.isArray(opts.cron) ? opts.cron : [opts.cron],
          ...(opts.timeZone ? { timezone: opts.timeZone } : {}),
        },
        action: {
          type: 'startWorkflow',
          workflowType: WORKFLOW_TYPE,
          workflowId: prefix,
          taskQueue: this.taskQueue,
          args: [opts.input],
          ...scheduledRunFields(resolved, opts.input, scheduleId),
        },
        policies: {
          overlap: OVERLAP[opts.overlap ?? 'skip'],
          catchupWindow: opts.catchupWindow ?? '1h',
          pauseOnFailure: opts.pauseOnFailure ?? false,
        },
        state: { paused: opts.paused ?? false, ...(opts.note ? { note: opts.note } : {}) },
        typedSearchAttributes: [
          { key: SA_SOURCE, value: resolved.source },
          { key: SA_TAPE_HOST, value: resolved.tape.host },
          { key: SA_TAPE_DEVICE, value: resolved.tape.device },
        ],
      });
      return scheduleInfo(await h.describe());
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        throw new ScheduleError(`schedule ${scheduleId} already exists; change it with \`mksysb-tape schedule delete ${scheduleId}\` and create it again, or give another --id`);
      }
      throw unreachableOr(this.address, err);
    }
  }

  /** Schedules that start mksysbToTape runs. */
  async list(): Promise<ScheduleInfo[]> {
    const out: ScheduleInfo[] = [];
    try {
      const summaries: ScheduleSummary[] = [];
      for await (const s of this.temporal.schedule.list()) {
        if (s.action?.type === 'startWorkflow' && s.action.workflowType === WORKFLOW_TYPE) summaries.push(s);
      }
      for (const s of summaries) {
        const d = await this.handle(s.scheduleId).describe().catch(() => undefined);
        if (d) out.push(scheduleInfo(d));
      }
    } catch (err) {
      throw unreachableOr(this.address, err);
    }
    return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  }

  async describe(scheduleId: string): Promise<ScheduleInfo> {
    return await this.on(scheduleId, async (h) => scheduleInfo(await h.describe()));
  }

  async pause(scheduleId: string, note: string): Promise<void> {
    await this.on(scheduleId, (h) => h.pause(note));
  }

  async unpause(scheduleId: string, note: string): Promise<void> {
    await this.on(scheduleId, (h) => h.unpause(note));
  }

  /** Changes the cron spec, time zone, overlap policy or catch-up window, and/or the backup input. */
  async update(
    scheduleId: string,
    change: Partial<Pick<ScheduleBackupOptions, 'cron' | 'timeZone' | 'overlap' | 'catchupWindow' | 'pauseOnFailure' | 'input'>>,
  ): Promise<ScheduleInfo> {
    return await this.on(scheduleId, async (h) => {
      let resolved: ResolvedBackup | undefined;
      if (change.input) {
        const prefix = (await h.describe()).action.workflowId;
        resolved = validateBackupInput(change.input, scheduledRunId(prefix));
      }
      await h.update((prev): ScheduleUpdateOptions => {
        const spec: ScheduleSpec = { ...prev.spec };
        if (change.cron) {
          spec.calendars = [];
          spec.cronExpressions = Array.isArray(change.cron) ? change.cron : [change.cron];
        }
        if (change.timeZone) spec.timezone = change.timeZone;
        const policies = { ...prev.policies };
        if (change.overlap) policies.overlap = OVERLAP[change.overlap];
        if (change.catchupWindow !== undefined) policies.catchupWindow = msToNumber(change.catchupWindow);
        if (change.pauseOnFailure !== undefined) policies.pauseOnFailure = change.pauseOnFailure;
        let action = prev.action;
        if (change.input && resolved && action.type === 'startWorkflow') {
          action = { ...action, args: [change.input], ...scheduledRunFields(resolved, change.input, scheduleId) };
        }
        return { ...prev, spec, policies, action } as ScheduleUpdateOptions;
      });
      return scheduleInfo(await h.describe());
    });
  }

  async delete(scheduleId: string): Promise<void> {
    await this.on(scheduleId, (h) => h.delete());
  }

  /** Starts the scheduled backup now (outside its calendar), obeying its overlap policy. */
  async trigger(scheduleId: string): Promise<void> {
    await this.on(scheduleId, (h) => h.trigger());
  }

  private handle(scheduleId: string): ScheduleHandle {
    return this.temporal.schedule.getHandle(scheduleId);
  }

  private async on<T>(scheduleId: string, fn: (h: ScheduleHandle) => Promise<T>): Promise<T> {
    try {
      return await fn(this.handle(scheduleId));
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) {
        throw new ScheduleError(`no schedule ${scheduleId}; list them with \`mksysb-tape schedule list\``);
      }
      throw unreachableOr(this.address, err);
    }
  }
}

/** What each scheduled run starts with: search attributes, and the summary and details shown in the Web UI. */
function scheduledRunFields(resolved: ResolvedBackup, input: BackupInput, scheduleId: string) {
  return {
    typedSearchAttributes: startAttributes(resolved),
    staticSummary: backupSummary(resolved.source, resolved.tape),
    staticDetails: backupDetails(resolved, input, `started by schedule ${scheduleId}`),
  };
}

function scheduleInfo(d: ScheduleDescription): ScheduleInfo {
  const sa = d.typedSearchAttributes;
  const host = sa.get(SA_TAPE_HOST);
  const device = sa.get(SA_TAPE_DEVICE);
  return {
    scheduleId: d.scheduleId,
    cron: (d.spec.calendars ?? []).map(calendarText),
    ...(d.spec.timezone ? { timeZone: d.spec.timezone } : {}),
    paused: d.state.paused,
    ...(d.state.note ? { note: d.state.note } : {}),
    source: sa.get(SA_SOURCE),
    ...(host ? { tape: `${host}:${device ?? '?'}` } : {}),
    nextActionTimes: d.info.nextActionTimes.slice(0, 3),
    recentActions: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt,
      workflowId: a.action.workflow.workflowId,
      runId: a.action.workflow.firstExecutionRunId,
    })),
    overlap: d.policies.overlap,
  };
}
