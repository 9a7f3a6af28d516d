/**
 * Hosts whose login prints a banner on stdout and stderr for every session (lab `banner`, lab/banner.ts), the source
 * and the tape host both: whole backups relayed and pulled directly, and a relay resumed after a dropped connection,
 * leave the source's exact images on tape (Hercules' tapemap and hetget) with the right SHA-256s in the result.
 * Real lab hosts, real sshd, the real Temporal dev server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activityResults, assertTapeHolds, backupEnv, padTo, sha256, sourceImages, sourceRuns, type BackupEnv } from '../helpers/backup';
import type { BackupResult } from '../../src/shared/contract';
import type { FollowOutcome, TransferOutcome } from '../../src/activities';
import type { WorkflowHandle } from '@temporalio/client';

async function talkative(env: BackupEnv): Promise<void> {
  for (const h of ['aix01', 'tapesrv']) await env.lab.setHostConfig(h, { banner: true });
  // The banner is really there for the worker's sessions and for the tape host's own ssh to the source.
  const r = await env.lab.exec('tapesrv', 'echo own');
  assert.match(r.stdout, /lab login banner[\s\S]*own\n$/);
  assert.match(r.stderr, /prohibited\.$/);
}

/** The result's SHA-256s are the source images' (record 1 padded to 512, as it lies on tape). */
function assertResultDigests(result: BackupResult, img: { boot: Buffer; install: Buffer; mksysb: Buffer }): void {
  const by = (k: number) => result.records.find((r) => r.record === k)!;
  assert.equal(by(1).sha256, sha256(padTo(img.boot, 512)));
  assert.equal(by(2).sha256, sha256(img.install));
  assert.equal(by(4).sha256, sha256(img.mksysb));
  assert.equal(by(4).bytes, img.mksysb.length);
}

async function moves(handle: WorkflowHandle): Promise<(TransferOutcome | FollowOutcome)[]> {
  return (await activityResults(handle))
    .filter((r) => r.type === 'transferImage' || r.type === 'followImage')
    .map((r) => r.value as TransferOutcome | FollowOutcome);
}

test('a whole relayed backup between two hosts whose logins talk: the tape holds the exact images', async () => {
  const env = await backupEnv({ lab: { mksysbBytes: 5 << 20 } });
  await talkative(env);
  const handle = await env.start({ keepStaging: true });
  const result = (await handle.result()) as BackupResult;
  const img = sourceImages(env, result.backupId);
  for (const m of await moves(handle)) assert.equal(m.mode, 'relay', JSON.stringify(m));
  // Every byte moved is an image byte: none of the banner, none twice.
  const moved = (await moves(handle)).reduce((n, m) => n + m.bytesSent, 0);
  assert.equal(moved, img.boot.length + img.install.length + img.mksysb.length);
  assertResultDigests(result, img);
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, img);
});

test('a direct backup: the tape host pulls through a source login that prints into the stream', async () => {
  const env = await backupEnv({ lab: { mksysbBytes: 5 << 20 } });
  env.lab.trust('tapesrv', 'aix01');
  await talkative(env);
  const handle = await env.start({ keepStaging: true });
  const result = (await handle.result()) as BackupResult;
  const img = sourceImages(env, result.backupId);
  const done = await moves(handle);
  for (const m of done) {
    assert.equal(m.mode, 'direct', JSON.stringify(m));
    assert.equal(m.directFailed, undefined);
  }
  assert.equal(done.reduce((n, m) => n + m.bytesSent, 0), img.boot.length + img.install.length + img.mksysb.length);
  assertResultDigests(result, img);
  await assertTapeHolds(env, img);
});

test('a relay cut by a dropped connection resumes at the image byte where it stopped, banners on both ends', async () => {
  const env = await backupEnv({ lab: { mksysbBytes: 24 << 20 } });
  await talkative(env);
  const dropAt = 10 * 1024 * 1024 + 12345;
  // The tape host's writer (`cat`) loses its connection after `dropAt` image bytes.
  await env.lab.fault('tapesrv', `drop-connection after=${dropAt} command=cat`);
  const handle = await env.start({ keepStaging: true });
  const result = (await handle.result()) as BackupResult;
  const dropped = (await env.lab.commandLog('tapesrv')).filter((e) => e.fault === 'drop-connection');
  assert.equal(dropped.length, 1, 'the connection was cut once');
  const rec4 = (await moves(handle)).filter((m) => m.record === 4 && m.resumedFrom > 0);
  assert.equal(rec4.length, 1, JSON.stringify(rec4));
  // The offsets count image bytes: the retry starts at or past the cut, and sends exactly the rest.
  assert.ok(rec4[0]!.resumedFrom >= dropAt, JSON.stringify(rec4));
  const img = sourceImages(env, result.backupId);
  assert.equal(rec4[0]!.bytesSent, img.mksysb.length - rec4[0]!.resumedFrom);
  assertResultDigests(result, img);
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, img);
});
