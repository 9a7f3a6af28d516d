/**
 * Activities of the drive lock (src/workflows/drive-lock.ts): asking a drive's lock for the drive through
 * signal-with-start, and telling the lock whether its holder still runs. Both use the worker's Temporal client.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  DRIVE_LOCK_WORKFLOW_TYPE,
  acquireSignal,
  driveLockStateQuery,
  type DriveLockInput,
  type LockRequest,
} from '../shared/drive-lock';

export interface RequestDriveLockInput {
  lockWorkflowId: string;
  /** Used only when this request starts the lock. */
  lockInput: DriveLockInput;
  request: LockRequest;
}

export interface RequestDriveLockResult {
  lockWorkflowId: string;
  /** The lock's holder just after the request was queued (workflow ID), when the lock answered the query. */
  holder: string | null;
  /** Waiters ahead of this request, when known. */
  ahead: number | null;
}

export type WorkflowRunStatus =
  | 'RUNNING'
  | 'COMPLETED'
  | 'FAILED'
  | 'CANCELLED'
  | 'TERMINATED'
  | 'CONTINUED_AS_NEW'
  | 'TIMED_OUT'
  | 'NOT_FOUND'
  | 'UNKNOWN';

function needClient(client: Client | undefined): Client {
  if (!client) {
    throw ApplicationFailure.nonRetryable('the worker has no Temporal client (ActivityDeps.temporalClient)', 'NoTemporalClient');
  }
  return client;
}

export function driveLockActivities(client: Client | undefined) {
  return {
    /** Queues `request` on the drive's lock, starting the lock if it is not running (signal-with-start). */
    async requestDriveLock(input: RequestDriveLockInput): Promise<RequestDriveLockResult> {
      const c = needClient(client);
      const taskQueue = Context.current().info.taskQueue;
      const handle = await c.workflow.signalWithStart(DRIVE_LOCK_WORKFLOW_TYPE, {
        workflowId: input.lockWorkflowId,
        taskQueue,
        args: [input.lockInput],
        signal: acquireSignal,
        signalArgs: [input.request],
      });
      try {
        const state = await handle.query(driveLockStateQuery);
        const i = state.queue.findIndex((q) => q.requestId === input.request.requestId);
        return { lockWorkflowId: input.lockWorkflowId, holder: state.holder?.workflowId ?? null, ahead: i >= 0 ? i : null };
      } catch {
        // The state is only advice for the waiter's details; the request itself is queued.
        return { lockWorkflowId: input.lockWorkflowId, holder: null, ahead: null };
      }
    },

    /** The status of one workflow run, as Temporal's visibility has it; NOT_FOUND when it does not exist. */
    async describeWorkflowRun(input: { workflowId: string; runId?: string }): Promise<{ status: WorkflowRunStatus }> {
      const c = needClient(client);
      try {
        const d = await c.workflow.getHandle(input.workflowId, input.runId).describe();
        return { status: (d.status.name as WorkflowRunStatus | undefined) ?? 'UNKNOWN' };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { status: 'NOT_FOUND' };
        throw err;
      }
    },
  };
}

export type DriveLockActivities = ReturnType<typeof driveLockActivities>;
