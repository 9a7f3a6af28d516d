/**
 * `mksysbFleet`: a night's backups of many sources on a few drives. Reads like this:
 *
 *   1. resolve the sources (a list, or an inventory group) and check the drives against the inventory;
 *   2. order the sources longest first, by the tape bytes of each one's last completed backup (unknown sizes first);
 *   3. start child `mksysbToTape` runs (ID `<fleet ID>/<source>`), each given a drive, while the limits allow:
 *      at most `maxConcurrentMksysbPerTapeHost` running children per tape host and `maxConcurrentTransfers` in all;
 *      a new child gets the drive with the fewest running children (the drive a finished child just freed);
 *   4. a child that fails is recorded and the others go on; the result lists every source: ok or failed, drive,
 *      bytes, error.
 *
 * How the limits bound the work: a child runs mksysb, then the transfer, then the tape phase, one at a time, so
 * bounding running children bounds concurrent mksysbs and transfers alike (a child waiting for its drive also counts).
 * The default per tape host is two children per drive: while one writes, the next makes and transfers its images.
 * Exclusivity of a drive does not depend on this assignment: each child holds its drive's lock (withDriveLock) from
 * tape preparation through verification.
 */
import {
  ApplicationFailure,
  ParentClosePolicy,
  condition,
  log,
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
} from '../shared/fleet';
import { SA_SOURCE } from '../shared/search-attributes';
import { FleetBoard, childLimits, longestFirst } from './fleet-board';

const { resolveFleet, lastBackupSizes, fleetChildProgress } = proxyActivities<FleetActivities>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
});

export async function mksysbFleet(input: FleetInput): Promise<FleetResult> {
  const info = workflowInfo();
  const fleetId = info.workflowId;
  const started = new Date();
  // 1. the sources and drives, checked against the inventory; the children's options checked once
  const { sources, drives } = await resolveFleet({
    ...(input.sources !== undefined ? { sources: input.sources } : {}),
    ...(input.group !== undefined ? { group: input.group } : {}),
    drives: input.drives,
  });
  // Each child's backup ID (which names its staging files) is its workflow ID made file-name safe.
  const childId = (source: string) => `${fleetId}/${source}`;
  const childInput = (source: string, tape: Drive): BackupInput =>
    ({ ...(input.backupInput ?? {}), source, tape, backupId: backupIdFromWorkflowId(childId(source)) }) as BackupInput;
  assertFleetInput(input, () => parseBackupInput(childInput(sources[0]!, drives[0]!), { workflowId: childId(sources[0]!) }));

  // 2. longest first
  let sizes: Record<string, number> = {};
  try {
    sizes = await lastBackupSizes({ sources });
  } catch (err) {
    log.warn('sizes of earlier backups unknown; keeping the given order', { error: (err as Error).message });
  }
  const order = longestFirst(sources, sizes);
  const limits = childLimits(input, drives);
  const board = new FleetBoard(fleetId, sources.length, drives, limits);
  for (const s of order) board.queue(s, childId(s), sizes[s]);
  setHandler(fleetStatusQuery, () => board.status());

  // 3. children started while the limits allow, each on the drive with the fewest running children
  let allDone = false;
  const watcher = watchChildren(board, (input.detailsEverySeconds ?? 30) * 1000, () => allDone);
  board.showDetails();
  const queue = [...order];
  const children: Promise<void>[] = [];
  while (queue.length) {
    const drive = board.nextDrive();
    if (!drive) {
      const before = board.finished;
      await condition(() => board.finished !== before);
      continue;
    }
    const source = queue.shift()!;
    board.take(drive);
    children.push(runChild(board, source, drive, childInput(source, drive)));
  }
  // 4. every child ended, ok or failed
  await Promise.all(children);
  allDone = true;
  await watcher;

  const c = board.count();
  const done = new Date();
  return {
    fleetId,
    startedAt: started.toISOString(),
    finishedAt: done.toISOString(),
    seconds: Math.round((done.getTime() - started.getTime()) / 100) / 10,
    drives,
    limits,
    ok: c.ok,
    failed: c.failed,
    results: board.startedOrder.map((s) => board.entries.get(s)!),
  };
}

/** A typo in the children's options fails the fleet instead of every child. */
function assertFleetInput(input: FleetInput, parseFirstChild: () => unknown): void {
  try {
    if (input.backupInput && 'backupId' in input.backupInput) throw new Error('backupId: is set per source by the fleet; leave it out');
    parseFirstChild();
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`invalid backupInput: ${(err as Error).message}`, 'InvalidFleetInput');
  }
  for (const [name, v] of [['maxConcurrentMksysbPerTapeHost', input.maxConcurrentMksysbPerTapeHost], ['maxConcurrentTransfers', input.maxConcurrentTransfers]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw ApplicationFailure.nonRetryable(`invalid fleet input: ${name} must be a whole number of at least 1`, 'InvalidFleetInput');
    }
  }
}

/** One child backup of `source` on `drive`; a failure is recorded on the board and the others go on. */
async function runChild(board: FleetBoard, source: string, drive: Drive, input: BackupInput): Promise<void> {
  const e = board.entries.get(source)!;
  const t0 = Date.now();
  e.state = 'running';
  e.drive = drive;
  e.startedAt = new Date(t0).toISOString();
  board.startedOrder.push(source);
  board.showDetails();
  try {
    const child = await startChild(WORKFLOW_TYPE, {
      workflowId: e.workflowId,
      args: [input],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: [{ key: SA_SOURCE, value: source }],
    });
    const result = (await child.result()) as BackupResult;
    e.state = 'ok';
    e.bytes = backupTapeBytes(result);
  } catch (err) {
    e.state = 'failed';
    e.error = describeChildFailure(err);
  } finally {
    const t1 = Date.now();
    e.finishedAt = new Date(t1).toISOString();
    delete e.doing;
    e.seconds = Math.round((t1 - t0) / 100) / 10;
    board.release(drive);
    board.showDetails();
  }
}

/** Every `everyMs` (0: never), asks the running children what they do, for the fleet's details, until `done`. */
async function watchChildren(board: FleetBoard, everyMs: number, done: () => boolean): Promise<void> {
  while (everyMs > 0 && !done()) {
    if (await condition(done, everyMs)) break;
    const ids = [...board.entries.values()].filter((e) => e.state === 'running').map((e) => e.workflowId);
    if (!ids.length) continue;
    try {
      const now = await fleetChildProgress({ workflowIds: ids });
      for (const e of board.entries.values()) {
        const p = e.state === 'running' ? now[e.workflowId] : undefined;
        if (p) e.doing = `${p.outcome === 'waiting' ? 'WAITING for an operator, ' : ''}${p.stage}: ${p.activity}`;
      }
      board.showDetails();
    } catch (err) {
      log.warn('could not ask the children what they do', { error: (err as Error).message });
    }
  }
}
