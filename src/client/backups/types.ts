/**
 * The shapes of the client API: what a start takes and returns, a run's status and list entry, a schedule.
 */
import type { Client, WorkflowExecutionInfo, WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { MksysbTapeConfig } from '../../../temporal.config';
import type { ResolvedBackup } from '../../schema';
import type { BackupInput, BackupProgress, BackupResult, HeartbeatProgress, Outcome, StageName } from '../../shared/contract';

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

/** The live figures of a running step: the pending activity's last heartbeat, as the activities send it. */
export type { HeartbeatProgress };

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
