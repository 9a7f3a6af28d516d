/**
 * Worker Deployment Versioning on the dev server: a backup started on build 1 and waiting for an operator keeps
 * running on build 1 after build 2 becomes the deployment's current version, and finishes there once answered;
 * the backup started after the switch runs on build 2; the drive lock (auto-upgrade) moves to build 2. A fleet
 * started on build 1 runs all its backups on build 1, also those it starts after the switch and across its
 * continue-as-new.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startLab } from '../../lab';
import { loadConfig } from '../../temporal.config';
import { createWorker } from '../../src/worker';
import { driveLockWorkflowId } from '../../src/shared/drive-lock';
import type { BackupProgress, BackupResult } from '../../src/shared/contract';
import { fleetStatusQuery, type FleetInput, type FleetResult } from '../../src/shared/fleet';
import type { Lab } from '../../lab';
import { workflowBundle } from '../helpers/temporal';
import { testPolicies, waitFor } from '../helpers/backup';
import { ownServer, type OwnServer } from '../helpers/own-server';

const PINNED = temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED;
const AUTO_UPGRADE = temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE;

/** The build that completed each workflow task of a run, in order, and the identity of each worker that ran an activity. */
async function buildsOf(handle: WorkflowHandle): Promise<{ tasks: string[]; activityWorkers: string[] }> {
  const history = await handle.fetchHistory();
  const tasks: string[] = [];
  const activityWorkers: string[] = [];
  for (const e of history.events ?? []) {
    const done = e.workflowTaskCompletedEventAttributes;
    if (done) tasks.push(done.deploymentVersion?.buildId ?? '(unversioned)');
    const act = e.activityTaskStartedEventAttributes;
    if (act) activityWorkers.push(act.identity ?? '');
  }
  return { tasks, activityWorkers };
}

async function versioningOf(handle: WorkflowHandle) {
  const d = await handle.describe();
  const v = d.raw.workflowExecutionInfo?.versioningInfo;
  return { behavior: v?.behavior, buildId: v?.deploymentVersion?.buildId, deploymentName: v?.deploymentVersion?.deploymentName };
}

// Started at the top of the file so that their clean-ups run when the file ends.
const serverReady = ownServer({ searchAttributes: true });
const labReady = startLab({ mksysbBytes: 3 << 20, sources: ['aix01', 'aix02'], tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: 3 }] });
after(async () => (await labReady).down());
let server: OwnServer;
let lab: Lab;
let bundle: Awaited<ReturnType<typeof workflowBundle>>;

before(async () => {
  [server, lab, bundle] = await Promise.all([serverReady, labReady, workflowBundle()]);
});

/** A deployment of its own on a task queue of its own: start a build's worker, make a build current. */
function deployment() {
  const deploymentName = `mksysb-tape-${randomUUID().slice(0, 8)}`;
  const taskQueue = `versioning-${randomUUID()}`;
  const client: Client = server.client();
  /** A worker of that build; `unversioned`: one without a deployment, as before versioning was configured. */
  const startBuild = async (buildId: string) => {
    // Configured as an operator would: the two variables of docs/configuration.md.
    const versioned = buildId === 'unversioned' ? {} : { MKSYSB_TAPE_DEPLOYMENT_NAME: deploymentName, MKSYSB_TAPE_BUILD_ID: buildId };
    const config = {
      ...loadConfig({ TEMPORAL_ADDRESS: server.address, ...versioned }),
      taskQueue,
      inventoryPath: lab.inventoryPath,
      policies: testPolicies(),
    };
    assert.deepEqual(config.deployment, buildId === 'unversioned' ? undefined : { deploymentName, buildId });
    const worker = await createWorker({ config, connection: server.nativeConnection, workflowBundle: bundle, identity: buildId, activityDeps: { pollIntervalMs: 200 } });
    server.run(worker);
  };
  // The documented command; the server refuses a version whose worker it has not seen poll yet, so it is retried
  // until the new worker's first poll has reached it.
  const setCurrent = (buildId: string) =>
    waitFor(`${buildId} as the current version`, async () => {
      await promisify(execFile)(server.cli, [
        'worker', 'deployment', 'set-current-version',
        '--address', server.address, '--deployment-name', deploymentName, '--build-id', buildId, '--yes',
      ]);
      return true;
    });
  return { deploymentName, taskQueue, client, startBuild, setCurrent };
}

