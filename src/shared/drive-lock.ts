/**
 * The public contract of the `driveLock` workflow (one per tape drive, src/workflows/drive-lock.ts): its name, ID,
 * input, state, signals and query. Used by the workflow, its activities and tests. Pure: no Node built-ins.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Drive } from './drive';

export const DRIVE_LOCK_WORKFLOW_TYPE = 'driveLock';
/** The production task queue (temporal.config.ts default): locks there are named `drive-lock/<host>/<device>`. */
export const DEFAULT_TASK_QUEUE = 'mksysb-tape';

export type { Drive };

/**
 * Workflow ID of a drive's lock. Locks are shared by the workflows of one task queue (the workers of one deployment,
 * one inventory). On the default queue the ID is `drive-lock/<host>/<device>`; on any other queue (tests, a second
 * deployment with its own inventory) the queue is part of it, `drive-lock/<queue>/<host>/<device>`, so that two
 * labs' "tapesrv" are not mistaken for one drive.
 */
export function driveLockWorkflowId(drive: Drive, taskQueue: string): string {
  return taskQueue === DEFAULT_TASK_QUEUE
    ? `drive-lock/${drive.host}/${drive.device}`
    : `drive-lock/${taskQueue}/${drive.host}/${drive.device}`;
}

/** A waiter: the workflow run that asked, and a request ID unique to this acquisition. */
export interface LockRequest {
  workflowId: string;
  runId: string;
  requestId: string;
  /** When the lock queued the request (ISO time, set by the lock). */
  queuedAt?: string;
}

export interface LockHolder extends LockRequest {
  /** When the drive was granted (ISO time). */
  since: string;
}

/** One past tenure of the drive, newest last in `DriveLockState.recent`. */
export interface LockTenure {
  workflowId: string;
  requestId: string;
  grantedAt: string;
  releasedAt: string;
  /** `released` by the holder; `holder-gone` (found not running: terminated, failed, timed out, ...);
   * `undeliverable` (the grant signal could not reach the waiter). */
  end: 'released' | 'holder-gone' | 'undeliverable';
  detail?: string;
}

export interface DriveLockState {
  drive: Drive;
  holder: LockHolder | null;
  queue: LockRequest[];
  /** The last tenures (at most `RECENT_KEPT`), oldest first. */
  recent: LockTenure[];
  /** Grants so far over all runs of this lock (continue-as-new carries it). */
  grants: number;
  /** Runs of this lock workflow so far (1 + continue-as-new count). */
  generation: number;
}

export interface DriveLockInput {
  drive: Drive;
  /** How often the lock checks that its holder is still running. Default 30. */
  holderCheckSeconds?: number;
  /** Continue as new once the history has this many events (or when Temporal suggests it). Default 2000. */
  maxHistoryEvents?: number;
  /** Carried over by continue-as-new. */
  carry?: {
    holder: LockHolder | null;
    queue: LockRequest[];
    recent: LockTenure[];
    released: string[];
    grants: number;
    generation: number;
  };
}

export interface GrantMessage {
  lockWorkflowId: string;
  requestId: string;
}

export interface ReleaseMessage {
  requestId: string;
  workflowId: string;
}

export const acquireSignal = defineSignal<[LockRequest]>('acquire');
export const releaseSignal = defineSignal<[ReleaseMessage]>('release');
/** Sent by the lock to the waiter whose turn it is. */
export const driveGrantedSignal = defineSignal<[GrantMessage]>('driveGranted');
export const driveLockStateQuery = defineQuery<DriveLockState>('state');
