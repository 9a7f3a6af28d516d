/**
 * Exclusive tape drives. One `driveLock` workflow per drive (ID `drive-lock/<tapehost>/<device>`) holds a FIFO queue
 * of waiting workflows and grants the drive to one of them at a time:
 *
 *   waiter ──(activity requestDriveLock: signal-with-start `acquire`)──▶ driveLock
 *   waiter ◀──────────────────(signal `driveGranted`)───────────────────  driveLock   (when it is the waiter's turn)
 *   waiter ───────────────(signal `release`, from workflow code)───────▶ driveLock   (in a finally, also on cancel)
 *
 * The lock asks Temporal every `holderCheckSeconds` whether the holder is still running (activity
 * `describeWorkflowRun`), so a holder that was terminated, timed out or failed without releasing frees the drive for
 * the next waiter. A grant that cannot be delivered (the waiter is gone) passes the drive on at once. The lock
 * continues as new before its history grows large, carrying holder, queue and recent grants; the `state` query shows
 * them (the Temporal UI's Queries tab, or `temporal workflow query --name state`).
 *
 * Workflow code that needs a drive calls `withDriveLock(drive, fn)`: acquire, run fn, release.
 */
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { DriveLockActivities } from '../activities/drive-lock';
import {
  acquireSignal,
  driveGrantedSignal,
  driveLockStateQuery,
  driveLockWorkflowId,
  releaseSignal,
  type Drive,
  type DriveLockInput,
  type LockHolder,
  type LockRequest,
  type LockTenure,
} from '../shared/drive-lock';

export const RECENT_KEPT = 50;
const RELEASED_KEPT = 200;

const { describeWorkflowRun } = proxyActivities<Pick<DriveLockActivities, 'describeWorkflowRun'>>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
});

/** The lock of one tape drive. Runs until terminated; idle it waits for a signal without adding history. */
export async function driveLock(input: DriveLockInput): Promise<void> {
  const { drive } = input;
  const checkMs = Math.max(1, input.holderCheckSeconds ?? 30) * 1000;
  const maxEvents = input.maxHistoryEvents ?? 2000;
  const lockWorkflowId = workflowInfo().workflowId;
  let holder: LockHolder | null = input.carry?.holder ?? null;
  const queue: LockRequest[] = [...(input.carry?.queue ?? [])];
  const recent: LockTenure[] = [...(input.carry?.recent ?? [])];
  /** Request IDs already released: a late or retried `acquire` of one of them is ignored. */
  const released: string[] = [...(input.carry?.released ?? [])];
  let grants = input.carry?.grants ?? 0;
  const generation = (input.carry?.generation ?? 0) + 1;
  let changes = 0;

  const now = () => new Date().toISOString();
  const remember = (requestId: string) => {
    if (!released.includes(requestId)) released.push(requestId);
    if (released.length > RELEASED_KEPT) released.splice(0, released.length - RELEASED_KEPT);
  };
  const endTenure = (end: LockTenure['end'], detail?: string) => {
    if (!holder) return;
    recent.push({ workflowId: holder.workflowId, requestId: holder.requestId, grantedAt: holder.since, releasedAt: now(), end, ...(detail ? { detail } : {}) });
    if (recent.length > RECENT_KEPT) recent.splice(0, recent.length - RECENT_KEPT);
    remember(holder.requestId);
    log.info('drive released', { drive: `${drive.host}/${drive.device}`, holder: holder.workflowId, end, detail });
    holder = null;
    changes++;
  };
  const showDetails = () => {
    const who = holder ? `held by ${holder.workflowId} since ${holder.since}` : 'free';
    const waiting = queue.length ? `; ${queue.length} waiting: ${queue.map((q) => q.workflowId).join(', ')}` : '';
    setCurrentDetails(`**${drive.host}/${drive.device}** ${who}${waiting}`);
  };

  setHandler(acquireSignal, (req) => {
    if (released.includes(req.requestId)) return;
    if (holder?.requestId === req.requestId || queue.some((q) => q.requestId === req.requestId)) return;
    queue.push({ workflowId: req.workflowId, runId: req.runId, requestId: req.requestId, queuedAt: now() });
    changes++;
    showDetails();
  });
  setHandler(releaseSignal, (msg) => {
    if (holder?.requestId === msg.requestId) endTenure('released');
    else {
      const i = queue.findIndex((q) => q.requestId === msg.requestId);
      if (i >= 0) queue.splice(i, 1);
      remember(msg.requestId);
      changes++;
    }
    showDetails();
  });
  setHandler(driveLockStateQuery, () => ({
    drive,
    holder,
    queue: [...queue],
    recent: [...recent],
    grants,
    generation,
  }));

  showDetails();
  for (;;) {
    if (!holder && queue.length) {
      const next = queue.shift()!;
      const granted: LockHolder = { ...next, since: now() };
      holder = granted;
      grants++;
      showDetails();
      try {
        await getExternalWorkflowHandle(next.workflowId, next.runId).signal(driveGrantedSignal, {
          lockWorkflowId,
          requestId: next.requestId,
        });
      } catch (err) {
        if (holder === granted) endTenure('undeliverable', (err as Error).message);
        showDetails();
      }
      continue;
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= maxEvents) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof driveLock>({
        ...input,
        carry: { holder, queue, recent, released, grants, generation },
      });
    }
    const seen = changes;
    if (!holder) {
      await condition(() => changes !== seen);
      continue;
    }
    const checked = holder;
    const changed = await condition(() => changes !== seen, checkMs);
    if (changed || holder !== checked) continue;
    try {
      const run = await describeWorkflowRun({ workflowId: checked.workflowId, runId: checked.runId });
      if (run.status !== 'RUNNING' && holder === checked) {
        endTenure('holder-gone', `holder run is ${run.status}`);
        showDetails();
      }
    } catch (err) {
      // Temporal itself unreachable from the worker: keep the holder and look again at the next check.
      log.warn('could not check the drive holder', { holder: checked.workflowId, error: (err as Error).message });
    }
  }
}