test('a backup started on build 1 ends on build 1 while build 2 takes the new backups', async () => {
  const { deploymentName, taskQueue, client, startBuild, setCurrent } = deployment();
  const start = (device: string, extra: Record<string, unknown> = {}) =>
    client.workflow.start('mksysbToTape', {
      taskQueue,
      workflowId: `mksysb-tape/aix01/versioning-${randomUUID().slice(0, 8)}`,
      args: [{ source: 'aix01', tape: { host: 'tapesrv', device }, ...extra }],
    });

  await startBuild('build-1');
  await setCurrent('build-1');
  await lab.fault('tapesrv', 'write-fail file=4 device=rmt0 always');
  const first = await start('rmt0');
  await waitFor('the first backup to wait for an operator', async () => (await first.query<BackupProgress>('progress')).waiting);

  await startBuild('build-2');
  await setCurrent('build-2');
  await lab.clearFaults('tapesrv');
  const second = await start('rmt1');
  const secondResult = (await second.result()) as BackupResult;
  assert.equal(secondResult.records.length, 4);
  assert.equal((await first.describe()).status.name, 'RUNNING', 'the first backup still waits, untouched by the new build');

  await first.signal('retry', {});
  const firstResult = (await first.result()) as BackupResult;
  assert.equal(firstResult.verification.readBack, true);

  const one = await buildsOf(first);
  assert.ok(one.tasks.length > 5, `${one.tasks.length} workflow tasks`);
  assert.deepEqual([...new Set(one.tasks)], ['build-1'], 'every workflow task of the first backup, also after the retry, ran on build 1');
  assert.deepEqual([...new Set(one.activityWorkers)], ['build-1'], 'and so did every one of its steps');
  assert.deepEqual(await versioningOf(first), { behavior: PINNED, buildId: 'build-1', deploymentName });
  // The query docs/operations.md gives for what still holds a build.
  const onBuild1 = await waitFor('the first backup in the list of build 1', async () => {
    const ids: string[] = [];
    for await (const w of client.workflow.list({ query: `TemporalWorkerDeploymentVersion = "${deploymentName}:build-1" AND WorkflowType = "mksysbToTape"` })) ids.push(w.workflowId);
    return ids.length ? ids : undefined;
  });
  assert.deepEqual(onBuild1, [first.workflowId]);

  const two = await buildsOf(second);
  assert.deepEqual([...new Set(two.tasks)], ['build-2'], 'the backup started after the switch ran on build 2');
  assert.deepEqual([...new Set(two.activityWorkers)], ['build-2']);
  assert.deepEqual(await versioningOf(second), { behavior: PINNED, buildId: 'build-2', deploymentName });

  // The first backup's drive lock was started by build 1; it grants and releases on whatever build is current.
  const lock = client.workflow.getHandle(driveLockWorkflowId({ host: 'tapesrv', device: 'rmt0' }, taskQueue));
  const lockTasks = (await buildsOf(lock)).tasks;
  assert.equal(lockTasks[0], 'build-1', 'the lock started on build 1');
  assert.equal(lockTasks.at(-1), 'build-2', 'and moved to build 2 when the first backup released the drive');
  assert.deepEqual(await versioningOf(lock), { behavior: AUTO_UPGRADE, buildId: 'build-2', deploymentName });
});

