/**
 * A backup cancelled through Temporal (the UI's "Request Cancellation", `temporal workflow cancel`, the client's
 * `handle.cancel()`) ends Canceled with outcome `cancelled` and details that say so, from every stage: while the
 * validation waits for a worker or reads an inventory that hangs, during bosboot and mkinsttape, during mksysb, during
 * a tape write and while it waits for an operator. The remote commands of the running steps are gone from their host
 * when the run has ended, and no activity starts, nor is retried, after the cancel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { backupEnv, waitFor, type BackupEnv } from '../helpers/backup';
import { runInBackground, workflowBundle } from '../helpers/temporal';
import { runCli } from '../client/env';
import { backupIdFromWorkflowId, type BackupProgress } from '../../src/shared/contract';
import { driveLockStateQuery, driveLockWorkflowId } from '../../src/shared/drive-lock';
import { SA_OUTCOME, SA_STAGE } from '../../src/shared/search-attributes';

const MiB = 1 << 20;
const { PENDING_ACTIVITY_STATE_SCHEDULED: SCHEDULED, PENDING_ACTIVITY_STATE_STARTED: STARTED } = temporal.api.enums.v1.PendingActivityState;

/** Waits until the run's validation activity is pending in `state`. */
async function validationPending(handle: WorkflowHandle, state: temporal.api.enums.v1.PendingActivityState): Promise<void> {
  await waitFor(`the validation ${state === STARTED ? 'started' : 'scheduled'}`, async () => {
    const d = await handle.describe();
    return d.raw.pendingActivities?.some((a) => a.activityType?.name === 'resolveBackup' && a.state === state);
  });
}

function newId(): { workflowId: string; backupId: string } {
  const workflowId = `mksysb-tape/cancel/${randomUUID()}`;
  return { workflowId, backupId: backupIdFromWorkflowId(workflowId) };
}

/** The command lines of the host's processes that belong to this backup (its staging folder is in their arguments). */
async function backupProcesses(env: BackupEnv, host: string, backupId: string): Promise<string[]> {
  const ps = await env.lab.exec(host, 'ps -e -o args');
  return ps.stdout.split('\n').filter((l) => l.includes(backupId));
}

/**
 * A write end of the FIFO when a reader has opened it or waits in open() (a non-blocking open for writing succeeds
 * then and releases it), else undefined.
 */
function fifoWriter(fifo: string): number | undefined {
  try {
    return fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') return undefined;
    throw err;
  }
}

/** Gives a reader still waiting on the FIFO (a test that failed half-way) its text, so no thread stays blocked. */
function releaseReader(fifo: string, text: string): void {
  const fd = fs.existsSync(fifo) ? fifoWriter(fifo) : undefined;
  if (fd === undefined) return;
  fs.writeSync(fd, text);
  fs.closeSync(fd);
}

/**
 * Cancels the run and checks how it ended: Canceled in Temporal (the client's CancelledFailure), outcome `cancelled`
 * in the search attribute and the `progress` query, current details that say cancelled and not that the run waits,
 * and no activity scheduled after the cancel request (but the notice that a wait for a person ended). Returns the final progress and details, and the activities that
 * ended failed or cancelled after the request (the steps the cancel stopped).
 */
async function cancelAndCheck(handle: WorkflowHandle): Promise<{ progress: BackupProgress; details: string; stage?: string; stopped: string[] }> {
  await handle.cancel();
  const err = await handle.result().then(
    () => assert.fail('the run should end cancelled'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof CancelledFailure, `ended with ${String(err.cause)}`);
  const desc = await handle.describe();
  assert.equal(desc.status.name, 'CANCELLED');
  assert.equal(desc.typedSearchAttributes.get(SA_OUTCOME), 'cancelled');

  const history = (await handle.fetchHistory()).events ?? [];
  const cancelAt = history.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
  assert.ok(cancelAt > 0, 'the cancel request is in the history');
  const after = history.slice(cancelAt + 1);
  // Nothing runs on the hosts after the request; a run that waited for a person tells people the wait ended.
  const scheduled = after.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType?.name);
  const wasWaiting = history.slice(0, cancelAt).some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'notifyPeople');
  assert.deepEqual(scheduled, wasWaiting ? ['notifyPeople'] : [], 'no activity scheduled after the cancel request but the notice that the wait ended');
  // A step that reports its stopped command as a failure is not retried either.
  for (const e of after.filter((e) => e.activityTaskFailedEventAttributes)) {
    assert.equal(e.activityTaskFailedEventAttributes!.retryState, temporal.api.enums.v1.RetryState.RETRY_STATE_CANCEL_REQUESTED);
  }
  const typeOf = new Map(history.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name ?? '']));
  const stopped = after
    .map((e) => e.activityTaskFailedEventAttributes ?? e.activityTaskCanceledEventAttributes)
    .filter((a) => a)
    .map((a) => typeOf.get(String(a!.scheduledEventId))!);
  assert.ok(history.at(-1)!.workflowExecutionCanceledEventAttributes, 'the last event is WorkflowExecutionCanceled');

  const progress = await handle.query<BackupProgress>('progress');
  assert.equal(progress.outcome, 'cancelled');
  assert.equal(progress.waiting, undefined);
  const { currentDetails: details } = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
  assert.match(details, /^\*\*cancelled\*\* — cancelled /);
  assert.doesNotMatch(details, /waiting for an operator/);
  return { progress, details, stage: desc.typedSearchAttributes.get(SA_STAGE), stopped };
}

