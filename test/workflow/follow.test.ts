import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { activityResults, assertTapeHolds, backupEnv, holdMksysb, sourceImages, sourceRuns, waitFor, type BackupEnv } from '../helpers/backup';
import type { BackupResult } from '../../src/shared/contract';
import type { FollowOutcome, TransferOutcome } from '../../src/activities';

/** The tape host's copy of the mksysb image, once it exists. */
function stagedCopy(env: BackupEnv): string | undefined {
  const h = env.lab.host('tapesrv');
  if (!fs.existsSync(path.join(h.root, h.workFolder))) return undefined;
  const e = fs.readdirSync(path.join(h.root, h.workFolder), { recursive: true, withFileTypes: true }).find((x) => x.isFile() && x.name === '4_mksysb.img');
  return e ? path.join(e.parentPath, e.name) : undefined;
}

/**
 * A backup whose mksysb is held at half its image until the tape host's copy has some of it (so that the growing file
 * is read at least twice, however loaded the machine), `trust` making the tape host pull it itself; the one
 * followImage result, what transferImage moved, and the source's images.
 */
async function followedBackup(opts: { mksysbBytes: number; trust?: boolean }) {
  const env = await backupEnv({ lab: { mksysbBytes: opts.mksysbBytes } });
  await env.lab.setHostConfig('aix01', { mksysbBytesPerSecond: 2 << 20 });
  if (opts.trust) env.lab.trust('tapesrv', 'aix01');
  const hold = await holdMksysb(env, opts.mksysbBytes / 2);
  const handle = await env.start({ keepStaging: true });
  await waitFor('the first bytes of the image on the tape host', async () => {
    const copy = stagedCopy(env);
    return copy !== undefined && fs.statSync(copy).size > 0;
  });
  await hold.release();
  const result = (await handle.result()) as BackupResult;
  const results = await activityResults(handle);
  const follow = results.filter((r) => r.type === 'followImage').map((r) => r.value as FollowOutcome);
  assert.equal(follow.length, 1, JSON.stringify(results));
  const img = sourceImages(env, result.backupId);
  assert.equal(follow[0]!.complete, true);
  assert.equal(follow[0]!.bytes, img.mksysb.length);
  assert.ok(follow[0]!.rounds >= 2, `the growing file was read more than once: ${JSON.stringify(follow[0])}`);
  const moved = results.filter((r) => r.type === 'transferImage').map((r) => r.value as TransferOutcome);
  assert.deepEqual(moved.map((m) => m.record).sort(), [1, 2], 'only the boot and install images moved by transferImage');
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, img);
  return { result, follow: follow[0]!, moved, img };
}

test('the mksysb image moves while mksysb writes it: several reads of the growing file, one final SHA-256 match, no second move', async () => {
  const { follow, moved } = await followedBackup({ mksysbBytes: 8 << 20 });
  assert.equal(follow.mode, 'relay');
  assert.ok(moved.every((m) => m.mode === 'relay'));
});

test('between hosts that trust each other the tape host pulls each round of the growing file itself', async () => {
  const { result, follow, moved, img } = await followedBackup({ mksysbBytes: 6 << 20, trust: true });
  assert.equal(follow.mode, 'direct');
  assert.equal(follow.bytesSent, img.mksysb.length);
  assert.ok(moved.every((m) => m.mode === 'direct'));
  assert.deepEqual(result.transfers?.find((t) => t.record === 4), {
    record: 4,
    mode: 'direct',
    bytesSent: img.mksysb.length,
    resumedFrom: 0,
    alreadyThere: false,
    followed: true,
  });
});

test('a corrupted byte in the followed copy is caught by the SHA-256 comparison and the image is moved again', async () => {
  const env = await backupEnv({ lab: { mksysbBytes: 6 << 20 } });
  await env.lab.setHostConfig('aix01', { mksysbBytesPerSecond: 2 << 20 });
  // Corrupt the tape host's copy while it grows (mksysb held at 3 MiB meanwhile): the follow completes, its SHA-256
  // differs, transferImage repairs.
  const hold = await holdMksysb(env, 3 << 20);
  const handle = await env.start({ keepStaging: true });
  const copy = await waitFor('the followed copy growing on the tape host', async () => {
    const c = stagedCopy(env);
    return c !== undefined && fs.statSync(c).size > 1 << 20 ? c : undefined;
  });
  const fd = fs.openSync(copy, 'r+');
  fs.writeSync(fd, Buffer.from([0xff, 0xee]), 0, 2, 4096);
  fs.closeSync(fd);
  await hold.release();
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});
