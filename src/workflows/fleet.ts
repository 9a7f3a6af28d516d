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
  setCurrentDetails,
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
  type FleetSourceState,
} from '../shared/fleet';
import { SA_SOURCE } from '../shared/search-attributes';

const { resolveFleet, lastBackupSizes, fleetChildProgress } = proxyActivities<FleetActivities>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
});

const driveKey = (d: Drive) => `${d.host}/${d.device}`;

export async function mksysbFleet(input: FleetInput): Promise<FleetResult> {
  const info = workflowInfo();
  const fleetId = info.workflowId;
  const started = new Date();
  const { sources, drives } = await resolveFleet({
    ...(input.sources !== undefined ? { sources: input.sources } : {}),
    ...(input.group !== undefined ? { group: input.group } : {}),
    drives: input.drives,
  });

  // The children's common options, checked once here so that a typo fails the fleet instead of every child.
  // Each child's backup ID (which names its staging files) is its workflow ID made file-name safe.
  const childId = (source: string) => `${fleetId}/${source}`;
  const childInput = (source: string, tape: Drive): BackupInput =>
    ({ ...(input.backupInput ?? {}), source, tape, backupId: backupIdFromWorkflowId(childId(source)) }) as BackupInput;
  try {
    if (input.backupInput && 'backupId' in input.backupInput) throw new Error('backupId: is set per source by the fleet; leave it out');
    parseBackupInput(childInput(sources[0]!, drives[0]!), { workflowId: childId(sources[0]!) });
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`invalid backupInput: ${(err as Error).message}`, 'InvalidFleetInput');
  }
  for (const [name, v] of [['maxConcurrentMksysbPerTapeHost', input.maxConcurrentMksysbPerTapeHost], ['maxConcurrentTransfers', input.maxConcurrentTransfers]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw ApplicationFailure.nonRetryable(`invalid fleet input: ${name} must be a whole number of at least 1`, 'InvalidFleetInput');
    }
  }

  let sizes: Record<string, number> = {};
  try {
    sizes = await lastBackupSizes({ sources });
  } catch (err) {
    log.warn('sizes of earlier backups unknown; keeping the given order', { error: (err as Error).message });
  }
  // Longest first; sources never backed up before (unknown size) go first, in the given order.
  const order = sources
    .map((s, i) => ({ s, i, b: sizes[s] }))
    .sort((a, b) => (a.b === undefined ? -Infinity : -a.b) - (b.b === undefined ? -Infinity : -b.b) || a.i - b.i)
    .map((x) => x.s);

  const tapeHosts = [...new Set(drives.map((d) => d.host))];
  const perTapeHost: Record<string, number> = {};
  for (const h of tapeHosts) {
    perTapeHost[h] = input.maxConcurrentMksysbPerTapeHost ?? 2 * drives.filter((d) => d.host === h).length;
  }
  const total = input.maxConcurrentTransfers ?? null;

  const entries = new Map<string, FleetSourceResult>();
  for (const s of order) {
    entries.set(s, {
      source: s,
      state: 'queued',
      workflowId: childId(s),
      ...(sizes[s] !== undefined ? { expectedBytes: sizes[s] } : {}),
    });
  }
  const startedOrder: string[] = [];
  const runningOn = new Map<string, number>(drives.map((d) => [driveKey(d), 0]));
  let running = 0;
  let finished = 0;

  const count = (): Record<FleetSourceState, number> => {
    const c = { queued: 0, running: 0, ok: 0, failed: 0 };
    for (const e of entries.values()) c[e.state]++;
    return c;
  };
  const showDetails = () => {
    const c = count();
    const lines = [
      `**Fleet** ${sources.length} sources on ${drives.length} drives: ${c.ok} ok, ${c.failed} failed, ${c.running} running, ${c.queued} queued`,
      '',
      ...drives.map((d) => {
        const on = [...entries.values()].filter((e) => e.state === 'running' && e.drive && driveKey(e.drive) === driveKey(d));
        return `- ${driveKey(d)}: ${on.length ? on.map((e) => e.source).join(', ') : 'idle'}`;
      }),
      '',
      ...[...entries.values()].map((e) => {
        switch (e.state) {
          case 'queued':
            return `- ${e.source}: queued`;
          case 'running':
            return `- ${e.source}: running on ${driveKey(e.drive!)} since ${e.startedAt}${e.doing ? `; ${e.doing}` : ''}`;
          case 'ok':
            return `- ${e.source}: ok on ${driveKey(e.drive!)}, ${e.bytes} bytes, ${e.seconds}s`;
          case 'failed':
            return `- ${e.source}: FAILED${e.drive ? ` on ${driveKey(e.drive)}` : ''}: ${e.error}`;
        }
      }),
    ];
    setCurrentDetails(lines.join('\n'));
  };
  setHandler(fleetStatusQuery, () => ({ fleetId, counts: count(), sources: [...entries.values()].map((e) => ({ ...e })) }));

  const runningOnHost = (h: string) => drives.filter((d) => d.host === h).reduce((n, d) => n + runningOn.get(driveKey(d))!, 0);
  /** The drive for the next child: on a tape host under its limit, fewest running children, first listed on ties. */
  const pickDrive = (): Drive | undefined => {
    let best: Drive | undefined;
    for (const d of drives) {
      if (runningOnHost(d.host) >= perTapeHost[d.host]!) continue;
      if (!best || runningOn.get(driveKey(d))! < runningOn.get(driveKey(best))!) best = d;
    }
    return best;
  };

  const runChild = async (source: string, drive: Drive): Promise<void> => {
    const e = entries.get(source)!;
    const t0 = Date.now();
    e.state = 'running';
    e.drive = drive;
    e.startedAt = new Date(t0).toISOString();
    startedOrder.push(source);
    showDetails();
    try {
      const child = await startChild(WORKFLOW_TYPE, {
        workflowId: e.workflowId,
        args: [childInput(source, drive)],
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
      runningOn.set(driveKey(drive), runningOn.get(driveKey(drive))! - 1);
      running--;
      finished++;
      showDetails();
    }
  };

  let allDone = false;
  const detailsEvery = (input.detailsEverySeconds ?? 30) * 1000;
  const watchChildren = async () => {
    while (detailsEvery > 0 && !allDone) {
      if (await condition(() => allDone, detailsEvery)) break;
      const ids = [...entries.values()].filter((e) => e.state === 'running').map((e) => e.workflowId);
      if (!ids.length) continue;
      try {
        const now = await fleetChildProgress({ workflowIds: ids });
        for (const e of entries.values()) {
          const p = e.state === 'running' ? now[e.workflowId] : undefined;
          if (p) e.doing = `${p.outcome === 'waiting' ? 'WAITING for an operator, ' : ''}${p.stage}: ${p.activity}`;
        }
        showDetails();
      } catch (err) {
        log.warn('could not ask the children what they do', { error: (err as Error).message });
      }
    }
  };
  const watcher = watchChildren();

  showDetails();
  const queue = [...order];
  const children: Promise<void>[] = [];
  while (queue.length) {
    const drive = total !== null && running >= total ? undefined : pickDrive();
    if (!drive) {
      const before = finished;
      await condition(() => finished !== before);
      continue;
    }
    const source = queue.shift()!;
    runningOn.set(driveKey(drive), runningOn.get(driveKey(drive))! + 1);
    running++;
    children.push(runChild(source, drive));
  }
  await Promise.all(children);
  allDone = true;
  await watcher;

  const c = count();
  const done = new Date();
  return {
    fleetId,
    startedAt: started.toISOString(),
    finishedAt: done.toISOString(),
    seconds: Math.round((done.getTime() - started.getTime()) / 100) / 10,
    drives,
    limits: { perTapeHost, total },
    ok: c.ok,
    failed: c.failed,
    results: startedOrder.map((s) => entries.get(s)!),
  };
}
