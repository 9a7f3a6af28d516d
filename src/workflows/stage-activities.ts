/**
 * The activity options of each stage: its policy's timeouts and retries (as the run received them in its plan, so a
 * run keeps the policies it started with), the summary the Temporal UI shows for the call, and cancellation that
 * waits for the remote command to stop.
 */
import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities, RunPlan } from '../activities';
import { DEFAULT_POLICIES } from '../shared/policies';
import { POLICY_KEY, type ActivityStage } from '../shared/stages';

/** The activities, called in `stage` with `summary` (e.g. `write record 4/4, mksysb image, 3.0 MiB, to tapesrv:rmt0`). */
export function stageActivities(plan: RunPlan | undefined, stage: ActivityStage, summary: string): Activities {
  const p = plan?.policies[POLICY_KEY[stage]] ?? DEFAULT_POLICIES[POLICY_KEY[stage]];
  // Validation and clean-up keep their own attempts; the backup's `retry.maxAttempts` is for the work in between.
  const ownAttempts = stage === 'validating' || stage === 'cleanup';
  const opts: ActivityOptions = {
    startToCloseTimeout: p.startToCloseTimeout,
    heartbeatTimeout: p.heartbeatTimeout,
    summary,
    // On cancellation the run waits for the activity to stop its remote command (mksysb, dd) before it ends.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: ownAttempts ? p.maximumAttempts : plan?.backup.retry.maxAttempts ?? p.maximumAttempts,
      initialInterval: p.initialInterval,
      backoffCoefficient: p.backoffCoefficient,
      maximumInterval: p.maximumInterval,
      nonRetryableErrorTypes: plan?.nonRetryableTypes,
    },
  };
  return proxyActivities<Activities>(opts);
}
