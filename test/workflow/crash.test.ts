/**
 * The worker process killed with SIGKILL in the middle of the long steps: a new worker finishes the run, re-attaching
 * to the commands that kept running on the hosts, and mksysb runs once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertTapeHolds, backupEnv, sourceImages, sourceRuns, spawnWorker, tapeWrites, waitFor } from '../helpers/backup';
import type { BackupProgress, BackupResult } from '../../src/shared/contract';

test('worker killed during mksysb and again during the record-4 write: a new worker finishes, mksysb ran once', async () => {
  const env = await backupEnv({ worker: false });
  // mksysb of 24 MiB at 4 MiB/s takes 6 s; the drive writes at 8 MiB/s, so record 4 takes 3 s.
  await env.lab.setHostConfig('aix01', { mksysbBytes: 24 << 20, mksysbBytesPerSecond: 4 << 20 });
  await env.lab.setHostConfig('tapesrv', { tapeBytesPerSecond: 8 << 20 });
  let w = spawnWorker(env);
  const handle = await env.start({ keepStaging: true });
  const progress = () => handle.query<BackupProgress>('progress');

  await waitFor('mksysb running', async () => {
    const p = await progress();
    return p.stage === 'images' && p.record === 4;
  });
  await new Promise((r) => setTimeout(r, 1500));
  w.child.kill('SIGKILL');
  await w.exited;
  w = spawnWorker(env);

  await waitFor('record 4 being written', async () => {
    const p = await progress();
    return p.stage === 'tape-write' && p.record === 4;
  }, 90_000);
  await new Promise((r) => setTimeout(r, 1000));
  w.child.kill('SIGKILL');
  await w.exited;
  w = spawnWorker(env);

  const result = (await handle.result()) as BackupResult;
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 }, 'mksysb ran once');
  const writes = await tapeWrites(env);
  assert.deepEqual(writes.map((w) => w.file), [1, 2, 3, 4], 'each record written once: the retried attempt re-attached to the running dd');
  await assertTapeHolds(env, sourceImages(env, result.backupId));
  w.child.kill('SIGTERM');
  await w.exited;
});
