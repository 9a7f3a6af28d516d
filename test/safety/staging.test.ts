/**
 * Staging: a full work folder on the tape host is a clear, non-retryable error naming the folder and the space
 * needed; staged images are removed only after a tape verified by reading every record back, and kept after
 * `verify: "none"`, after `verify: "lsmksysb"` (a partial check) and after a failed run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { backupEnv, tapeWrites, type BackupEnv } from '../helpers/backup';
import { backupIdFromWorkflowId } from '../../src/shared/contract';

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => assert.fail('the run must fail'), (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

/** The staged files of a backup on a host (names in its staging folder; null when the folder is gone). */
function staged(env: BackupEnv, host: string, backupId: string): string[] | null {
  const h = env.lab.host(host);
  const dir = path.join(h.root, h.workFolder, backupId);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.img')).sort() : null;
}

test('a full work folder on the tape host is refused, naming the folder and the space needed', async () => {
  const env = await backupEnv();
  await env.lab.setHostConfig('tapesrv', { freeBytes: 512 * 1024 });
  const handle = await env.start({ operatorWaitHours: 0 });
  const id = backupIdFromWorkflowId(handle.workflowId);
  const cause = await failure(handle.result());
  assert.equal(cause.type, 'StagingFolderFull');
  assert.equal(cause.nonRetryable, true);
  assert.equal(
    cause.message,
    `moving the images (record 1) failed: work folder /home/mksysb/${id} on tapesrv has 512.0 KiB free but the boot image needs 1.0 MiB more`,
  );
  assert.deepEqual(await tapeWrites(env), []);
  assert.deepEqual(staged(env, 'aix01', id), ['1_bosboot.img', '2_mkinsttape.img', '4_mksysb.img'], 'the source keeps its images');
});

test('staged images are removed only after a tape verified in full; verify none, lsmksysb and failed runs keep them', async () => {
  const env = await backupEnv();
  const all = ['1_bosboot.img', '2_mkinsttape.img', '4_mksysb.img'];

  const none = await env.run({ verify: 'none', overwrite: true });
  assert.equal(none.stagingKept, true);
  assert.deepEqual(staged(env, 'aix01', none.backupId), all);
  assert.deepEqual(staged(env, 'tapesrv', none.backupId), all);

  const partial = await env.run({ verify: 'lsmksysb', overwrite: true });
  assert.equal(partial.stagingKept, true);
  assert.deepEqual(staged(env, 'aix01', partial.backupId), all);
  assert.deepEqual(staged(env, 'tapesrv', partial.backupId), all);

  await env.lab.fault('tapesrv', 'write-fail file=4 always');
  const failed = await env.start({ overwrite: true, operatorWaitHours: 0, retry: { maxAttempts: 1 } });
  const cause = await failure(failed.result());
  assert.match(cause.message, /^the tape write \(record 4\) failed: /);
  await env.lab.clearFaults();
  const failedId = backupIdFromWorkflowId(failed.workflowId);
  assert.deepEqual(staged(env, 'aix01', failedId), all);
  assert.deepEqual(staged(env, 'tapesrv', failedId), all);

  // The control: a tape verified by reading every record back lets the run remove them on both hosts.
  const full = await env.run({ overwrite: true });
  assert.equal(full.stagingKept, false);
  assert.equal(full.verification.readBack, true);
  assert.equal(staged(env, 'aix01', full.backupId), null);
  assert.equal(staged(env, 'tapesrv', full.backupId), null);
});
