/**
 * A cancel request (Temporal UI's "Request Cancellation", `temporal workflow cancel`, a fleet cancelled with its
 * children) as the run sees it. The steps' activities stop their remote commands before they end
 * (WAIT_CANCELLATION_COMPLETED in stage-activities.ts), but one that stopped its command may report that as a failure
 * rather than a cancellation, and the server does not retry it: so the run asks its root scope, not only the error.
 */
import { CancellationScope, CancelledFailure, isCancellation } from '@temporalio/workflow';
import { failureMessage } from '../shared/failures';

/** True once the run was asked to cancel, or when `err` is a cancellation. */
export function runCancelled(err?: unknown): boolean {
  return CancellationScope.current().consideredCancelled || (err !== undefined && isCancellation(err));
}

/**
 * What the run throws to end as Canceled: the cancellation itself, or a CancelledFailure around the failure a step
 * reported while it was being cancelled (the SDK cancels the run only for a cancellation error).
 */
export function asCancellation(err: unknown): unknown {
  if (isCancellation(err)) return err;
  return new CancelledFailure(`cancelled: ${failureMessage(err)}`, [], err instanceof Error ? err : undefined);
}
