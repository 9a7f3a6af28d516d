/**
 * The typed client API other services use: start a backup (idempotent by workflow ID), follow its progress, get its
 * result, answer a waiting run with `retry` or `abort`, list runs by host, stage or outcome, and manage nightly
 * schedules. Every method speaks the workflow contract of src/shared/contract.ts.
 *
 *   const backups = await MksysbTapeClient.connect();            // temporal.config.ts: envconfig, task queue
 *   const { workflowId } = await backups.start({ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } });
 *   const result = await backups.result(workflowId);
 */
import { hostname, userInfo } from 'node:os';
import {
  Client,
  Connection,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOverlapPolicy,
  type ScheduleSpec,
  type ScheduleSummary,
  type ScheduleUpdateOptions,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
  type WorkflowHandle,
} from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, type Duration, type TypedSearchAttributes } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { loadConfig, type MksysbTapeConfig } from '../../temporal.config';
import { parseBackupInput, type ResolvedBackup } from '../schema';
import {
  WORKFLOW_TYPE,
  abortSignal,
  abortUpdate,
  backupIdFromWorkflowId,
  defaultWorkflowId,
  progressQuery,
  retrySignal,
  retryUpdate,
  type AbortRequest,
  type BackupInput,
  type BackupProgress,
  type BackupResult,
  type Outcome,
  type RetryRequest,
  type StageName,
} from '../shared/contract';
import { SA_OUTCOME, SA_SOURCE, SA_STAGE, SA_TAPE_DEVICE, SA_TAPE_HOST } from '../shared/search-attributes';
import {
  BackupAlreadyStartedError,
  BackupNotFoundError,
  OperatorRequestRejectedError,
  ScheduleError,
  TemporalUnreachableError,
} from './errors';

/** Temporal's name of a run's state: `Running`, `Completed`, `Failed`, `Canceled`, `Terminated`, `TimedOut`, ... */
export type RunStatus = WorkflowExecutionInfo['status']['name'];

export interface StartBackupOptions {
  /** Default `mksysb-tape/<source>/<YYYY-MM-DD>` (UTC date of `date`). */
  workflowId?: string;
  /** Date used in the default workflow ID; default now. */
  date?: Date;
  /**
   * When a run with this workflow ID is open: `fail` (default) refuses the start with BackupAlreadyStartedError;
   * `use-existing` returns the open run instead, so a caller that retries its own start does not start a second one.
   * A run that succeeded is never started again; one that failed, was aborted or terminated may be.
   */
  ifRunning?: 'fail' | 'use-existing';
  /** Extra text for the run's static details in the UI (e.g. a ticket number). */
  note?: string;
}

export interface StartedBackup {
  workflowId: string;
  runId: string;
  /** The input after validation, with every default applied (what the workflow will see). */
  resolved: ResolvedBackup;
  /** False when `ifRunning: 'use-existing'` attached to a run already open. */
  started: boolean;
  handle: WorkflowHandle;
}

/** The live figures of a running step, from the pending activity's last heartbeat (fields as the activity sends them). */
export interface HeartbeatProgress {
  stage?: string;
  record?: number;
  bytesDone?: number;
  bytesTotal?: number;
  elapsedMs?: number;
}

export interface PendingStep {
  activityType: string;
  activityId: string;
  /** `SCHEDULED`, `STARTED`, `CANCEL_REQUESTED`, `PAUSED`. */
  state: string;
  attempt: number;
  maximumAttempts: number;
  heartbeat?: HeartbeatProgress;
  lastHeartbeat?: Date;
  lastFailure?: string;
}

export interface BackupStatus {
  workflowId: string;
  runId: string;
  status: RunStatus;
  startTime: Date;
  closeTime?: Date;
  summary?: string;
  source?: string;
  tape?: { host?: string; device?: string };
  /** From the search attributes (kept current by the workflow). */
  stage?: string;
  outcome?: string;
  /** The `progress` query; absent when the run has closed or no worker answered in time. */
  progress?: BackupProgress;
  /** Why `progress` is absent for an open run. */
  progressError?: string;
  pending: PendingStep[];
  /** Result of a run that completed. */
  result?: BackupResult;
  /** Reason a run failed, was aborted, cancelled, terminated or timed out. */
  failure?: string;
}

