/**
 * `mksysbFleet`: a night's backups of many sources on a few drives. Reads like this:
 *
 *   1. resolve the sources (a list, or an inventory group) and check the drives against the inventory;
 *   2. order the sources longest first, by the tape bytes of each one's last completed backup (unknown sizes first);
 *   3. start child `mksysbToTape` runs (ID `<fleet ID>/<source>`), each given a drive, while the limits allow:
 *      at most `maxConcurrentMksysbPerTapeHost` running children per tape host and `maxConcurrentTransfers` in all;
 *      a new child gets the drive with the fewest running children (the drive a finished child just freed), and
 *      writeWhileMksysb (when backupInput asks for it) only where holding the drive cannot delay another's write;
 *   4. a child that fails is recorded and the others go on; the result lists every source: ok or failed, drive,
 *      bytes, error.
 *
 * How the limits bound the work: a child runs mksysb, then the transfer, then the tape phase, one at a time, so
 * bounding running children bounds concurrent mksysbs and transfers alike (a child waiting for its drive also counts).
 * The default per tape host is two children per drive: while one writes, the next makes and transfers its images.
 * Exclusivity of a drive does not depend on this assignment: each child holds its drive's lock (withDriveLock) from
 * tape preparation through verification.
 *
 * Its history is bounded whatever the fleet's size and duration:
 * - It adds events only when a child starts or ends (about 9 per source), never with time: it does not poll its
 *   children. What a running child does is the child's own (its details, its `progress` query); FleetClient.status
 *   reads it from the children when asked.
 * - It continues as new when Temporal suggests it or its history reaches `maxHistoryEvents`, carrying the board
 *   (every source's entry, drives, limits) in its input. Temporal does not carry children over: a child belongs to
 *   the run that started it, its end is recorded in that run's history only, and its ParentClosePolicy is applied
 *   when that run closes, continue-as-new included. So children are started with ABANDON (REQUEST_CANCEL would
 *   cancel every running backup at each continue-as-new), and a continued run waits for the children of earlier
 *   runs with one activity (awaitFleetChildren) that long-polls their results through the client and returns when
 *   one ends, whatever the way: completed, failed, cancelled, terminated or timed out. Signals from the children
 *   would need the backup workflow to know of fleets and would miss a terminated child; polling them would grow
 *   the history with time. The activity's attempts (it may wait a day for an operator) add no events.
 * - Cancelling the fleet cancels its running children: the SDK cancels those of the current run (they were started
 *   in its scope), the fleet cancels those of earlier runs itself. A fleet that is terminated leaves its children
 *   running (docs/fleets.md says how to find them).
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { FleetActivities } from '../activities/fleet';
import { parseBackupInput, type BackupInput } from '../schema';
import { WORKFLOW_TYPE, backupIdFromWorkflowId, type BackupResult } from '../shared/contract';
import { describeChildFailure } from '../shared/failures';
import {
  backupTapeBytes,
  fleetStatusQuery,
  type Drive,
  type FleetInput,
  type FleetResult,
  type FleetSourceResult,
} from '../shared/fleet';
import { SA_SOURCE } from '../shared/search-attributes';
import { FleetBoard, childLimits, longestFirst } from './fleet-board';

export const DEFAULT_MAX_HISTORY_EVENTS = 4000;

const { resolveFleet, lastBackupSizes } = proxyActivities<FleetActivities>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
});

// Each attempt watches for up to an hour, heartbeating; the next attempt (unlimited, no history added) goes on.
const { awaitFleetChildren } = proxyActivities<FleetActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '1s', maximumInterval: '1m' },
});

export async function mksysbFleet(input: FleetInput): Promise<FleetResult> {
  const fleetId = workflowInfo().workflowId;
  // Each child's backup ID (which names its staging files) is its workflow ID made file-name safe.
  // writeWhileMksysb holds the drive through the child's mksysb: asked for in backupInput, a child has it only when
  // holding the drive cannot delay another backup's write (FleetBoard.holdThroughMksysb).
  const childInput = (source: string, tape: Drive, holdsDrive = false): BackupInput => {
    const child = { ...(input.backupInput ?? {}), source, tape, backupId: backupIdFromWorkflowId(`${fleetId}/${source}`) } as BackupInput;
    if (child.writeWhileMksysb && !holdsDrive) child.writeWhileMksysb = false;
    return child;
  };
  const { board, startedAt } = input.carry
    ? { board: FleetBoard.restore(fleetId, input.carry), startedAt: input.carry.startedAt }
    : await firstRun(input, fleetId, childInput);
  setHandler(fleetStatusQuery, () => board.status());
  board.showDetails();

  // 3. children started while the limits allow, each on the drive with the fewest running children; those of
  // earlier runs waited for by one activity
  const maxEvents = input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS;
  const earlier = [...board.entries.values()].filter((e) => e.state === 'running');
  const children: Promise<void>[] = earlier.length ? [awaitEarlierChildren(board, earlier)] : [];
  const queue = board.queued();
  let startedHere = 0;
  try {
    while (queue.length) {
      const info = workflowInfo();
      // Each run starts at least one child, so that a bound below what a run begins with still makes progress.
      if (startedHere > 0 && (info.continueAsNewSuggested || info.historyLength >= maxEvents)) {
        // Every start confirmed, so that each running entry carries its child's run ID.
        await condition(() => board.starting === 0 && allHandlersFinished());
        await continueAsNew<typeof mksysbFleet>({ ...input, carry: board.carry(startedAt) });
      }
      const drive = board.nextDrive();
      if (!drive) {
        const before = board.finished;
        await condition(() => board.finished !== before);
        continue;
      }
      const source = queue.shift()!;
      // Asked first: patched() records its marker only in fleets where the rule can apply.
      const holdsDrive = input.backupInput?.writeWhileMksysb === true && mayHoldThroughMksysb(board.holdThroughMksysb(source, drive, queue.length));
      board.take(drive);
      startedHere++;
      children.push(runChild(board, board.begin(source, drive), childInput(source, drive, holdsDrive)));
    }
    // 4. every child ended, ok or failed
    await Promise.all(children);
    if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('fleet cancelled');
  } catch (err) {
    if (isCancellation(err)) await CancellationScope.nonCancellable(() => cancelEarlierChildren(earlier));
    throw err;
  }

  const c = board.count();
  const done = new Date();
  return {
    fleetId,
    runs: board.run,
    startedAt,
    finishedAt: done.toISOString(),
    seconds: Math.round((done.getTime() - Date.parse(startedAt)) / 100) / 10,
    drives: board.drives,
    limits: board.limits,
    ok: c.ok,
    failed: c.failed,
    // Without the children's run IDs: the result is the fleet's largest payload (Temporal warns above 512 KiB).
    results: board.startedOrder.map((s) => withoutRunId(board.entries.get(s)!)),
  };
}

/**
 * Fleets started before a lone child of known size could stream (`longest`) gave the option only to a child with
 * nothing queued (`free`); their histories replay with that rule.
 */