test('cancelled while validation waits for a worker: Canceled, not an input error, and nothing ran on the hosts', async () => {
  // The validation is scheduled but no worker takes it (the activity workers are busy or down): a worker that runs
  // the workflow code only.
  const env = await backupEnv({ worker: false });
  const worker = await Worker.create({ connection: env.t.nativeConnection, taskQueue: env.config.taskQueue, workflowBundle: await workflowBundle() });
  runInBackground(worker);
  const { workflowId } = newId();
  const handle = await env.start({}, workflowId);
  await validationPending(handle, SCHEDULED);
  const { progress, details, stopped } = await cancelAndCheck(handle);
  assert.deepEqual(stopped, ['resolveBackup']);
  assert.equal(progress.stage, 'validating');
  assert.equal(progress.lastError, undefined, 'the cancellation is no input error');
  assert.match(details, /^\*\*cancelled\*\* — cancelled during validation, before any command ran on the hosts$/m);
  assert.deepEqual(await env.lab.commandLog('aix01'), []);
  assert.deepEqual(await env.lab.commandLog('tapesrv'), []);
});

test('cancelled while the validation reads an inventory that hangs: cancelled once the read returns, nothing run on the hosts', async () => {
  const env = await backupEnv();
  const inventoryPath = env.lab.inventoryPath;
  const inventory = fs.readFileSync(inventoryPath, 'utf8');
  // The inventory on a file system that hangs: a FIFO in its place, whose readers wait until a writer comes. `hang`
  // is a second name of the FIFO, to release its reader after the inventory is a plain file again.
  const hang = `${inventoryPath}.hang`;
  execFileSync('mkfifo', [hang]);
  fs.linkSync(hang, `${inventoryPath}.fifo`);
  fs.renameSync(`${inventoryPath}.fifo`, inventoryPath);
  try {
    const { workflowId } = newId();
    const handle = await env.start({}, workflowId);
    await validationPending(handle, STARTED);
    const checked = cancelAndCheck(handle);
    checked.catch(() => undefined); // awaited below
    await waitFor('the run to ask the validation to cancel', async () =>
      ((await handle.fetchHistory()).events ?? []).some((e) => e.activityTaskCancelRequestedEventAttributes),
    );
    const fd = await waitFor('the validation reading the inventory', async () => fifoWriter(hang));
    // Later reads find a plain file; the one waiting gets the inventory through the FIFO.
    fs.writeFileSync(`${inventoryPath}.plain`, inventory);
    fs.renameSync(`${inventoryPath}.plain`, inventoryPath);
    fs.writeSync(fd, inventory);
    fs.closeSync(fd);
    const { progress, details } = await checked;
    assert.equal(progress.stage, 'validating');
    assert.match(details, /^\*\*cancelled\*\* — cancelled during validation, before any command ran on the hosts$/m);
    assert.deepEqual(await env.lab.commandLog('aix01'), []);
    assert.deepEqual(await env.lab.commandLog('tapesrv'), []);
  } finally {
    if (fs.statSync(inventoryPath).isFIFO()) {
      fs.writeFileSync(`${inventoryPath}.plain`, inventory);
      fs.renameSync(`${inventoryPath}.plain`, inventoryPath);
    }
    releaseReader(hang, inventory);
    fs.rmSync(hang, { force: true });
  }
});

test('cancelled while bosboot and mkinsttape run: both are stopped before the run ends', async () => {
  const env = await backupEnv();
  await env.lab.fault('aix01', 'hang command=bosboot');
  await env.lab.fault('aix01', 'hang command=mkinsttape');
  const { workflowId, backupId } = newId();
  const handle = await env.start({}, workflowId);
  await waitFor('bosboot and mkinsttape running', async () => {
    const ps = await backupProcesses(env, 'aix01', backupId);
    return ps.some((l) => /bosboot -ad/.test(l)) && ps.some((l) => /mkinsttape /.test(l));
  });
  const { details, stopped } = await cancelAndCheck(handle);
  assert.deepEqual(stopped, ['makeImage', 'makeImage'], 'both steps ended before the run did');
  assert.match(details, /^\*\*cancelled\*\* — cancelled during making the images \(record 1\) \(it was: bosboot and mkinsttape on aix01\)/m);
  await waitFor('no process of the backup left on aix01', async () => (await backupProcesses(env, 'aix01', backupId)).length === 0, 15_000);
});