export interface ListFilter {
  source?: string;
  tapeHost?: string;
  tapeDevice?: string;
  stage?: StageName | string;
  outcome?: Outcome | string;
  /** Temporal status: Running, Completed, Failed, Canceled, Terminated, TimedOut. */
  status?: string;
  /** Extra visibility query, ANDed with the rest. */
  query?: string;
  /** Default 50. */
  limit?: number;
}

export interface BackupSummary {
  workflowId: string;
  runId: string;
  status: RunStatus;
  startTime: Date;
  closeTime?: Date;
  source?: string;
  tapeHost?: string;
  tapeDevice?: string;
  stage?: string;
  outcome?: string;
}

export type OverlapPolicy = 'skip' | 'buffer-one' | 'buffer-all' | 'cancel-other' | 'terminate-other' | 'allow-all';

export interface ScheduleBackupOptions {
  input: BackupInput;
  /** Default `mksysb-tape/<source>/nightly`. */
  scheduleId?: string;
  /** Cron expression(s), e.g. `0 2 * * *` (02:00 every day). */
  cron: string | string[];
  /** IANA time zone of the cron expression, e.g. `Europe/Berlin`; default UTC. */
  timeZone?: string;
  /** What to do when the previous backup still runs (or waits for an operator): default `skip`. */
  overlap?: OverlapPolicy;
  /** How late a missed run (server down) may still start; default `1h`. */
  catchupWindow?: Duration;
  /** Pause the schedule after a failed backup, until an operator unpauses it. Default false. */
  pauseOnFailure?: boolean;
  paused?: boolean;
  note?: string;
  /** Workflow ID prefix of the runs; Temporal appends the scheduled time. Default `mksysb-tape/<source>/nightly`. */
  workflowIdPrefix?: string;
}

export interface ScheduleInfo {
  scheduleId: string;
  cron: string[];
  timeZone?: string;
  paused: boolean;
  note?: string;
  source?: string;
  tape?: string;
  nextActionTimes: Date[];
  recentActions: Array<{ scheduledAt: Date; workflowId: string; runId: string }>;
  overlap?: string;
}

export interface MksysbTapeClientOptions {
  /** Default `loadConfig()` (temporal.config.ts). */
  config?: MksysbTapeConfig;
  /** An existing Temporal client (its namespace is used); default: connect with the config. */
  client?: Client;
  /** Default 5 s: how long to wait for a worker to answer the `progress` query. */
  queryTimeoutMs?: number;
}

const OVERLAP: Record<OverlapPolicy, ScheduleOverlapPolicy> = {
  skip: 'SKIP',
  'buffer-one': 'BUFFER_ONE',
  'buffer-all': 'BUFFER_ALL',
  'cancel-other': 'CANCEL_OTHER',
  'terminate-other': 'TERMINATE_OTHER',
  'allow-all': 'ALLOW_ALL',
};
export const OVERLAP_POLICIES = Object.keys(OVERLAP) as OverlapPolicy[];

/** Static summary shown on each run in the Web UI. */
export function backupSummary(source: string, tape: { host: string; device: string }): string {
  return `mksysb of ${source} to ${tape.host}:${tape.device}`;
}

/** Static details (Temporal markdown) shown on each run in the Web UI. */
export function backupDetails(resolved: ResolvedBackup, input: BackupInput, note?: string): string {
  const lines = [
    `**Bootable mksysb tape** of \`${resolved.source}\` written to \`${resolved.tape.device}\` on \`${resolved.tape.host}\`.`,
    '',
    `- backup ID: \`${resolved.backupId}\``,
    `- mksysb flags: \`${resolved.mksysbFlags.join(' ')}\`, record 4 block size ${resolved.record4BlockSize}`,
    `- verification: ${resolved.verify}; overwrite a written cartridge: ${resolved.overwrite ? 'yes' : 'no'}`,
    `- after ${resolved.retry.maxAttempts} failed attempts of a step the run waits ${resolved.operatorWaitHours} h for \`retry\` or \`abort\``,
    `- input: \`${JSON.stringify(input)}\``,
  ];
  if (note) lines.push(`- note: ${note}`);
  return lines.join('\n');
}

