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
  type DriveLockState,
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
  const checkMs = Math.max(1, input.holderCheckSeconds ?? 30) * 1000;
  const maxEvents = input.maxHistoryEvents ?? 2000;
  const lockWorkflowId = workflowInfo().workflowId;
  const book = new LockBook(input);

  setHandler(acquireSignal, (req) => book.queueRequest(req));
  setHandler(releaseSignal, (msg) => book.release(msg.requestId));
  setHandler(driveLockStateQuery, () => book.state());

  book.showDetails();
  for (;;) {
    if (!book.holder && book.queue.length) {
      // The next waiter's turn: grant it the drive, or pass the drive on when the grant cannot reach it.
      const granted = book.grantNext();
      try {
        await getExternalWorkflowHandle(granted.workflowId, granted.runId).signal(driveGrantedSignal, {
          lockWorkflowId,
          requestId: granted.requestId,
        });
      } catch (err) {
        if (book.holder === granted) book.endTenure('undeliverable', (err as Error).message);
        book.showDetails();
      }
      continue;
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= maxEvents) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof driveLock>({ ...input, carry: book.carry() });
    }
    const seen = book.changes;
    if (!book.holder) {
      await condition(() => book.changes !== seen);
      continue;
    }
    // Held: every checkMs without a change, ask Temporal whether the holder still runs.
    const checked = book.holder;
    const changed = await condition(() => book.changes !== seen, checkMs);
    if (changed || book.holder !== checked) continue;
    try {
      const run = await describeWorkflowRun({ workflowId: checked.workflowId, runId: checked.runId });
      if (run.status !== 'RUNNING' && book.holder === checked) {
        book.endTenure('holder-gone', `holder run is ${run.status}`);
        book.showDetails();
      }
    } catch (err) {
      // Temporal itself unreachable from the worker: keep the holder and look again at the next check.
      log.warn('could not check the drive holder', { holder: checked.workflowId, error: (err as Error).message });
    }
  }
}

/** The lock's book: holder, waiters, recent tenures and released requests, carried over by continue-as-new. */
class LockBook {
  readonly drive: Drive;
  holder: LockHolder | null;
  readonly queue: LockRequest[];
  private readonly recent: LockTenure[];
  /** Request IDs already released: a late or retried `acquire` of one of them is ignored. */
  private readonly released: string[];
  private grants: number;
  private readonly generation: number;
  /** Bumped by every change the lock's loop waits for. */
  changes = 0;

  constructor(input: DriveLockInput) {
    this.drive = input.drive;
    this.holder = input.carry?.holder ?? null;
    this.queue = [...(input.carry?.queue ?? [])];
    this.recent = [...(input.carry?.recent ?? [])];
    this.released = [...(input.carry?.released ?? [])];
    this.grants = input.carry?.grants ?? 0;
    this.generation = (input.carry?.generation ?? 0) + 1;
  }

  queueRequest(req: LockRequest): void {
    if (this.released.includes(req.requestId)) return;
    if (this.holder?.requestId === req.requestId || this.queue.some((q) => q.requestId === req.requestId)) return;
    this.queue.push({ workflowId: req.workflowId, runId: req.runId, requestId: req.requestId, queuedAt: now() });
    this.changes++;
    this.showDetails();
  }

  release(requestId: string): void {
    if (this.holder?.requestId === requestId) this.endTenure('released');
    else {
      const i = this.queue.findIndex((q) => q.requestId === requestId);
      if (i >= 0) this.queue.splice(i, 1);
      this.remember(requestId);
      this.changes++;
    }
    this.showDetails();
  }

  /** The first waiter becomes the holder. */
  grantNext(): LockHolder {
    const next = this.queue.shift()!;
    const granted: LockHolder = { ...next, since: now() };
    this.holder = granted;
    this.grants++;
    this.showDetails();
    return granted;
  }

  endTenure(end: LockTenure['end'], detail?: string): void {
    const { holder, drive } = this;
    if (!holder) return;
    this.recent.push({ workflowId: holder.workflowId, requestId: holder.requestId, grantedAt: holder.since, releasedAt: now(), end, ...(detail ? { detail } : {}) });
    if (this.recent.length > RECENT_KEPT) this.recent.splice(0, this.recent.length - RECENT_KEPT);
    this.remember(holder.requestId);
    log.info('drive released', { drive: `${drive.host}/${drive.device}`, holder: holder.workflowId, end, detail });
    this.holder = null;
    this.changes++;
  }

  showDetails(): void {
    const { holder, queue, drive } = this;
    const who = holder ? `held by ${holder.workflowId} since ${holder.since}` : 'free';
    const waiting = queue.length ? `; ${queue.length} waiting: ${queue.map((q) => q.workflowId).join(', ')}` : '';
    setCurrentDetails(`**${drive.host}/${drive.device}** ${who}${waiting}`);
  }

  state(): DriveLockState {
    return { drive: this.drive, holder: this.holder, queue: [...this.queue], recent: [...this.recent], grants: this.grants, generation: this.generation };
  }

  carry(): NonNullable<DriveLockInput['carry']> {
    const { holder, queue, recent, released, grants, generation } = this;
    return { holder, queue, recent, released, grants, generation };
  }

  private remember(requestId: string): void {
    if (!this.released.includes(requestId)) this.released.push(requestId);
    if (this.released.length > RELEASED_KEPT) this.released.splice(0, this.released.length - RELEASED_KEPT);
  }
}

const now = () => new Date().toISOString();

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
