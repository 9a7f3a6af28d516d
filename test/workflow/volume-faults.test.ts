/**
 * Multi-volume sets when things go wrong: cartridges that hold less than planned (and more of them than maxVolumes),
 * a failed volume write that rewrites that volume only, an operator sending the run back a volume, a worker lost
 * during a volume (a cartridge with data refused: volumes.test.ts; autoloaders and Linux: volume-drives.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backupIdFromWorkflowId } from '../../src/shared/contract';
import type { BackupProgress, BackupResult } from '../../src/shared/contract';
import { backupEnv, sourceImages, sourceRuns, spawnWorker, tapeWrites, waitFor } from '../helpers/backup';
import { assertSet, cartridgeWanted, loadAndAnswer, oneTape, writeErrors } from '../helpers/volumes';

const MiB = 1 << 20;

test('cartridges that hold less than planned: each volume ends where its tape did, and one more than maxVolumes is an operator\'s call', async () => {
  const env = await backupEnv({ lab: oneTape(2 * MiB) });
  const handle = await env.start({ maxVolumes: 3, keepStaging: true });
  // The inventory says 2 MiB a cartridge (3 volumes); the ones loaded hold 1 MiB.
  const names = ['rmt0'];
  names.push(await loadAndAnswer(env, handle, 2, { capacityBytes: MiB }));
  names.push(await loadAndAnswer(env, handle, 3, { capacityBytes: MiB }));
  const asked = await waitFor('the run to ask about a fourth cartridge', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.waiting && p.waiting.for !== 'cartridge' ? p : undefined;
  });
  assert.match(asked.waiting!.reason, /needs more than its maxVolumes of 3 cartridges: [\d.]+ [KM]iB of the mksysb image are left after volume 3/);
  await handle.signal('retry', {});
  names.push(await loadAndAnswer(env, handle, 4, { capacityBytes: MiB }));
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual(result.volumes!.map((v) => v.endOfMedium), [true, true, true, false]);
  assert.ok(result.volumes![1]!.tapeBytes < MiB && result.volumes![1]!.tapeBytes > 0.95 * MiB, 'volume 2 holds what its cartridge held');
  await assertSet(env, names, sourceImages(env, result.backupId));
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
});

test('a failed write of volume 2 rewrites volume 2 only; an operator sent back from volume 3 gets volume 2 again, then 3', async () => {
  const env = await backupEnv({ lab: { ...oneTape(2 * MiB), mksysbBytes: 5 * MiB } });
  const handle = await env.start({ maxVolumes: 4, keepStaging: true });
  await cartridgeWanted(handle, 2);
  await env.lab.fault('tapesrv', 'write-fail file=1 nth=3');
  const v2 = await loadAndAnswer(env, handle, 2);
  await cartridgeWanted(handle, 3);
  assert.deepEqual(await writeErrors(env), [[1, 'ok'], [2, 'ok'], [3, 'ok'], [4, 'ENXIO'], [1, 'EIO'], [1, 'ENXIO']],
    'records 1-4 once (record 4 to the end of volume 1), volume 2 twice: the failed write and its retry, to the end of its cartridge');

  // Volume 3 fails on every attempt: the run waits for an operator, who sends it back to volume 2.
  await env.lab.fault('tapesrv', 'write-fail file=1 nth=2 always');
  const v3 = await loadAndAnswer(env, handle, 3);
  await waitFor('the operator wait after volume 3 failed', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.waiting && p.waiting.for !== 'cartridge' && p.waiting.stage === 'tape-write' ? p : undefined;
  });
  await env.lab.clearFaults('tapesrv');
  await handle.signal('retry', { fromVolume: 2 });
  await cartridgeWanted(handle, 2);
  env.lab.load('tapesrv', 'rmt0', { name: v2 });
  await handle.signal('volumeLoaded', {});
  await cartridgeWanted(handle, 3);
  env.lab.load('tapesrv', 'rmt0', { name: v3 });
  await handle.signal('volumeLoaded', {});
  const v4 = await loadAndAnswer(env, handle, 4);
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual(result.records.map((r) => r.writes), [1, 1, 1, 1], 'volume 1 was never written again');
  assert.deepEqual(result.volumes!.map((v) => v.volume), [1, 2, 3, 4]);
  await assertSet(env, ['rmt0', v2, v3, v4], sourceImages(env, result.backupId));
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 }, 'mksysb ran once');
});

test('a worker lost during volume 3 is replaced: the new one re-attaches to the write, which runs once', async () => {
  const env = await backupEnv({ worker: false, lab: { ...oneTape(2 * MiB), mksysbBytes: 5 * MiB } });
  await env.lab.setHostConfig('tapesrv', { tapeBytesPerSecond: MiB });
  let w = spawnWorker(env);
  const handle = await env.start({ maxVolumes: 4, keepStaging: true });
  const names = ['rmt0', await loadAndAnswer(env, handle, 2)];
  names.push(await loadAndAnswer(env, handle, 3));
  await waitFor('volume 3 being written', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.stage === 'tape-write' && p.volume === 3 && !p.waiting && /writing volume 3/.test(p.activity);
  });
  // Killed while volume 3's detached write runs on the tape host: its pid file is there and its exit status not yet.
  const tape = env.lab.host('tapesrv');
  const staging = path.join(tape.root, tape.workFolder, backupIdFromWorkflowId(handle.workflowId));
  await waitFor('volume 3\'s dd running', async () => {
    const pid = fs.readdirSync(staging).find((f) => /^write-v3-.*\.pid$/.test(f));
    return pid !== undefined && !fs.existsSync(path.join(staging, pid.replace(/\.pid$/, '.rc')));
  });
  w.child.kill('SIGKILL');
  await w.exited;
  w = spawnWorker(env);
  names.push(await loadAndAnswer(env, handle, 4));
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual((await tapeWrites(env)).map((t) => t.file), [1, 2, 3, 4, 1, 1, 1], 'each volume written once: volume 3 re-attached to its running dd');
  await assertSet(env, names, sourceImages(env, result.backupId));
  w.child.kill('SIGTERM');
  await w.exited;
});