/** Visibility query for `list`. Values are quoted; unknown stages and outcomes are the caller's business. */
export function listQuery(filter: ListFilter): string {
  const q = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const parts = [`WorkflowType = ${q(WORKFLOW_TYPE)}`];
  if (filter.source) parts.push(`${SA_SOURCE.name} = ${q(filter.source)}`);
  if (filter.tapeHost) parts.push(`${SA_TAPE_HOST.name} = ${q(filter.tapeHost)}`);
  if (filter.tapeDevice) parts.push(`${SA_TAPE_DEVICE.name} = ${q(filter.tapeDevice)}`);
  if (filter.stage) parts.push(`${SA_STAGE.name} = ${q(filter.stage)}`);
  if (filter.outcome) parts.push(`${SA_OUTCOME.name} = ${q(filter.outcome)}`);
  if (filter.status) parts.push(`ExecutionStatus = ${q(filter.status)}`);
  if (filter.query) parts.push(`(${filter.query})`);
  return parts.join(' AND ');
}

/** The message of an error and of its causes, e.g. "Activity task failed: tape write failed: dd: EIO". */
export function describeFailure(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 8; i++) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !parts.includes(msg)) parts.push(msg);
    e = e instanceof Error ? (e as Error & { cause?: unknown }).cause : undefined;
  }
  return parts.join(': ') || 'unknown failure';
}

function isUnavailable(err: unknown): boolean {
  if (err instanceof TemporalUnreachableError) return true;
  if (isGrpcServiceError(err)) return err.code === 14; // UNAVAILABLE
  const m = err instanceof Error ? err.message : '';
  return /ECONNREFUSED|UNAVAILABLE|Failed to connect|connect ETIMEDOUT|deadline/i.test(m);
}

/**
 * Validates the input as the workflow does (same function, same messages; the backup ID defaults to the workflow ID
 * made file-name safe). Throws InputValidationError naming every bad field.
 */
export function validateBackupInput(input: BackupInput, workflowId: string): ResolvedBackup {
  return parseBackupInput(input, { workflowId: backupIdFromWorkflowId(workflowId) });
}

/** The workflow ID of a backup: the given one, else `mksysb-tape/<source>/<YYYY-MM-DD>` (UTC date). */
export function workflowIdFor(input: BackupInput, opts: Pick<StartBackupOptions, 'workflowId' | 'date'> = {}): string {
  const source = typeof (input as { source?: unknown })?.source === 'string' ? (input as { source: string }).source : '';
  return opts.workflowId ?? defaultWorkflowId(source, opts.date ?? new Date());
}

export class MksysbTapeClient {
  readonly namespace: string;
  readonly taskQueue: string;
  private readonly queryTimeoutMs: number;

  constructor(
    readonly temporal: Client,
    readonly config: MksysbTapeConfig,
    opts: { queryTimeoutMs?: number; ownsConnection?: boolean } = {},
  ) {
    this.namespace = temporal.options.namespace;
    this.taskQueue = config.taskQueue;
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 5000;
    this.ownsConnection = opts.ownsConnection ?? false;
  }

  private readonly ownsConnection: boolean;

  /** Connects with temporal.config.ts (envconfig profile or TEMPORAL_* variables). Throws TemporalUnreachableError. */
  static async connect(opts: MksysbTapeClientOptions = {}): Promise<MksysbTapeClient> {
    const config = opts.config ?? loadConfig();
    if (opts.client) return new MksysbTapeClient(opts.client, config, { queryTimeoutMs: opts.queryTimeoutMs });
    const address = config.connect.connectionOptions.address ?? 'localhost:7233';
    let connection: Connection;
    try {
      connection = await Connection.connect({ connectTimeout: '5s', ...config.connect.connectionOptions });
    } catch (err) {
      throw new TemporalUnreachableError(address, describeFailure(err));
    }
    const client = new Client({ connection, namespace: config.connect.namespace });
    return new MksysbTapeClient(client, config, { queryTimeoutMs: opts.queryTimeoutMs, ownsConnection: true });
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.temporal.connection.close();
  }