/**
 * Workflow-side helper: waits for the drive, runs `fn` holding it, and releases it when `fn` ends, fails or the
 * workflow is cancelled (the release runs in a non-cancellable scope). `onWait` is called once, with the current
 * holder's workflow ID, when the drive is not free at once. One drive lock at a time per workflow.
 */
export async function withDriveLock<T>(
  drive: Drive,
  fn: () => Promise<T>,
  onWait?: (holder: string | undefined) => void,
  options: Pick<DriveLockInput, 'holderCheckSeconds' | 'maxHistoryEvents'> = {},
): Promise<T> {
  const info = workflowInfo();
  const lockWorkflowId = driveLockWorkflowId(drive, info.taskQueue);
  const requestId = uuid4();
  let granted = false;
  // Kept per call, not in module state (the workflow sandbox may share module state between runs).
  setHandler(driveGrantedSignal, (g) => {
    if (g.requestId === requestId) granted = true;
  });
  const { requestDriveLock } = proxyActivities<Pick<DriveLockActivities, 'requestDriveLock'>>({
    startToCloseTimeout: '1m',
    retry: { maximumAttempts: 10, initialInterval: '1s', maximumInterval: '30s' },
  });
  try {
    const answer = await requestDriveLock({
      lockWorkflowId,
      lockInput: { drive, ...options },
      request: { workflowId: info.workflowId, runId: info.runId, requestId },
    });
    if (!granted && answer.holder !== info.workflowId) onWait?.(answer.holder ?? undefined);
    await condition(() => granted);
    return await fn();
  } finally {
    await CancellationScope.nonCancellable(async () => {
      try {
        await getExternalWorkflowHandle(lockWorkflowId).signal(releaseSignal, { requestId, workflowId: info.workflowId });
      } catch (err) {
        log.warn('could not signal the drive lock to release', { lockWorkflowId, error: (err as Error).message });
      }
    });
  }
}

export interface DriveLockProbeInput {
  drive: Drive;
  holdSeconds: number;
  label?: string;
  holderCheckSeconds?: number;
  maxHistoryEvents?: number;
}

export interface DriveLockProbeResult {
  label?: string;
  requestedAt: string;
  acquiredAt: string;
  releasedAt: string;
  waitedFor?: string | null;
}

/** A tiny workflow that holds a drive for `holdSeconds` and reports when it held it (tests and operators' drills). */
export async function driveLockProbe(input: DriveLockProbeInput): Promise<DriveLockProbeResult> {
  const requestedAt = new Date().toISOString();
  let acquiredAt = '';
  let waitedFor: string | null | undefined;
  await withDriveLock(
    input.drive,
    async () => {
      acquiredAt = new Date().toISOString();
      setCurrentDetails(`holding ${input.drive.host}/${input.drive.device} since ${acquiredAt}`);
      await sleep(input.holdSeconds * 1000);
    },
    (h) => {
      waitedFor = h ?? null;
      setCurrentDetails(`waiting for ${input.drive.host}/${input.drive.device}, held by ${h ?? 'unknown'}`);
    },
    { holderCheckSeconds: input.holderCheckSeconds, maxHistoryEvents: input.maxHistoryEvents },
  );
  const releasedAt = new Date().toISOString();
  return { ...(input.label ? { label: input.label } : {}), requestedAt, acquiredAt, releasedAt, ...(waitedFor !== undefined ? { waitedFor } : {}) };
}