/** Every run of a workflow that continued as new, from its first: the chain of ContinuedAsNew events. */
async function chainOf(client: Client, workflowId: string, firstRunId: string): Promise<WorkflowHandle[]> {
  const out: WorkflowHandle[] = [];
  for (let runId: string | undefined = firstRunId; runId; ) {
    const h: WorkflowHandle = client.workflow.getHandle(workflowId, runId);
    out.push(h);
    const events = (await h.fetchHistory()).events ?? [];
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return out;
}

test('a fleet started on build 1 runs its backups on build 1, also those it starts after the switch and after it continued as new', async () => {
  const { deploymentName, taskQueue, client, startBuild, setCurrent } = deployment();
  await startBuild('build-1');
  await setCurrent('build-1');
  // The first backup's record 4 fails until the fault is cleared: it waits for an operator, holding the fleet's only
  // slot. (Each step keeps its usual attempts, so a step slowed past its heartbeat timeout is retried, not a wait.)
  await lab.fault('tapesrv', 'write-fail file=4 device=rmt2 always');
  const input: FleetInput = {
    sources: ['aix01', 'aix02'],
    drives: [{ host: 'tapesrv', device: 'rmt2' }],
    maxConcurrentMksysbPerTapeHost: 1,
    // Continues as new after its first child, carrying it.
    maxHistoryEvents: 1,
    backupInput: { overwrite: true },
  };
  const fleetId = `mksysb-fleet/versioning-${randomUUID().slice(0, 8)}`;
  const fleet = await client.workflow.start('mksysbFleet', { taskQueue, workflowId: fleetId, args: [input] });
  const waitingChild = await waitFor('the fleet\'s first backup to wait for an operator', async () => {
    const running = (await client.workflow.getHandle(fleetId).query(fleetStatusQuery)).sources.find((s) => s.state === 'running');
    if (!running) return undefined;
    const h = client.workflow.getHandle(running.workflowId);
    return (await h.query<BackupProgress>('progress')).waiting ? h : undefined;
  });

  await startBuild('build-2');
  await setCurrent('build-2');
  const switchedAt = Date.now();
  await lab.clearFaults('tapesrv');
  await waitingChild.signal('retry', {});
  const result = (await client.workflow.getHandle(fleetId).result()) as FleetResult;
  assert.equal(result.ok, 2, JSON.stringify(result.results));
  assert.ok(result.runs >= 2, `the fleet continued as new (${result.runs} runs)`);

  const runs = await chainOf(client, fleetId, fleet.firstExecutionRunId);
  assert.equal(runs.length, result.runs);
  for (const [i, run] of runs.entries()) {
    const b = await buildsOf(run);
    assert.deepEqual([...new Set(b.tasks)], ['build-1'], `fleet run ${i + 1} ran on build 1`);
    assert.deepEqual([...new Set(b.activityWorkers)].filter(Boolean), b.activityWorkers.length ? ['build-1'] : []);
  }
  assert.deepEqual(await versioningOf(runs.at(-1)!), { behavior: PINNED, buildId: 'build-1', deploymentName });
  for (const r of result.results) {
    const child = client.workflow.getHandle(r.workflowId, r.runId);
    const b = await buildsOf(child);
    assert.deepEqual([...new Set(b.tasks)], ['build-1'], `${r.source}'s backup ran on build 1`);
    assert.deepEqual([...new Set(b.activityWorkers)], ['build-1']);
  }
  // The second backup started only once the first had finished, after build 2 was made current.
  const second = result.results[1]!;
  assert.ok(Date.parse(second.startedAt!) > switchedAt, `${second.source}'s backup started at ${second.startedAt}, after the switch`);
});

test('the first versioned deploy: a backup started by an unversioned worker moves to the versioned build made current', async () => {
  const { deploymentName, taskQueue, client, startBuild, setCurrent } = deployment();
  await startBuild('unversioned');
  await lab.fault('tapesrv', 'write-fail file=4 device=rmt0 always');
  const run = await client.workflow.start('mksysbToTape', {
    taskQueue,
    workflowId: `mksysb-tape/aix01/versioning-${randomUUID().slice(0, 8)}`,
    args: [{ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' }, overwrite: true }],
  });
  await waitFor('the backup to wait for an operator', async () => (await run.query<BackupProgress>('progress')).waiting);

  await startBuild('build-1');
  await setCurrent('build-1');
  await lab.clearFaults('tapesrv');
  await run.signal('retry', {});
  assert.equal(((await run.result()) as BackupResult).verification.readBack, true);

  // The workflow tasks before the operator's answer, and those after it (the deploy came between them).
  const events = (await run.fetchHistory()).events ?? [];
  const answer = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
  const buildOf = (e: (typeof events)[number]) => e.workflowTaskCompletedEventAttributes?.deploymentVersion?.buildId ?? '(unversioned)';
  const tasks = (part: typeof events) => part.filter((e) => e.workflowTaskCompletedEventAttributes).map(buildOf);
  assert.deepEqual([...new Set(tasks(events.slice(0, answer)))], ['(unversioned)'], 'until the deploy its tasks ran on the unversioned worker');
  // The unversioned worker, still polling with the run in its cache, may take the first task after the deploy; from
  // the first task on build 1 on, every task runs there.
  const later = tasks(events.slice(answer));
  const moved = later.indexOf('build-1');
  assert.ok(moved >= 0, `the run moved to build 1: ${later.join(', ')}`);
  assert.deepEqual([...new Set(later.slice(moved))], ['build-1'], `and stayed there: ${later.join(', ')}`);
  assert.deepEqual(await versioningOf(run), { behavior: PINNED, buildId: 'build-1', deploymentName });
});