  /** Validates the input as the workflow will (same messages), without starting anything. */
  validate(input: BackupInput, workflowId: string): ResolvedBackup {
    return validateBackupInput(input, workflowId);
  }

  /** The workflow ID a start with these options gets. */
  workflowIdFor(input: BackupInput, opts: Pick<StartBackupOptions, 'workflowId' | 'date'> = {}): string {
    return workflowIdFor(input, opts);
  }

  /**
   * Starts a backup. Throws InputValidationError (bad input, nothing started), BackupAlreadyStartedError (a run with
   * this workflow ID is open or succeeded) or TemporalUnreachableError.
   */
  async start(input: BackupInput, opts: StartBackupOptions = {}): Promise<StartedBackup> {
    const workflowId = this.workflowIdFor(input, opts);
    const resolved = this.validate(input, workflowId);
    try {
      if (opts.ifRunning === 'use-existing') {
        const open = await this.temporal.workflow
          .getHandle(workflowId)
          .describe()
          .catch(() => undefined);
        if (open?.status.name === 'RUNNING') {
          return { workflowId, runId: open.runId, resolved, started: false, handle: this.handle(workflowId, open.runId) };
        }
      }
      const handle = await this.temporal.workflow.start(WORKFLOW_TYPE, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        // A second start while a run is open: refused (or, asked for, the open run is returned). After a run closed:
        // allowed only when it did not succeed, so a finished tape is never written twice by accident.
        workflowIdConflictPolicy: opts.ifRunning === 'use-existing' ? 'USE_EXISTING' : 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        typedSearchAttributes: this.startAttributes(resolved),
        staticSummary: backupSummary(resolved.source, resolved.tape),
        staticDetails: backupDetails(resolved, input, opts.note ?? `started by ${startedBy()}`),
      });
      const runId = handle.firstExecutionRunId;
      const started = true;
      return { workflowId, runId, resolved, started, handle };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        const existing = await this.temporal.workflow
          .getHandle(workflowId)
          .describe()
          .catch(() => undefined);
        throw new BackupAlreadyStartedError(workflowId, existing?.status.name, existing?.runId);
      }
      if (isUnavailable(err)) throw new TemporalUnreachableError(this.address, describeFailure(err));
      throw err;
    }
  }

  private get address(): string {
    return this.config.connect.connectionOptions.address ?? 'localhost:7233';
  }

  private startAttributes(resolved: ResolvedBackup) {
    return [
      { key: SA_SOURCE, value: resolved.source },
      { key: SA_TAPE_HOST, value: resolved.tape.host },
      { key: SA_TAPE_DEVICE, value: resolved.tape.device },
      { key: SA_STAGE, value: 'validating' },
      { key: SA_OUTCOME, value: 'running' },
    ];
  }

  /** The Temporal handle of a backup (latest run unless runId is given). */
  handle(workflowId: string, runId?: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(workflowId, runId);
  }

  private async describeRun(workflowId: string, runId?: string): Promise<WorkflowExecutionDescription> {
    try {
      return await this.handle(workflowId, runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new BackupNotFoundError(workflowId, this.namespace);
      if (isUnavailable(err)) throw new TemporalUnreachableError(this.address, describeFailure(err));
      throw err;
    }
  }

  /** The `progress` query (answered by a worker). Rejects after the query timeout when no worker answers. */
  async progress(workflowId: string, runId?: string): Promise<BackupProgress> {
    const h = this.handle(workflowId, runId);
    return await this.temporal.connection.withDeadline(Date.now() + this.queryTimeoutMs, () => h.query(progressQuery));
  }

  /**
   * Everything known about a run: Temporal's status, search attributes, the `progress` query while open, the pending
   * steps with their heartbeat figures, and the result or the failure once closed.
   */
  async status(workflowId: string, runId?: string): Promise<BackupStatus> {
    const d = await this.describeRun(workflowId, runId);
    const sa = d.typedSearchAttributes;
    const out: BackupStatus = {
      workflowId: d.workflowId,
      runId: d.runId,
      status: d.status.name,
      startTime: d.startTime,
      ...(d.closeTime ? { closeTime: d.closeTime } : {}),
      ...(await d.staticSummary().then((s) => (s ? { summary: s } : {}), () => ({}))),
      source: sa.get(SA_SOURCE),
      tape: { host: sa.get(SA_TAPE_HOST), device: sa.get(SA_TAPE_DEVICE) },
      stage: sa.get(SA_STAGE),
      outcome: sa.get(SA_OUTCOME),
      pending: await this.pendingSteps(d),
    };
    if (d.status.name === 'RUNNING') {
      try {
        out.progress = await this.progress(d.workflowId, d.runId);
      } catch (err) {
        out.progressError = `no worker answered the progress query (${describeFailure(err)}); is a worker running on task queue ${d.taskQueue}?`;
      }
    } else if (d.status.name === 'COMPLETED') {
      out.result = (await this.handle(d.workflowId, d.runId).result()) as BackupResult;
    } else {
      out.failure = await this.handle(d.workflowId, d.runId)
        .result()
        .then(
          () => d.status.name,
          (err: unknown) => (err instanceof WorkflowFailedError ? describeFailure(err.cause ?? err) : describeFailure(err)),
        );
    }
    return out;
  }

  private async pendingSteps(d: WorkflowExecutionDescription): Promise<PendingStep[]> {
    const converter = this.temporal.options.loadedDataConverter;
    const out: PendingStep[] = [];
    for (const p of d.raw.pendingActivities ?? []) {
      let heartbeat: HeartbeatProgress | undefined;
      const payloads = p.heartbeatDetails?.payloads;
      if (payloads?.length) {
        const v = await decodeFromPayloadsAtIndex<unknown>(converter, 0, payloads).catch(() => undefined);
        if (v && typeof v === 'object' && !Array.isArray(v)) heartbeat = v as HeartbeatProgress;
      }
      const state = String(p.state ?? '');
      out.push({
        activityType: p.activityType?.name ?? '?',
        activityId: p.activityId ?? '?',
        state: state.replace(/^PENDING_ACTIVITY_STATE_/, ''),
        attempt: p.attempt ?? 1,
        maximumAttempts: p.maximumAttempts ?? 0,
        ...(heartbeat ? { heartbeat } : {}),
        ...(p.lastHeartbeatTime?.seconds ? { lastHeartbeat: new Date(Number(p.lastHeartbeatTime.seconds) * 1000) } : {}),
        ...(p.lastFailure?.message ? { lastFailure: p.lastFailure.message } : {}),
      });
    }
    return out;
  }

  /** Waits for the run to close and returns its result; throws WorkflowFailedError when it failed or was aborted. */
  async result(workflowId: string, runId?: string): Promise<BackupResult> {
    return (await this.handle(workflowId, runId).result()) as BackupResult;
  }

  /**
   * Tells a run waiting for an operator to try again (update `retryNow`; rejected when the run is not waiting).
   * With `{ signal: true }` sends the `retry` signal instead, which a run also accepts while not waiting.
   */
  async retry(workflowId: string, req: RetryRequest = {}, opts: { signal?: boolean } = {}): Promise<string> {
    return await this.operatorRequest(workflowId, 'retry', req, opts.signal ?? false);
  }

  /** Aborts a run waiting for an operator (update `abortNow`), or any open run with `{ signal: true }`. */
  async abort(workflowId: string, req: AbortRequest = {}, opts: { signal?: boolean } = {}): Promise<string> {
    return await this.operatorRequest(workflowId, 'abort', req, opts.signal ?? false);
  }

  private async operatorRequest(workflowId: string, kind: 'retry' | 'abort', req: RetryRequest | AbortRequest, signal: boolean): Promise<string> {
    const h = this.handle(workflowId);
    const d = await this.describeRun(workflowId);
    if (d.status.name !== 'RUNNING') {
      throw new OperatorRequestRejectedError(workflowId, kind, `the run has already closed (${d.status.name})`);
    }
    try {
      if (signal) {
        if (kind === 'retry') await h.signal(retrySignal, req as RetryRequest);
        else await h.signal(abortSignal, req as AbortRequest);
        return `${kind} signal sent`;
      }
      if (kind === 'retry') return await h.executeUpdate<string, [RetryRequest]>(retryUpdate.name, { args: [req as RetryRequest] });
      return await h.executeUpdate<string, [AbortRequest]>(abortUpdate.name, { args: [req as AbortRequest] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new OperatorRequestRejectedError(workflowId, kind, describeFailure(err.cause ?? err));
      }
      if (isUnavailable(err)) throw new TemporalUnreachableError(this.address, describeFailure(err));
      throw err;
    }
  }

  /** Runs matching the filter, newest first (visibility is eventually consistent: a change shows within a second or so). */
  async list(filter: ListFilter = {}): Promise<BackupSummary[]> {
    const limit = filter.limit ?? 50;
    const out: BackupSummary[] = [];
    try {
      for await (const w of this.temporal.workflow.list({ query: listQuery(filter), pageSize: Math.min(limit, 100) })) {
        out.push(summaryOf(w));
        if (out.length >= limit) break;
      }
    } catch (err) {
      if (isUnavailable(err)) throw new TemporalUnreachableError(this.address, describeFailure(err));
      throw err;
    }
    return out;
  }

  // ---- schedules -------------------------------------------------------------------------------------------------

  /** Creates a Temporal Schedule that starts a backup on a cron spec. Input validated first. */
  async createSchedule(opts: ScheduleBackupOptions): Promise<ScheduleInfo> {
    const source = this.workflowIdFor(opts.input).split('/')[1] ?? 'unknown';
    const scheduleId = opts.scheduleId ?? `mksysb-tape/${source}/nightly`;
    const prefix = opts.workflowIdPrefix ?? `mksysb-tape/${source}/nightly`;
    // Runs get the prefix plus `-<scheduled time>`, e.g. mksysb-tape/aix01/nightly-2024-06-01T02:00:00Z.
    const resolved = this.validate(opts.input, `${prefix}-2000-01-01T00:00:00Z`);
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
          typedSearchAttributes: this.startAttributes(resolved),
          staticSummary: backupSummary(resolved.source, resolved.tape),
          staticDetails: backupDetails(resolved, opts.input, `started by schedule ${scheduleId}`),
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
      if (isUnavailable(err)) throw new TemporalUnreachableError(this.address, describeFailure(err));
      throw err;
    }
  }

  /** Schedules that start mksysbToTape runs. */
  async listSchedules(): Promise<ScheduleInfo[]> {
    const out: ScheduleInfo[] = [];
    try {
      const summaries: ScheduleSummary[] = [];
      for await (const s of this.temporal.schedule.list()) {
        if (s.action?.type === 'startWorkflow' && s.action.workflowType === WORKFLOW_TYPE) summaries.push(s);
      }
      for (const s of summaries) {
        const d = await this.scheduleHandle(s.scheduleId).describe().catch(() => undefined);
        if (d) out.push(scheduleInfo(d));
      }
    } catch (err) {
      if (isUnavailable(err)) throw new TemporalUnreachableError(this.address, describeFailure(err));
      throw err;
    }
    return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  }

  async describeSchedule(scheduleId: string): Promise<ScheduleInfo> {
    return await this.onSchedule(scheduleId, async (h) => scheduleInfo(await h.describe()));
  }

  async pauseSchedule(scheduleId: string, note = 'paused with mksysb-tape'): Promise<void> {
    await this.onSchedule(scheduleId, (h) => h.pause(note));
  }

  async unpauseSchedule(scheduleId: string, note = 'unpaused with mksysb-tape'): Promise<void> {
    await this.onSchedule(scheduleId, (h) => h.unpause(note));
  }

  /** Changes the cron spec, time zone, overlap policy or catch-up window, and/or the backup input. */
  async updateSchedule(
    scheduleId: string,
    change: Partial<Pick<ScheduleBackupOptions, 'cron' | 'timeZone' | 'overlap' | 'catchupWindow' | 'pauseOnFailure' | 'input'>>,
  ): Promise<ScheduleInfo> {
    return await this.onSchedule(scheduleId, async (h) => {
      let resolved: ResolvedBackup | undefined;
      if (change.input) {
        const prefix = (await h.describe()).action.workflowId;
        resolved = this.validate(change.input, `${prefix}-2000-01-01T00:00:00Z`);
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
        if (change.catchupWindow !== undefined) policies.catchupWindow = msOf(change.catchupWindow);
        if (change.pauseOnFailure !== undefined) policies.pauseOnFailure = change.pauseOnFailure;
        let action = prev.action;
        if (change.input && resolved && action.type === 'startWorkflow') {
          action = {
            ...action,
            args: [change.input],
            typedSearchAttributes: this.startAttributes(resolved),
            staticSummary: backupSummary(resolved.source, resolved.tape),
            staticDetails: backupDetails(resolved, change.input, `started by schedule ${scheduleId}`),
          };
        }
        return { ...prev, spec, policies, action } as ScheduleUpdateOptions;
      });
      return scheduleInfo(await h.describe());
    });
  }

  async deleteSchedule(scheduleId: string): Promise<void> {
    await this.onSchedule(scheduleId, (h) => h.delete());
  }

  /** Starts the scheduled backup now (outside its calendar), obeying its overlap policy. */
  async triggerSchedule(scheduleId: string): Promise<void> {
    await this.onSchedule(scheduleId, (h) => h.trigger());
  }

  private scheduleHandle(scheduleId: string): ScheduleHandle {
    return this.temporal.schedule.getHandle(scheduleId);
  }

  private async onSchedule<T>(scheduleId: string, fn: (h: ScheduleHandle) => Promise<T>): Promise<T> {
    try {
      return await fn(this.scheduleHandle(scheduleId));
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) {
        throw new ScheduleError(`no schedule ${scheduleId}; list them with \`mksysb-tape schedule list\``);
      }
      if (isUnavailable(err)) throw new TemporalUnreachableError(this.address, describeFailure(err));
      throw err;
    }
  }
}

