/**
 * writeWhileMksysb: records 1-3 written and record 4 streamed to the drive while mksysb still writes the image. The
 * cartridge is checked with Hercules' tools against the source's images; a mksysb that fails during the stream stops
 * it and releases the drive, and the retried run writes the tape the ordinary way; a worker lost during the stream is
 * replaced and the new one re-attaches to the running stream, which writes record 4 once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { BackupProgress, BackupResult } from '../../src/shared/contract';
import { driveLockStateQuery, driveLockWorkflowId } from '../../src/shared/drive-lock';
import { assertTapeHolds, backupEnv, flipRecord4Bit, holdMksysb, padTo, readCartridge, sha256, sourceImages, sourceRuns, spawnWorker, tapeWrites, waitFor, type BackupEnv } from '../helpers/backup';

/** Bytes of record 4 on the cartridge so far (after the third tapemark), or 0 before record 3 has ended. */
function record4Bytes(env: BackupEnv): number {
  const st = env.lab.tapeState('tapesrv', 'rmt0');
  if (st.marks.length < 3) return 0;
  return Math.max(0, fs.statSync(env.lab.host('tapesrv').devices!.rmt0!.aws).size - st.marks[2]! - 6);
}

/** When mksysb ended on the source (its log entry is written as it exits). */
async function mksysbEndedAt(env: BackupEnv): Promise<number> {
  const e = (await env.lab.commandLog('aix01')).find((x) => x.command === 'mksysb' && x.exit !== -1);
  assert.ok(e, 'mksysb ended');
  return Date.parse(e.time);
}

/** The lab's dd reads of the drive that ended: the tape file, how many bytes, when it ended. */
async function tapeReads(env: BackupEnv): Promise<Array<{ file: number; bytes: number; at: number }>> {
  return (await env.lab.commandLog('tapesrv'))
    .filter((e) => e.command === 'dd' && e.exit !== -1 && (e.tape as { op?: string } | undefined)?.op === 'read')
    .map((e) => ({ ...(e.tape as { file: number; bytes: number }), at: Date.parse(e.time) }));
}

test('writeWhileMksysb: record 4 reaches the drive while mksysb runs; the cartridge holds the source\'s images; mksysb ran once, each record written once', async () => {
  const env = await backupEnv();
  // mksysb is held at 9 MiB of its 24 until records 1-3 are read back and the stream's first blocks are on tape.
  await env.lab.setHostConfig('aix01', { mksysbBytes: 24 << 20, mksysbBytesPerSecond: 4 << 20 });
  const hold = await holdMksysb(env, 9 << 20);
  const handle = await env.start({ writeWhileMksysb: true, keepStaging: true });
  await waitFor('record 4 bytes on the cartridge', async () => record4Bytes(env) > 64 * 1024, 90_000);
  await waitFor('records 1-3 read back', async () => (await tapeReads(env)).filter((r) => r.file <= 3).length >= 4, 90_000);
  await hold.release();
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual(result.stream, { streamed: true, earlyRecords: [1, 2, 3] });
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  assert.deepEqual((await tapeWrites(env)).map((w) => [w.file, w.exit]), [[1, 0], [2, 0], [3, 0], [4, 0]], 'each record written once');
  await assertTapeHolds(env, sourceImages(env, result.backupId));
  assert.equal(result.verification.readBack, true);
  assert.equal(result.verification.lsmksysb, true, 'verified as any run: every record read back, the archive checked');
  assert.equal(result.verification.installImage, true);
  assert.deepEqual(result.records.map((r) => r.writes), [1, 1, 1, 1]);
  // Records 1-3 were read back while mksysb ran; after it, record 4 alone, once, for its SHA-256 and the archive check.
  const ended = await mksysbEndedAt(env);
  const reads = await tapeReads(env);
  const verifyReads = reads.slice(1); // the first is the blank check
  assert.deepEqual(verifyReads.map((r) => r.file), [1, 2, 3, 4], JSON.stringify(reads));
  assert.ok(verifyReads.slice(0, 3).every((r) => r.at < ended), 'records 1-3 read back before mksysb ended');
  assert.equal(verifyReads[3]!.bytes, result.records[3]!.bytes, 'record 4 read once, whole');
  assert.equal((await env.lab.commandLog('tapesrv')).filter((e) => e.command === 'lsmksysb').length, 0, 'no second pass over record 4');
});

