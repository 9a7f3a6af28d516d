/**
 * Verification in one pass (AIX tape host, verify "full"): record 4 read once for its SHA-256 and for restore's check
 * of the archive, record 2 read once for its SHA-256 and for the files BOS install reads; a corrupted byte in record
 * 4 is caught, and an install image whose ./tapeblksz disagrees with record 4's block size fails verification.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackupProgress } from '../../src/shared/contract';
import { backupEnv, flipRecord4Bit, waitFor, type BackupEnv } from '../helpers/backup';

/** The lab's dd reads of a drive's tape files: how many bytes each returned. */
async function tapeReads(env: BackupEnv): Promise<Array<{ file: number; bytes: number }>> {
  return (await env.lab.commandLog('tapesrv'))
    .filter((e) => e.command === 'dd' && (e.tape as { op?: string } | undefined)?.op === 'read')
    .map((e) => e.tape as { file: number; bytes: number });
}

test('verify "full" reads the cartridge once: record 4 feeds its SHA-256 and restore -T together; record 2 the install check', async () => {
  const env = await backupEnv();
  const result = await env.run({ keepStaging: true });
  assert.equal(result.verification.readBack, true);
  assert.equal(result.verification.lsmksysb, true, 'restore -Tqf - passed on the read-back of record 4');
  assert.equal(result.verification.installImage, true);
  assert.ok(result.verification.details.some((d) => /one pass with its SHA-256/.test(d)), result.verification.details.join('\n'));
  const log = await env.lab.commandLog('tapesrv');
  assert.equal(log.filter((e) => e.command === 'lsmksysb').length, 0, 'no separate lsmksysb -V pass over the tape');
  const reads = await tapeReads(env);
  const onTape = result.records.reduce((n, r) => n + r.bytes, 0);
  const read = reads.reduce((n, r) => n + r.bytes, 0);
  assert.equal(reads.filter((r) => r.file === 4).reduce((n, r) => n + r.bytes, 0), result.records[3]!.bytes, 'record 4 read exactly once');
  assert.ok(read <= 1.1 * onTape, `tape bytes read ${read}, bytes on tape ${onTape}: at most 1.1 times`);
});

test('the one-pass verification catches a byte corrupted in record 4 on the cartridge', async () => {
  const env = await backupEnv();
  // Reads of the drive: the blank check, then records 1, 2, 3 and 4 of the verification: hold the fifth.
  await env.lab.fault('tapesrv', 'stall seconds=4 op=read skip=4');
  const handle = await env.start({ keepStaging: true, retry: { maxAttempts: 1 } });
  await waitFor('record 4 to be read back', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.stage === 'verify' ? p : undefined;
  });
  // Record 4 is written; its read-back waits 4 s (the stall) before it opens the drive: change the byte now.
  flipRecord4Bit(env);
  const p = await waitFor('the operator wait after verification', async () => {
    const q = await handle.query<BackupProgress>('progress');
    return q.waiting ? q : undefined;
  });
  assert.match(p.waiting!.reason, /verification failed: record 4: SHA-256 on tape [0-9a-f]{64}, expected [0-9a-f]{64}/);
  await handle.signal('abort', { reason: 'test done' });
  await handle.result().catch(() => undefined);
});

test('an install image whose ./tapeblksz disagrees with record 4\'s block size fails verification, saying why', async () => {
  const env = await backupEnv();
  await env.lab.setHostConfig('aix01', { tapeblkszOverride: '1024 NONE' });
  const handle = await env.start({ record4BlockSize: 262144, keepStaging: true, operatorWaitHours: 0 });
  const err = await handle.result().then(
    () => assert.fail('the backup should not pass verification'),
    (e: unknown) => e as { cause?: { message?: string; type?: string } },
  );
  assert.match(String(err.cause?.message), /the tape would not install: record 2's \.\/tapeblksz says record 4's block size is "1024", but record 4 was written with 262144/);
  const r = (await handle.describe()).status.name;
  assert.equal(r, 'FAILED');
});