test('cancelled during mksysb: the remote mksysb is gone, and the run says where it stopped', async () => {
  const env = await backupEnv();
  // 64 MiB at 2 MiB/s: mksysb runs for half a minute.
  await env.lab.setHostConfig('aix01', { mksysbBytes: 64 * MiB, mksysbBytesPerSecond: 2 * MiB });
  const { workflowId, backupId } = newId();
  const handle = await env.start({}, workflowId);
  await waitFor('mksysb running', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.stage === 'images' && p.record === 4 && (await backupProcesses(env, 'aix01', backupId)).some((l) => /mksysb -i -p/.test(l));
  });
  const { details, stage, stopped } = await cancelAndCheck(handle);
  assert.ok(stopped.includes('makeImage'), `stopped: ${stopped.join(', ')}`);
  assert.equal(stage, 'images');
  assert.match(details, /^\*\*cancelled\*\* — cancelled during making the images \(record 4\) \(it was: mksysb -i -p on aix01; .*\); any command it ran on the hosts was stopped; the staged files were kept$/m);
  await waitFor('no process of the backup left on aix01', async () => (await backupProcesses(env, 'aix01', backupId)).length === 0, 15_000);
  const log = await env.lab.commandLog('aix01');
  assert.equal(log.filter((e) => e.command === 'mksysb' && e.exit === 0).length, 0, 'mksysb did not complete');
});

test('cancelled during the record-4 tape write: the dd on the tape host is gone and the drive is released', async () => {
  const env = await backupEnv({ lab: { mksysbBytes: 16 * MiB } });
  // Record 4 (16 MiB) at 1 MiB/s takes 16 s.
  await env.lab.setHostConfig('tapesrv', { tapeBytesPerSecond: MiB });
  const { workflowId, backupId } = newId();
  const handle = await env.start({}, workflowId);
  await waitFor(
    'record 4 being written',
    async () => {
      const p = await handle.query<BackupProgress>('progress');
      return p.stage === 'tape-write' && p.record === 4 && (await backupProcesses(env, 'tapesrv', backupId)).some((l) => /\bdd\b.*4_mksysb\.img/.test(l));
    },
    90_000,
  );
  const { progress, details, stage, stopped } = await cancelAndCheck(handle);
  assert.deepEqual(stopped, ['writeRecord']);
  assert.equal(stage, 'tape-write');
  assert.deepEqual(progress.recordsWritten, [1, 2, 3]);
  assert.match(details, /^\*\*cancelled\*\* — cancelled during the tape write \(record 4\) \(it was: writing record 4\/4 \(mksysb image, 16\.0 MiB\) to tapesrv:rmt0\); any command it ran on the hosts was stopped; the staged files were kept$/m);
  await waitFor('no process of the backup left on tapesrv', async () => (await backupProcesses(env, 'tapesrv', backupId)).length === 0, 15_000);
  const lock = env.t.client.workflow.getHandle(driveLockWorkflowId({ host: 'tapesrv', device: 'rmt0' }, env.config.taskQueue));
  await waitFor('the drive released', async () => (await lock.query(driveLockStateQuery)).holder === null);
});

test('cancelled while waiting for an operator: outcome cancelled, the wait gone from the details and the CLI', async () => {
  const env = await backupEnv();
  await env.lab.fault('tapesrv', 'write-fail file=4 always');
  const { workflowId } = newId();
  const handle = await env.start({ retry: { maxAttempts: 1 } }, workflowId);
  await waitFor('the run to wait for an operator', async () => (await handle.query<BackupProgress>('progress')).waiting);
  const { progress, details, stage, stopped } = await cancelAndCheck(handle);
  assert.deepEqual(stopped, [], 'nothing was running');
  assert.equal(stage, 'tape-write');
  assert.match(
    details,
    /^\*\*cancelled\*\* — cancelled while the run waited for an operator after the tape write \(record 4\) failed; nothing was running on the hosts; the staged files were kept$/m,
  );
  assert.match(progress.lastError ?? '', /write record 4 to tapesrv:rmt0 on tapesrv failed/, 'the failure it waited over is still shown');
  assert.doesNotMatch(details, /send signal `retry`/);

  const cliEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: env.t.address,
    TEMPORAL_NAMESPACE: 'default',
    MKSYSB_TAPE_TASK_QUEUE: env.config.taskQueue,
    MKSYSB_TAPE_INVENTORY: env.lab.inventoryPath,
  };
  const st = await runCli(['status', workflowId], cliEnv);
  assert.equal(st.code, 1, st.stderr);
  assert.match(st.stdout, /status: {2}cancelled, outcome cancelled, stage tape-write/);
  assert.doesNotMatch(st.stdout, /WAITING/);
  await waitFor('the run in list --outcome cancelled', async () => {
    const l = await runCli(['--json', 'list', '--outcome', 'cancelled'], cliEnv);
    return (JSON.parse(l.stdout) as Array<{ workflowId: string }>).some((r) => r.workflowId === workflowId);
  });
});
