/**
 * The typed client API other services use: start a backup (idempotent by workflow ID), follow its progress, get its
 * result, answer a waiting run with `retry` or `abort`, list runs by host, stage or outcome, and manage nightly
 * schedules (./schedules.ts). Every method speaks the workflow contract of src/shared/contract.ts.
 *
 *   const backups = await MksysbTapeClient.connect();            // temporal.config.ts: envconfig, task queue
 *   const { workflowId } = await backups.start({ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } });
 *   const result = await backups.result(workflowId);
 */
import {
  Client,
  Connection,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { TypedSearchAttributes, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { loadConfig, type MksysbTapeConfig } from '../../../temporal.config';
import type { ResolvedBackup } from '../../schema';
import {
  WORKFLOW_TYPE,
  abortSignal,
  abortUpdate,
  progressQuery,
  retrySignal,
  retryUpdate,
  volumeLoadedSignal,
  volumeLoadedUpdate,
  type AbortRequest,
  type BackupInput,
  type BackupProgress,
  type BackupResult,
  type RetryRequest,
  type VolumeLoadedRequest,
} from '../../shared/contract';
import { SA_OUTCOME, SA_SOURCE, SA_STAGE, SA_TAPE_DEVICE, SA_TAPE_HOST, SEARCH_ATTRIBUTES } from '../../shared/search-attributes';
import { searchAttributeProblems } from '../../namespace-setup';
import {
  BackupAlreadyStartedError,
  BackupNotFoundError,
  OperatorRequestRejectedError,
  SearchAttributesMissingError,
  TemporalUnreachableError,
  describeFailure,
  unreachableOr,
  unregisteredAttributeOf,
} from '../errors';
import { FleetClient } from '../fleets';
import { BackupSchedules } from './schedules';
import { backupDetails, backupSummary, listQuery, startAttributes, startedBy, summaryOf, validateBackupInput, workflowIdFor } from './run-fields';
import type {
  BackupStatus,
  BackupSummary,
  HeartbeatProgress,
  ListFilter,
  MksysbTapeClientOptions,
  PendingStep,
  ScheduleBackupOptions,
  ScheduleInfo,
  StartBackupOptions,
  StartedBackup,
} from './types';

/** The frontend address the config connects to, as error messages name it. */
const addressOf = (config: MksysbTapeConfig): string => config.connect.connectionOptions.address ?? 'localhost:7233';

export class MksysbTapeClient {
  readonly namespace: string;
  readonly taskQueue: string;
  private readonly queryTimeoutMs: number;
  private readonly ownsConnection: boolean;
  private readonly address: string;
  private readonly schedules: BackupSchedules;
  /** Fleets: many backups on a few drives (the mksysbFleet workflow). */
  readonly fleets: FleetClient;

  constructor(
    readonly temporal: Client,
    readonly config: MksysbTapeConfig,
    opts: { queryTimeoutMs?: number; ownsConnection?: boolean } = {},
  ) {
    this.namespace = temporal.options.namespace;
    this.taskQueue = config.taskQueue;
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 5000;
    this.ownsConnection = opts.ownsConnection ?? false;
    this.address = addressOf(config);
    this.schedules = new BackupSchedules(temporal, this.taskQueue, this.address);
    this.fleets = new FleetClient(temporal, this.taskQueue, this.queryTimeoutMs);
  }

  /** Connects with temporal.config.ts (envconfig profile or TEMPORAL_* variables). Throws TemporalUnreachableError. */
  static async connect(opts: MksysbTapeClientOptions = {}): Promise<MksysbTapeClient> {
    const config = opts.config ?? loadConfig();
    if (opts.client) return new MksysbTapeClient(opts.client, config, { queryTimeoutMs: opts.queryTimeoutMs });
    const address = addressOf(config);
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
   * this workflow ID is open or succeeded), SearchAttributesMissingError (the namespace lacks the project's search
   * attributes) or TemporalUnreachableError.
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
        typedSearchAttributes: startAttributes(resolved),
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
      const unregistered = unregisteredAttributeOf(err);
      if (unregistered) throw await this.searchAttributesMissing(unregistered);
      throw unreachableOr(this.address, err);
    }
  }

  /**
   * Why the server refused a start: it names the first unregistered attribute only, so the namespace's list is read to
   * name every one (as the worker does at start).
   */
  private async searchAttributesMissing(named: string): Promise<SearchAttributesMissingError> {
    const listed = await searchAttributeProblems(this.temporal.connection, this.namespace).catch(() => []);
    const type = SEARCH_ATTRIBUTES.find((k) => k.name === named)?.type;
    const problems = listed.length ? listed : [{ name: named, type: type ? TypedSearchAttributes.toMetadataType(type) : 'Keyword' }];
    return new SearchAttributesMissingError(this.namespace, problems);
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
      throw unreachableOr(this.address, err);
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

  /**
   * Tells a run that waits for the next cartridge of a multi-volume set that it is loaded (update `volumeLoadedNow`;
   * rejected unless the run waits for a cartridge, and for that volume when `volume` is given). With `{ signal: true }`
   * sends the `volumeLoaded` signal instead.
   */
  async volumeLoaded(workflowId: string, req: VolumeLoadedRequest = {}, opts: { signal?: boolean } = {}): Promise<string> {
    return await this.operatorRequest(workflowId, 'volume-loaded', req, opts.signal ?? false);
  }

  private async operatorRequest(
    workflowId: string,
    kind: 'retry' | 'abort' | 'volume-loaded',
    req: RetryRequest | AbortRequest | VolumeLoadedRequest,
    signal: boolean,
  ): Promise<string> {
    const h = this.handle(workflowId);
    const d = await this.describeRun(workflowId);
    if (d.status.name !== 'RUNNING') {
      throw new OperatorRequestRejectedError(workflowId, kind, `the run has already closed (${d.status.name})`);
    }
    try {
      if (signal) {
        if (kind === 'retry') await h.signal(retrySignal, req as RetryRequest);
        else if (kind === 'volume-loaded') await h.signal(volumeLoadedSignal, req as VolumeLoadedRequest);
        else await h.signal(abortSignal, req as AbortRequest);
        return `${kind} signal sent`;
      }
      if (kind === 'retry') return await h.executeUpdate<string, [RetryRequest]>(retryUpdate.name, { args: [req as RetryRequest] });
      if (kind === 'volume-loaded') return await h.executeUpdate<string, [VolumeLoadedRequest]>(volumeLoadedUpdate.name, { args: [req as VolumeLoadedRequest] });
      return await h.executeUpdate<string, [AbortRequest]>(abortUpdate.name, { args: [req as AbortRequest] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new OperatorRequestRejectedError(workflowId, kind, describeFailure(err.cause ?? err));
      }
      throw unreachableOr(this.address, err);
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
      throw unreachableOr(this.address, err);
    }
    return out;
  }

  // ---- schedules (./schedules.ts) ----------------------------------------------------------------------------------

  /** Creates a Temporal Schedule that starts a backup on a cron spec. Input validated first. */
  async createSchedule(opts: ScheduleBackupOptions): Promise<ScheduleInfo> {
    return await this.schedules.create(opts);
  }

  /** Schedules that start mksysbToTape runs. */
  async listSchedules(): Promise<ScheduleInfo[]> {
    return await this.schedules.list();
  }

  async describeSchedule(scheduleId: string): Promise<ScheduleInfo> {
    return await this.schedules.describe(scheduleId);
  }

  async pauseSchedule(scheduleId: string, note = 'paused with mksysb-tape'): Promise<void> {
    await this.schedules.pause(scheduleId, note);
  }

  async unpauseSchedule(scheduleId: string, note = 'unpaused with mksysb-tape'): Promise<void> {
    await this.schedules.unpause(scheduleId, note);
  }

  /** Changes the cron spec, time zone, overlap policy or catch-up window, and/or the backup input. */
  async updateSchedule(
    scheduleId: string,
    change: Partial<Pick<ScheduleBackupOptions, 'cron' | 'timeZone' | 'overlap' | 'catchupWindow' | 'pauseOnFailure' | 'input'>>,
  ): Promise<ScheduleInfo> {
    return await this.schedules.update(scheduleId, change);
  }

  async deleteSchedule(scheduleId: string): Promise<void> {
    await this.schedules.delete(scheduleId);
  }

  /** Starts the scheduled backup now (outside its calendar), obeying its overlap policy. */
  async triggerSchedule(scheduleId: string): Promise<void> {
    await this.schedules.trigger(scheduleId);
  }
}
