/**
 * When a tape write has used its retries the run waits for an operator: `retry` finishes it, `abort` ends it failed
 * with a clear message, and both leave the staged images in place. A run that ended failed is finished without a
 * second mksysb by a Temporal reset to before the failed write, or by starting the same backup again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { assertTapeHolds, backupEnv, sourceImages, sourceRuns, tapeWrites, waitFor, type BackupEnv } from '../helpers/backup';
import type { BackupProgress, BackupResult } from '../../src/shared/contract';

async function waiting(handle: { query<T>(n: string): Promise<T> }): Promise<BackupProgress> {
  return await waitFor('the run to wait for an operator', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.waiting ? p : undefined;
  });
}

function stagedFiles(env: BackupEnv, host: string, backupId: string): string[] {
  const h = env.lab.host(host);
  const dir = path.join(h.root, h.workFolder, backupId);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.img')).sort() : [];
}

test('write failures past the retries: the run waits; retry from record 2 finishes it', async () => {
  const env = await backupEnv();
  await env.lab.fault('tapesrv', 'write-fail file=3 always');
  const handle = await env.start({ retry: { maxAttempts: 2 } });
  const p = await waiting(handle);
  assert.equal(p.stage, 'tape-write');
  assert.equal(p.outcome, 'waiting');
  assert.equal(p.waiting!.record, 3);
  assert.match(p.waiting!.reason, /write record 3 to tapesrv:rmt0 on tapesrv failed \(exit status 2\): dd: 0511-053 The write failed/);
  assert.deepEqual(stagedFiles(env, 'tapesrv', p.backupId), ['1_bosboot.img', '2_mkinsttape.img', '4_mksysb.img']);
  await env.lab.clearFaults('tapesrv');
  await handle.signal('retry', { fromRecord: 2, reason: 'drive cleaned' });
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual((await tapeWrites(env)).map((w) => w.file), [1, 2, 3, 3, 2, 3, 4], 'two failed writes of 3, then 2..4 again');
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  assert.equal(result.verification.readBack, true);
  // A verified tape: staging removed on both hosts.
  assert.deepEqual(stagedFiles(env, 'tapesrv', p.backupId), []);
  assert.deepEqual(stagedFiles(env, 'aix01', p.backupId), []);
});

test('abort while waiting ends the run failed with the reason and keeps the staged images', async () => {
  const env = await backupEnv();
  await env.lab.fault('tapesrv', 'write-fail file=4 always');
  const handle = await env.start({ retry: { maxAttempts: 1 } });
  const p = await waiting(handle);
  await handle.signal('abort', { reason: 'cartridge damaged' });
  const err = await handle.result().then(
    () => assert.fail('the run should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError);
  const msg = (err.cause as Error).message;
  assert.match(msg, /^aborted by an operator \(cartridge damaged\) while waiting after the tape write \(record 4\) failed: write record 4 to tapesrv:rmt0 on tapesrv failed/);
  assert.match(msg, /the staged images were kept$/);
  const final = await handle.query<BackupProgress>('progress');
  assert.equal(final.outcome, 'aborted');
  assert.deepEqual(stagedFiles(env, 'tapesrv', p.backupId), ['1_bosboot.img', '2_mkinsttape.img', '4_mksysb.img']);
  assert.deepEqual(stagedFiles(env, 'aix01', p.backupId), ['1_bosboot.img', '2_mkinsttape.img', '4_mksysb.img']);
});

test('a failed run reset to before the failed write finishes without a second mksysb', async () => {
  const env = await backupEnv();
  await env.lab.fault('tapesrv', 'write-fail file=4 always');
  const handle = await env.start({ retry: { maxAttempts: 1 }, operatorWaitHours: 0, keepStaging: true });
  await assert.rejects(handle.result(), WorkflowFailedError);
  await env.lab.clearFaults('tapesrv');
  const history = await handle.fetchHistory();
  const failedWrite = [...(history.events ?? [])]
    .reverse()
    .find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'writeRecord');
  assert.ok(failedWrite, 'the failed write is in the history');
  const resetTo = failedWrite.activityTaskScheduledEventAttributes!.workflowTaskCompletedEventId!;
  const desc = await handle.describe();
  const reset: { runId?: string | null } = await env.t.client.workflowService.resetWorkflowExecution({
    namespace: 'default',
    workflowExecution: { workflowId: handle.workflowId, runId: desc.runId },
    reason: 'retry the record-4 write after the drive was fixed',
    workflowTaskFinishEventId: resetTo,
    requestId: randomUUID(),
  });
  const result = (await env.t.client.workflow.getHandle(handle.workflowId, reset.runId!).result()) as BackupResult;
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 }, 'mksysb did not run again');
  const files = (await tapeWrites(env)).map((w) => w.file);
  assert.deepEqual(files, [1, 2, 3, 4, 4]);
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

test('starting the same backup again after a failed run finds the staged images: no second mksysb', async () => {
  const env = await backupEnv();
  await env.lab.fault('tapesrv', 'write-fail file=2 always');
  const id = `mksysb-tape/aix01/again-${randomUUID()}`;
  const first = await env.start({ retry: { maxAttempts: 1 }, operatorWaitHours: 0, keepStaging: true }, id);
  await assert.rejects(first.result(), WorkflowFailedError);
  await env.lab.clearFaults('tapesrv');
  const result = await env.run({ keepStaging: true }, id);
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  assert.equal(result.verification.readBack, true);
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

test('cancelling the workflow stops the remote mksysb', async () => {
  const env = await backupEnv();
  await env.lab.setHostConfig('aix01', { mksysbBytes: 64 << 20, mksysbBytesPerSecond: 2 << 20 });
  const handle = await env.start({});
  await waitFor('mksysb running', async () => {
    const p = await handle.query<BackupProgress>('progress');
    const ps = await env.lab.exec('aix01', 'ps -e -o args');
    return p.stage === 'images' && p.record === 4 && /mksysb -i -p/.test(ps.stdout);
  });
  await handle.cancel();
  await assert.rejects(handle.result());
  await waitFor('mksysb gone', async () => !/mksysb -i -p/.test((await env.lab.exec('aix01', 'ps -e -o args')).stdout), 15_000);
  const log = await env.lab.commandLog('aix01');
  assert.equal(log.filter((e) => e.command === 'mksysb' && e.exit === 0).length, 0, 'mksysb did not complete');
});