function msOf(d: Duration): number {
  return msToNumber(d);
}

function summaryOf(w: WorkflowExecutionInfo): BackupSummary {
  const sa: TypedSearchAttributes = w.typedSearchAttributes;
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    status: w.status.name,
    startTime: w.startTime,
    ...(w.closeTime ? { closeTime: w.closeTime } : {}),
    source: sa.get(SA_SOURCE),
    tapeHost: sa.get(SA_TAPE_HOST),
    tapeDevice: sa.get(SA_TAPE_DEVICE),
    stage: sa.get(SA_STAGE),
    outcome: sa.get(SA_OUTCOME),
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

/**
 * A calendar spec (the server's form of a cron expression) printed in cron order, `*` for a whole range:
 * `0 2 * * *`, `30 3 * * MONDAY-FRIDAY`.
 */
export function calendarText(cal: object): string {
  const c = cal as Record<string, unknown>;
  const full: Record<string, [unknown, unknown]> = {
    second: [0, 59],
    minute: [0, 59],
    hour: [0, 23],
    dayOfMonth: [1, 31],
    month: ['JANUARY', 'DECEMBER'],
    dayOfWeek: ['SUNDAY', 'SATURDAY'],
  };
  const show = (f: string): string => {
    const v = c[f];
    if (!Array.isArray(v) || v.length === 0) return '*';
    return v
      .map((r: { start?: unknown; end?: unknown; step?: unknown }) => {
        const end = r.end ?? r.start;
        const step = r.step !== undefined && r.step !== 0 && r.step !== 1 ? `/${String(r.step)}` : '';
        if (full[f] && r.start === full[f]![0] && end === full[f]![1]) return `*${step}`;
        return `${String(r.start)}${end !== r.start ? `-${String(end)}` : ''}${step}`;
      })
      .join(',');
  };
  const fields = ['minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'].map(show);
  const sec = show('second');
  return [...(sec !== '0' ? [sec] : []), ...fields].join(' ');
}

function startedBy(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()} via the mksysb-tape client`;
}
