/**
 * Tapes that must not be overwritten: a cartridge holding data is refused without "overwrite": true (no record is
 * written: the lab's command log shows no dd write), "expectedLabel" alone does not permit an overwrite, and with
 * "overwrite": true the backup proceeds and the cartridge then holds the new source's images. Images larger than
 * the cartridge are refused before record 1, saying by how much, with no tape command at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { assertTapeHolds, backupEnv, sourceImages, tapeWrites } from '../helpers/backup';

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => assert.fail('the run must fail'), (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

test('a cartridge with data is refused without overwrite; expectedLabel does not permit it; overwrite: true does', async () => {
  const env = await backupEnv({ lab: { sources: ['aix01', 'aix02'] } });
  const first = await env.run({ source: 'aix01', verify: 'lsmksysb' });
  assert.equal(first.verification.lsmksysb, true);
  const writesAfterFirst = await tapeWrites(env);
  assert.deepEqual(writesAfterFirst.map((w) => w.file), [1, 2, 3, 4]);
  const aws = env.lab.host('tapesrv').devices!.rmt0!.aws;
  const before = (await import('node:fs')).readFileSync(aws);

  const refused = await failure((await env.start({ source: 'aix02', operatorWaitHours: 0 })).result());
  assert.equal(refused.type, 'TapeNotBlank');
  assert.equal(refused.nonRetryable, true);
  assert.equal(
    refused.message,
    'preparing the drive failed: the cartridge in tapesrv:rmt0 already holds data (its first block has 262144 bytes); ' +
      'refusing to overwrite it. Load a blank or scratch cartridge, or start the backup with "overwrite": true',
  );

  const labelled = await failure((await env.start({ source: 'aix01', operatorWaitHours: 0, expectedLabel: 'aix01-previous' })).result());
  assert.equal(labelled.type, 'TapeNotBlank');
  assert.ok(labelled.message.endsWith(
    '("expectedLabel" "aix01-previous" was not checked: a bootable mksysb tape carries no label to compare, so only "overwrite": true permits writing over data)',
  ), labelled.message);

  assert.deepEqual(await tapeWrites(env), writesAfterFirst, 'no record was written by the refused runs');
  assert.ok((await import('node:fs')).readFileSync(aws).equals(before), 'the cartridge is byte for byte as the first backup left it');

  const second = await env.run({ source: 'aix02', overwrite: true, keepStaging: true });
  assert.equal(second.verification.readBack, true);
  await assertTapeHolds(env, sourceImages(env, second.backupId, 'aix02'));
});

test('images larger than the cartridge are refused before record 1, saying by how much; no tape command runs', async () => {
  const env = await backupEnv({ lab: { tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: 1, capacityBytes: 2 << 20 }] } });
  const cause = await failure((await env.start({ operatorWaitHours: 0 })).result());
  assert.equal(cause.type, 'ImageTooLarge');
  assert.equal(cause.nonRetryable, true);
  const m = /^the images need ([\d.]+) MiB of tape but the cartridge in tapesrv:rmt0 holds 2\.0 MiB: ([\d.]+) MiB too much\. Nothing was written; the staged images were kept$/.exec(cause.message);
  assert.ok(m, cause.message);
  assert.ok(Math.abs(Number(m[1]) - 2 - Number(m[2])) <= 0.11, cause.message);
  assert.ok(Number(m[2]) > 1, 'a 3 MiB mksysb image and a 1 MiB boot image need over 1 MiB more than 2 MiB');
  assert.deepEqual(await tapeWrites(env), [], 'no dd write');
  const tapeCommands = (await env.lab.commandLog('tapesrv')).filter((e) => ['dd', 'tctl', 'chdev'].includes(e.command));
  assert.deepEqual(tapeCommands, [], 'the drive was not touched');
  const st = env.lab.tapeState('tapesrv', 'rmt0');
  assert.deepEqual([st.size, st.marks], [0, []], 'the cartridge is still blank');
});
