/**
 * Tapes that must not be overwritten: a cartridge holding data is refused without "overwrite": true (no record is
 * written: the lab's command log shows no dd write), "expectedLabel" permits it only for the named earlier backup's tape, and with
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

test('a cartridge with data is refused without overwrite unless it is the expected earlier backup; overwrite: true proceeds', async () => {
  const env = await backupEnv({ lab: { sources: ['aix01', 'aix02'] } });
  const firstId = `mksysb-tape/aix01/first-${Date.now()}`;
  const first = await env.run({ source: 'aix01' }, firstId);
  assert.equal(first.verification.readBack, true);
  const writesAfterFirst = await tapeWrites(env);
  assert.deepEqual(writesAfterFirst.map((w) => w.file), [1, 2, 3, 4]);
  const aws = env.lab.host('tapesrv').devices!.rmt0!.aws;
  const before = (await import('node:fs')).readFileSync(aws);
  const refusal =
    'preparing the drive failed: the cartridge in tapesrv:rmt0 already holds data (its first block has 262144 bytes); ' +
    'refusing to overwrite it. Load a blank or scratch cartridge, or start the backup with "overwrite": true';

  const refused = await failure((await env.start({ source: 'aix02', operatorWaitHours: 0 })).result());
  assert.equal(refused.type, 'TapeNotBlank');
  assert.equal(refused.nonRetryable, true);
  assert.equal(refused.message, refusal);

  // expectedLabel names an earlier backup; the cartridge must hold that very backup (records 1 and 2 as it read them
  // back) and it must be of the same source.
  const unknown = await failure((await env.start({ source: 'aix01', operatorWaitHours: 0, expectedLabel: 'aix01-previous' })).result());
  assert.equal(unknown.type, 'TapeNotBlank');
  assert.equal(unknown.message, `${refusal} (the cartridge is not the expected backup "aix01-previous": no completed backup of aix01 with that workflow or backup ID)`);
  const otherSource = await failure((await env.start({ source: 'aix02', operatorWaitHours: 0, expectedLabel: first.backupId })).result());
  assert.equal(otherSource.message, `${refusal} (the cartridge is not the expected backup ${JSON.stringify(first.backupId)}: no completed backup of aix02 with that workflow or backup ID)`);

  assert.deepEqual(await tapeWrites(env), writesAfterFirst, 'no record was written by the refused runs');
  assert.ok((await import('node:fs')).readFileSync(aws).equals(before), 'the cartridge is byte for byte as the first backup left it');

  // The same source, naming the earlier backup by its backup ID: the cartridge is that backup's tape, so it is reused.
  const relabelled = await env.run({ source: 'aix01', expectedLabel: first.backupId, keepStaging: true });
  assert.equal(relabelled.verification.readBack, true);
  assert.deepEqual((await tapeWrites(env)).map((w) => w.file), [1, 2, 3, 4, 1, 2, 3, 4]);

  const second = await env.run({ source: 'aix02', overwrite: true, keepStaging: true });
  assert.equal(second.verification.readBack, true);
  await assertTapeHolds(env, sourceImages(env, second.backupId, 'aix02'));
});

test('images larger than the cartridge are refused before record 1, saying by how much; no tape command runs', async () => {
  const env = await backupEnv({ lab: { tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: 1, capacityBytes: 2 << 20 }] } });
  const cause = await failure((await env.start({ operatorWaitHours: 0 })).result());
  assert.equal(cause.type, 'ImageTooLarge');
  assert.equal(cause.nonRetryable, true);
  const m =
    /^the images need ([\d.]+) MiB of tape but a cartridge in tapesrv:rmt0 holds 2\.0 MiB: (\d+) cartridges of that size, and the backup may span 1 \("maxVolumes": 1\)\. Start it with "maxVolumes": (\d+) \(or more\) to span cartridges\. Nothing was written; the staged images were kept$/.exec(
      cause.message,
    );
  assert.ok(m, cause.message);
  assert.ok(Number(m[1]) > 4 && Number(m[1]) < 4.2, 'a 3 MiB mksysb image, a 1 MiB boot image, the install image and filemarks');
  // Volume 1 holds 2 MiB less records 1-3; each further volume 2 MiB less its header and filemarks: 3 in all.
  assert.equal(m[2], '3', cause.message);
  assert.equal(m[3], '3', 'the option the message names is the count it gives');
  assert.deepEqual(await tapeWrites(env), [], 'no dd write');
  const tapeCommands = (await env.lab.commandLog('tapesrv')).filter((e) => ['dd', 'tctl', 'chdev'].includes(e.command));
  assert.deepEqual(tapeCommands, [], 'the drive was not touched');
  const st = env.lab.tapeState('tapesrv', 'rmt0');
  assert.deepEqual([st.size, st.marks], [0, []], 'the cartridge is still blank');
});