export const LONGEST_ALONE_STREAMS = 'fleet-longest-alone-streams';

function mayHoldThroughMksysb(why: 'free' | 'longest' | undefined): boolean {
  return why === 'free' || (why === 'longest' && patched(LONGEST_ALONE_STREAMS));
}

function withoutRunId(e: FleetSourceResult): FleetSourceResult {
  const { runId: _runId, ...rest } = e;
  return rest;
}

/** Steps 1 and 2, in the fleet's first run: the board of sources, longest first, and the drives and limits. */
async function firstRun(
  input: FleetInput,
  fleetId: string,
  childInput: (source: string, tape: Drive) => BackupInput,
): Promise<{ board: FleetBoard; startedAt: string }> {
  const startedAt = new Date().toISOString();
  // 1. the sources and drives, checked against the inventory; the children's options checked once
  const { sources, drives } = await resolveFleet({
    ...(input.sources !== undefined ? { sources: input.sources } : {}),
    ...(input.group !== undefined ? { group: input.group } : {}),
    drives: input.drives,
  });
  assertFleetInput(input, () => parseBackupInput(childInput(sources[0]!, drives[0]!), { workflowId: `${fleetId}/${sources[0]!}` }));

  // 2. longest first
  let sizes: Record<string, number> = {};
  try {
    sizes = await lastBackupSizes({ sources });
  } catch (err) {
    log.warn('sizes of earlier backups unknown; keeping the given order', { error: (err as Error).message });
  }
  const board = new FleetBoard(fleetId, drives, childLimits(input, drives));
  for (const s of longestFirst(sources, sizes)) board.queue(s, `${fleetId}/${s}`, sizes[s]);
  return { board, startedAt };
}

