/**
 * Errors of the client API. Each says what went wrong and what to do about it; the CLI maps them to exit codes.
 */
import { isGrpcServiceError } from '@temporalio/client';
import { describeFailure } from '../shared/failures';

/** A second start of a backup whose workflow ID is running or already succeeded. */
export class BackupAlreadyStartedError extends Error {
  override readonly name = 'BackupAlreadyStartedError';
  constructor(
    readonly workflowId: string,
    /** `RUNNING`, `COMPLETED`, ... when known. */
    readonly existingStatus: string | undefined,
    readonly existingRunId: string | undefined,
  ) {
    super(
      existingStatus === 'RUNNING'
        ? `backup ${workflowId} is already running (run ${existingRunId ?? '?'}); watch it with \`mksysb-tape watch ${workflowId}\`, ` +
            'or give another --workflow-id to start a separate backup'
        : existingStatus === 'COMPLETED'
          ? `backup ${workflowId} already succeeded; it is not written twice. Give another --workflow-id to make a new tape`
          : `a backup with workflow ID ${workflowId} exists${existingStatus ? ` (${existingStatus})` : ''} and may not be started again; ` +
            'give another --workflow-id',
    );
  }
}

/** Temporal cannot be reached (address, TLS, API key, or the server is down). */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(
    readonly address: string,
    readonly detail: string,
  ) {
    super(
      `cannot reach Temporal at ${address}: ${detail}. Check TEMPORAL_ADDRESS / TEMPORAL_PROFILE (or --address), ` +
        'TLS and API key settings, and that the server is up (`npm run dev` starts one locally)',
    );
  }
}

/** No run with this workflow ID in the namespace. */
export class BackupNotFoundError extends Error {
  override readonly name = 'BackupNotFoundError';
  constructor(
    readonly workflowId: string,
    namespace: string,
  ) {
    super(`no backup with workflow ID ${workflowId} in namespace ${namespace}; list them with \`mksysb-tape list\``);
  }
}

/** `retry`/`abort` sent to a run that is not waiting for an operator, or that has finished. */
export class OperatorRequestRejectedError extends Error {
  override readonly name = 'OperatorRequestRejectedError';
  constructor(
    readonly workflowId: string,
    readonly request: 'retry' | 'abort',
    readonly reason: string,
  ) {
    super(`${request} of ${workflowId} was refused: ${reason}`);
  }
}

/** A schedule with this ID does not exist, or already exists. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

/** The message of an error and of its causes (the cause-chain walk the workflows use too). */
export { describeFailure };

function isUnavailable(err: unknown): boolean {
  if (err instanceof TemporalUnreachableError) return true;
  if (isGrpcServiceError(err)) return err.code === 14; // UNAVAILABLE
  const m = err instanceof Error ? err.message : '';
  return /ECONNREFUSED|UNAVAILABLE|Failed to connect|connect ETIMEDOUT|deadline/i.test(m);
}

/**
 * What a failed call to Temporal throws: TemporalUnreachableError when the server could not be reached (so the CLI
 * exits 3 and says what to check), else the error itself.
 */
export function unreachableOr(address: string, err: unknown): unknown {
  return isUnavailable(err) ? new TemporalUnreachableError(address, describeFailure(err)) : err;
}

/** A fleet run that does not exist, is no fleet, or was already started; a fleet schedule the server refused. */
export class FleetError extends Error {
  override readonly name = 'FleetError';
}
