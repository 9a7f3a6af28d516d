import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activityResults, assertTapeHolds, backupEnv, sourceImages, sourceRuns } from '../helpers/backup';
import type { BackupResult } from '../../src/shared/contract';
import type { FollowOutcome, TransferOutcome } from '../../src/activities';

/**
 * A backup whose mksysb writes its image slowly (so that it is read several times while it grows), `trust` making the
 * tape host pull it itself; the one followImage result, what transferImage moved, and the source's images.
 */
async function followedBackup(opts: { mksysbBytes: number; trust?: boolean }) {
  const env = await backupEnv({ lab: { mksysbBytes: opts.mksysbBytes } });
  await env.lab.setHostConfig('aix01', { mksysbBytesPerSecond: 2 << 20 });
  if (opts.trust) env.lab.trust('tapesrv', 'aix01');
  const handle = await env.start({ keepStaging: true });
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
  // Corrupt the tape host's copy while it grows: the follow completes, its SHA-256 differs, transferImage repairs.
  const handle = await env.start({ keepStaging: true });
  const fs = await import('node:fs');
  const path = await import('node:path');
  const h = env.lab.host('tapesrv');
  const deadline = Date.now() + 30_000;
  let corrupted = false;
  while (!corrupted && Date.now() < deadline) {
    const files = findFile(fs, path, path.join(h.root, h.workFolder), '4_mksysb.img');
    if (files && fs.statSync(files).size > 1 << 20) {
      const fd = fs.openSync(files, 'r+');
      fs.writeSync(fd, Buffer.from([0xff, 0xee]), 0, 2, 4096);
      fs.closeSync(fd);
      corrupted = true;
    } else await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(corrupted, 'the followed copy was seen growing on the tape host');
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

function findFile(fs: typeof import('node:fs'), path: typeof import('node:path'), dir: string, name: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const f = findFile(fs, path, p, name);
      if (f) return f;
    } else if (e.name === name) return p;
  }
  return undefined;
}