/** A typo in the children's options fails the fleet instead of every child. */
function assertFleetInput(input: FleetInput, parseFirstChild: () => unknown): void {
  try {
    if (input.backupInput && 'backupId' in input.backupInput) throw new Error('backupId: is set per source by the fleet; leave it out');
    parseFirstChild();
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`invalid backupInput: ${(err as Error).message}`, 'InvalidFleetInput');
  }
  for (const [name, v] of [
    ['maxConcurrentMksysbPerTapeHost', input.maxConcurrentMksysbPerTapeHost],
    ['maxConcurrentTransfers', input.maxConcurrentTransfers],
    ['maxHistoryEvents', input.maxHistoryEvents],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw ApplicationFailure.nonRetryable(`invalid fleet input: ${name} must be a whole number of at least 1`, 'InvalidFleetInput');
    }
  }
}

/** One child backup, started by this run; a failure is recorded on the board and the others go on. */
async function runChild(board: FleetBoard, e: FleetSourceResult, input: BackupInput): Promise<void> {
  board.starting++;
  let started = false;
  try {
    const child = await startChild(WORKFLOW_TYPE, {
      workflowId: e.workflowId,
      args: [input],
      // Survives the fleet's continue-as-new (see the module comment); a cancelled fleet cancels it itself.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [{ key: SA_SOURCE, value: e.source }],
    });
    e.runId = child.firstExecutionRunId;
    board.starting--;
    started = true;
    const result = (await child.result()) as BackupResult;
    board.end(e, { bytes: backupTapeBytes(result) });
  } catch (err) {
    if (!started) board.starting--;
    board.end(e, { error: describeChildFailure(err) });
  }
}

/** Waits for children that earlier runs of the fleet started, until every one has ended. */
async function awaitEarlierChildren(board: FleetBoard, earlier: FleetSourceResult[]): Promise<void> {
  let left = earlier;
  while (left.length) {
    const { ended } = await awaitFleetChildren({ children: left.map((e) => ({ workflowId: e.workflowId, ...(e.runId ? { runId: e.runId } : {}) })) });
    for (const end of ended) {
      const e = left.find((x) => x.workflowId === end.workflowId);
      if (e) board.end(e, end.ok ? { bytes: end.bytes } : { error: end.error });
    }
    left = left.filter((e) => e.state === 'running');
  }
}

/** A cancelled fleet asks the still-running children of its earlier runs to cancel (this run's are cancelled by the SDK). */
async function cancelEarlierChildren(earlier: FleetSourceResult[]): Promise<void> {
  await Promise.all(
    earlier
      .filter((e) => e.state === 'running')
      .map(async (e) => {
        try {
          await getExternalWorkflowHandle(e.workflowId, e.runId).cancel();
        } catch (err) {
          log.warn('could not cancel a child of an earlier run', { workflowId: e.workflowId, error: (err as Error).message });
        }
      }),
  );
}
