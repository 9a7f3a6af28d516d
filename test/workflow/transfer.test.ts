import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertTapeHolds, backupEnv, sourceImages, sourceRuns, tapeWrites, waitFor } from '../helpers/backup';
import type { BackupProgress, BackupResult } from '../../src/shared/contract';
import type { TransferOutcome } from '../../src/activities';
import type { WorkflowHandle } from '@temporalio/client';

/** Results of completed transferImage activities, from the run's history. */
async function transferOutcomes(handle: WorkflowHandle, decode: (p: unknown) => Promise<unknown>): Promise<TransferOutcome[]> {
  const history = await handle.fetchHistory();
  const out: TransferOutcome[] = [];
  for (const e of history.events ?? []) {
    const done = e.activityTaskCompletedEventAttributes;
    if (!done?.result?.payloads?.[0]) continue;
    const v = (await decode(done.result.payloads[0])) as Partial<TransferOutcome>;
    if (v && typeof v === 'object' && 'resumedFrom' in v) out.push(v as TransferOutcome);
  }
  return out;
}

test('an SSH connection killed mid-transfer: the run completes and resumes where the bytes stopped', async () => {
  const env = await backupEnv({ lab: { mksysbBytes: 24 << 20 } });
  const dropAt = 10 * 1024 * 1024 + 12345;
  await env.lab.fault('tapesrv', `drop-connection after=${dropAt} command=cat`);
  const handle = await env.start({ keepStaging: true });
  const result = (await handle.result()) as BackupResult;
  const converter = (await import('@temporalio/common')).defaultPayloadConverter;
  const outcomes = await transferOutcomes(handle, async (p) => converter.fromPayload(p as never));
  const rec4 = outcomes.find((o) => o.record === 4)!;
  assert.ok(rec4, JSON.stringify(outcomes));
  // The mksysb image follows the growing file (followImage), in one or more reads; the drop cuts one of them after
  // `dropAt` bytes, so the retry resumes at or past that byte, where the bytes stopped.
  assert.ok(rec4.resumedFrom >= dropAt, `the retry resumed where the bytes stopped: ${JSON.stringify(rec4)}`);
  assert.equal(rec4.bytesSent, rec4.bytes - rec4.resumedFrom, 'bytes sent again after the drop: none');
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

test('a staged image corrupted on the tape host before the write is detected by checksum, moved again, tape correct', async () => {
  const env = await backupEnv();
  // No cartridge at first: the run waits at the drive, with the images staged, while the test corrupts one.
  await env.lab.fault('tapesrv', 'no-tape');
  const handle = await env.start({ keepStaging: true, retry: { maxAttempts: 1 } });
  const p = await waitFor('the run waiting at the drive', async () => {
    const q = await handle.query<BackupProgress>('progress');
    return q.waiting ? q : undefined;
  });
  assert.equal(p.waiting!.stage, 'tape-prepare');
  assert.match(p.waiting!.reason, /no tape is loaded in tapesrv:rmt0/);
  const tape = env.lab.host('tapesrv');
  const staged = path.join(tape.root, tape.workFolder, p.backupId, '4_mksysb.img');
  const fd = fs.openSync(staged, 'r+');
  fs.writeSync(fd, Buffer.from('corrupted'), 0, 9, 4096);
  fs.closeSync(fd);
  await env.lab.clearFaults('tapesrv');
  await handle.signal('retry', {});
  const result = (await handle.result()) as BackupResult;
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  const files = (await tapeWrites(env)).map((w) => w.file);
  assert.deepEqual(files, [1, 2, 3, 4, 4], 'record 4 rewritten after the corrupted copy was moved again');
  assert.equal(result.verification.readBack, true);
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

test('the worker relays with its own OpenSSH clients unless told to use ssh2: the same bytes on tape, and the run says which', async () => {
  for (const [relayVia, expected] of [[undefined, 'openssh'], ['ssh2', 'ssh2']] as const) {
    const env = await backupEnv(relayVia ? { activityDeps: { relayVia } } : {});
    const result = await env.run({ keepStaging: true });
    const moves = (result.transfers ?? []).map((t) => `${t.record}:${t.mode}:${t.relayedBy}`);
    assert.deepEqual(moves, [1, 2, 4].map((r) => `${r}:relay:${expected}`), `relayVia ${relayVia ?? 'auto'}`);
    await assertTapeHolds(env, sourceImages(env, result.backupId));
  }
});
