/**
 * Reading a failure's cause chain (Temporal wraps an activity's error in an ActivityFailure, a child's in a
 * ChildWorkflowFailure, a run's in a WorkflowFailedError). The one walk of `.cause`, and what each reader takes of it.
 * Pure: used by workflow code and the client alike.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, ChildWorkflowFailure } from '@temporalio/common';

/** The failure and its causes, outermost first; stops at a cause seen before. */
export function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e && !chain.includes(e); e = e instanceof Error ? e.cause : undefined) chain.push(e);
  return chain;
}

/** What went wrong in an activity: the first cause that is not an ActivityFailure wrapping another. */
function innermostOfActivity(err: unknown): unknown {
  return causeChain(err).find((e) => !(e instanceof ActivityFailure && e.cause)) ?? err;
}

/** The message of what went wrong, without the "Activity task failed" wrapper. */
export function failureMessage(err: unknown): string {
  const e = innermostOfActivity(err);
  return e instanceof Error ? e.message : String(e);
}

/** The ApplicationFailure type of what went wrong (e.g. `InputValidationError`), when it has one. */
export function failureType(err: unknown): string | undefined {
  const e = innermostOfActivity(err);
  return e instanceof ApplicationFailure ? (e.type ?? undefined) : undefined;
}

/** The message of an error and of its causes, e.g. "Activity task failed: tape write failed: dd: EIO". */
export function describeFailure(err: unknown): string {
  const parts: string[] = [];
  for (const e of causeChain(err).slice(0, 8)) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !parts.includes(msg)) parts.push(msg);
  }
  return parts.join(': ') || 'unknown failure';
}

/**
 * A child run's failure: the messages of its causes (the stage error rather than "Child Workflow execution failed");
 * `cancelled` for a child that was cancelled (Temporal keeps no message of a cancelled run: its own details say where).
 */
export function describeChildFailure(err: unknown): string {
  if (causeChain(err).some((e) => e instanceof CancelledFailure)) return 'cancelled';
  const msgs = causeChain(err)
    .filter((e): e is Error => e instanceof Error && !(e instanceof ChildWorkflowFailure))
    .map((e) => e.message);
  if (err instanceof ChildWorkflowFailure && msgs.length === 0) return `child ${err.execution?.workflowId ?? ''} ${err.message}`.trim();
  return msgs.join(': ') || String(err);
}