test('writeWhileMksysb with verify "lsmksysb": record 2\'s install check while mksysb runs, lsmksysb -V once the stream has ended', async () => {
  const env = await backupEnv();
  await env.lab.setHostConfig('aix01', { mksysbBytes: 16 << 20, mksysbBytesPerSecond: 4 << 20 });
  const hold = await holdMksysb(env, 8 << 20);
  const handle = await env.start({ writeWhileMksysb: true, verify: 'lsmksysb', keepStaging: true });
  await waitFor('record 2\'s install check', async () =>
    (await env.lab.commandLog('tapesrv')).some((e) => e.command === 'restore' && e.args.includes('-xqf') && e.exit !== -1), 90_000);
  await hold.release();
  const result = (await handle.result()) as BackupResult;
  assert.equal(result.stream?.streamed, true, result.stream?.fellBack);
  assert.equal(result.verification.lsmksysb, true);
  assert.equal(result.verification.installImage, true, result.verification.details.join('\n'));
  const ended = await mksysbEndedAt(env);
  const log = await env.lab.commandLog('tapesrv');
  const installCheck = log.filter((e) => e.command === 'restore' && e.args.includes('-xqf'));
  assert.equal(installCheck.length, 1, 'record 2 read once for the install check');
  assert.ok(Date.parse(installCheck[0]!.time) < ended, 'the install check ran while mksysb ran');
  const ls = log.filter((e) => e.command === 'lsmksysb');
  assert.deepEqual(ls.map((e) => e.exit), [0], 'lsmksysb -V once');
  const streamEnd = log.find((e) => e.command === 'dd' && (e.tape as { op?: string; file?: number } | undefined)?.op === 'write' && (e.tape as { file?: number }).file === 4);
  assert.ok(streamEnd && Date.parse(ls[0]!.time) > Date.parse(streamEnd.time), 'lsmksysb -V read the tape after the stream ended');
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

test('writeWhileMksysb: a byte corrupted in record 4 after the stream wrote it is caught by the check begun at the stream\'s end; record 4 is written again from the staged copy', async () => {
  const env = await backupEnv();
  await env.lab.setHostConfig('aix01', { mksysbBytes: 16 << 20, mksysbBytesPerSecond: 4 << 20 });
  // Reads of the drive: the blank check, records 1-3 while mksysb runs, then record 4's check: hold that one.
  await env.lab.fault('tapesrv', 'stall seconds=4 op=read skip=4');
  const handle = await env.start({ writeWhileMksysb: true, keepStaging: true });
  await waitFor('record 4\'s check held by the stall', async () =>
    (await env.lab.commandLog('tapesrv')).some((e) => e.command === 'dd' && e.exit === -1 && e.fault === 'stall' && e.seconds !== undefined),
  90_000);
  assert.deepEqual((await tapeWrites(env)).map((w) => [w.file, w.exit]), [[1, 0], [2, 0], [3, 0], [4, 0]], 'the stream has written record 4');
  flipRecord4Bit(env);
  const result = (await handle.result()) as BackupResult;
  assert.equal(result.stream?.streamed, true, 'the stream wrote record 4; its check found it bad');
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  assert.deepEqual((await tapeWrites(env)).map((w) => w.file), [1, 2, 3, 4, 4], 'record 4 written again, records 1-3 not');
  assert.deepEqual(result.records.map((r) => r.writes), [1, 1, 1, 2]);
  assert.equal(result.verification.readBack, true);
  await assertTapeHolds(env, sourceImages(env, result.backupId));
  const r4reads = (await tapeReads(env)).filter((r) => r.file === 4);
  assert.equal(r4reads.length, 2, 'record 4 checked after the stream and again after its rewrite');
});

test('writeWhileMksysb: the tape host\'s copy corrupted after the stream sent it: the SHA-256s differ, record 4 is written again from the copy moved again and checked after that write', async () => {
  const env = await backupEnv();
  await env.lab.setHostConfig('aix01', { mksysbBytes: 16 << 20, mksysbBytesPerSecond: 4 << 20 });
  const hold = await holdMksysb(env, 9 << 20);
  const handle = await env.start({ writeWhileMksysb: true, keepStaging: true });
  // The stream has sent the copy's first bytes to the drive: change them in the copy, not on tape.
  await waitFor('record 4 bytes on the cartridge', async () => record4Bytes(env) > (1 << 20) + 64 * 1024, 90_000);
  const copy = fs.readdirSync(env.lab.host('tapesrv').root + env.lab.host('tapesrv').workFolder, { recursive: true, withFileTypes: true })
    .find((e) => e.isFile() && e.name === '4_mksysb.img');
  assert.ok(copy, 'the copy on the tape host');
  const fd = fs.openSync(`${copy.parentPath}/${copy.name}`, 'r+');
  fs.writeSync(fd, Buffer.from([0xff, 0xee]), 0, 2, 4096);
  fs.closeSync(fd);
  await hold.release();
  const result = (await handle.result()) as BackupResult;
  assert.equal(result.stream?.streamed, false);
  assert.match(result.stream!.fellBack!, /the tape host's copy .* is not the source's image.*record 4 written from the staged copy/);
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  assert.deepEqual((await tapeWrites(env)).map((w) => w.file), [1, 2, 3, 4, 4], 'records 1-3 once, record 4 streamed and written again');
  const lastWrite = (await env.lab.commandLog('tapesrv')).filter((e) => e.command === 'dd' && (e.tape as { op?: string; file?: number } | undefined)?.op === 'write').at(-1)!;
  const r4reads = (await tapeReads(env)).filter((r) => r.file === 4);
  assert.ok(r4reads.length >= 1 && r4reads.at(-1)!.at > Date.parse(lastWrite.time), 'the check that counts read record 4 as written from the copy');
  assert.equal(result.verification.readBack, true);
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

test('writeWhileMksysb with a mksysb that fails during the stream: the stream stops, the drive is released, the retried mksysb\'s tape is written after it', async () => {
  const env = await backupEnv();
  // The source's file system fills after 10 MiB (10 s at 1 MiB/s): mksysb fails (ENOSPC) with the stream under way.
  await env.lab.setHostConfig('aix01', { mksysbBytes: 16 << 20, mksysbBytesPerSecond: 2 << 20, freeBytes: 10 << 20 });
  const hold = await holdMksysb(env, 9 << 20);
  const handle = await env.start({ writeWhileMksysb: true, keepStaging: true, retry: { maxAttempts: 1 } });
  await waitFor('record 4 bytes on the cartridge', async () => record4Bytes(env) > 64 * 1024, 90_000);
  await hold.release();
  const p = await waitFor('the operator wait after mksysb failed', async () => {
    const q = await handle.query<BackupProgress>('progress');
    return q.waiting ? q : undefined;
  }, 90_000);
  assert.match(p.waiting!.reason, /mksysb on aix01 failed/);
  // The stream is stopped and the drive released while the run waits (the stop, which waits for the activity to
  // end the remote dd, may come a moment after the wait began): nothing holds or has open the drive.
  const lock = env.t.client.workflow.getHandle(driveLockWorkflowId({ host: 'tapesrv', device: 'rmt0' }, env.config.taskQueue));
  await waitFor('the drive released', async () => (await lock.query(driveLockStateQuery)).holder === null);
  const st = await env.lab.exec('tapesrv', 'tctl -f /dev/rmt0 status');
  assert.equal(st.code, 0, `the drive is not busy: ${st.stderr}`);
  assert.deepEqual((await tapeWrites(env)).map((w) => w.file), [1, 2, 3], 'records 1-3 ended; the stream of record 4 was stopped (a killed dd reports nothing)');

  // Room now, and a faster mksysb: the retry need not take the first one's time again.
  await env.lab.setHostConfig('aix01', { freeBytes: 1 << 30, mksysbBytesPerSecond: 8 << 20 });
  await handle.signal('retry', {});
  const result = (await handle.result()) as BackupResult;
  assert.equal(result.stream?.streamed, false);
  assert.match(result.stream!.fellBack!, /mksysb did not end well.*the drive was released/);
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 2 }, 'the failed mksysb and its retry, no third');
  assert.deepEqual((await tapeWrites(env)).slice(3).map((w) => [w.file, w.exit]), [[1, 0], [2, 0], [3, 0], [4, 0]], 'the tape written again from record 1');
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

test('writeWhileMksysb with the worker lost during the stream, at 256 KiB blocks: the new worker re-attaches, the stream writes record 4 once, padded to the block', async () => {
  const env = await backupEnv({ worker: false });
  await env.lab.setHostConfig('aix01', { mksysbBytes: 24 << 20, mksysbBytesPerSecond: 2 << 20 });
  const hold = await holdMksysb(env, 9 << 20);
  let w = spawnWorker(env);
  const handle = await env.start({ writeWhileMksysb: true, keepStaging: true, record4BlockSize: 262144 });
  await waitFor('record 4 bytes on the cartridge', async () => record4Bytes(env) > 64 * 1024, 90_000);
  w.child.kill('SIGKILL');
  await w.exited;
  w = spawnWorker(env);
  await hold.release();
  try {
    const result = (await handle.result()) as BackupResult;
    assert.equal(result.stream?.streamed, true, result.stream?.fellBack);
    assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
    assert.deepEqual((await tapeWrites(env)).map((x) => [x.file, x.exit]), [[1, 0], [2, 0], [3, 0], [4, 0]], 'one stream: the retried attempt re-attached to it');
    const img = sourceImages(env, result.backupId);
    const { map, files } = await readCartridge(env, img);
    assert.equal(map.files.length, 4, map.raw);
    assert.ok(files[0]!.equals(padTo(img.boot, 512)) && files[1]!.equals(img.install), 'records 1 and 2 as staged (Hercules)');
    // Record 4's 256 KiB blocks are past what hetget extracts whole (65535-byte records); its read-back says what it holds.
    const r4 = result.records[3]!;
    assert.deepEqual([r4.blockSize, r4.bytes, r4.sha256], [262144, padTo(img.mksysb, 262144).length, sha256(padTo(img.mksysb, 262144))], 'record 4 read back: the image, then NULs to the block');
  } finally {
    w.child.kill('SIGTERM');
    await w.exited;
  }
});
