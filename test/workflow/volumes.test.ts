/**
 * A backup larger than one cartridge (docs/multi-volume.md): started from the Temporal CLI with "maxVolumes", the run
 * ejects each full cartridge and waits for the next, answered with the `volumeLoaded` signal (Temporal CLI) and the
 * `volumeLoadedNow` update (client API), reporting an empty drive and refusing a cartridge with data on the way; the
 * set is checked with Hercules' tools and read back by the lab's restore through its volume changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { requireTemporalCli } from '../../scripts/temporal-cli';
import type { BackupProgress, BackupResult } from '../../src/shared/contract';
import { SA_OUTCOME } from '../../src/shared/search-attributes';
import { driveLockStateQuery, driveLockWorkflowId } from '../../src/shared/drive-lock';
import { backupEnv, sourceImages, sourceRuns, waitFor } from '../helpers/backup';
import { assertSet, cartridgeWanted } from '../helpers/volumes';

const execFileP = promisify(execFile);
const CAPACITY = 2 << 20;

test('a backup spanning three cartridges, started from the Temporal CLI and answered with volumeLoaded', async () => {
  const env = await backupEnv({ lab: { tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: 1, capacityBytes: CAPACITY }] } });
  const cli = process.env.MKSYSB_TEST_TEMPORAL_CLI || requireTemporalCli().path;
  const temporal = (...args: string[]) => execFileP(cli, [...args, '--address', env.t.address, '--namespace', 'default']);
  const workflowId = `mksysb-tape/volumes/${Date.now()}`;
  await temporal(
    'workflow', 'start', '--type', 'mksysbToTape', '--task-queue', env.config.taskQueue, '--workflow-id', workflowId,
    '--input', '{"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}, "maxVolumes": 3, "keepStaging": true}',
  );
  const handle = env.t.client.workflow.getHandle(workflowId);

  // Volume 1 full: the cartridge is ejected and the run says what it waits for, everywhere an operator looks.
  const p2 = await cartridgeWanted(handle, 2);
  assert.equal(p2.outcome, 'waiting');
  assert.equal(p2.waiting?.volumesLeft, 1, 'the plan from capacityBytes: one more after volume 2');
  assert.match(p2.waiting!.reason, /load the cartridge for volume 2 into tapesrv:rmt0 \(1 more to come after it\)/);
  assert.equal(env.lab.tapeState('tapesrv', 'rmt0').loaded, false, 'the full cartridge was ejected (tctl offline)');
  const lock = await env.t.client.workflow.getHandle(driveLockWorkflowId({ host: 'tapesrv', device: 'rmt0' }, env.config.taskQueue)).query(driveLockStateQuery);
  assert.equal(lock.holder?.workflowId, workflowId, 'the drive stays locked for the run while it waits for the cartridge');
  const d = await handle.describe();
  assert.equal(d.typedSearchAttributes.get(SA_OUTCOME), 'waiting');
  const { currentDetails } = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
  assert.match(currentDetails, /waiting for the cartridge of volume 2/, "the UI's current details");
  assert.match(currentDetails, /send signal `volumeLoaded` with \{\} \(or \{"volume": 2\}\)/);

  // A signal before a cartridge is in the drive: the run looks, says none is loaded, and waits again.
  await temporal('workflow', 'signal', '--workflow-id', workflowId, '--name', 'volumeLoaded', '--input', '{}');
  await waitFor('the run to report the empty drive', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.waiting?.for === 'cartridge' && /no cartridge is loaded in tapesrv:rmt0/.test(p.waiting.reason);
  });
  const second = env.lab.load('tapesrv', 'rmt0');
  await temporal('workflow', 'signal', '--workflow-id', workflowId, '--name', 'volumeLoaded', '--input', '{"volume": 2}');

  // Volume 3: a cartridge that holds data is ejected and refused, untouched.
  await cartridgeWanted(handle, 3);
  const scratch = env.lab.load('tapesrv', 'rmt0', { name: 'payroll' });
  const w = await env.lab.exec('tapesrv', 'dd if=/etc/hosts of=/dev/rmt0.1 bs=512 conv=sync && tctl -f /dev/rmt0 rewind');
  assert.equal(w.code, 0, w.stderr);
  const before = fs.readFileSync(scratch.aws);
  await handle.signal('volumeLoaded', {});
  const refused = await waitFor('the refusal', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.waiting?.for === 'cartridge' && /already holds data/.test(p.waiting.reason) ? p : undefined;
  });
  assert.match(refused.waiting!.reason, /the cartridge loaded into tapesrv:rmt0 already holds data \(.*\) and was ejected: load a blank or scratch cartridge for volume 3/);
  assert.equal(env.lab.tapeState('tapesrv', 'rmt0').loaded, false, 'ejected');
  assert.ok(fs.readFileSync(scratch.aws).equals(before), 'the cartridge is as it was');

  // Then through the client API's update: refused for another volume, taken for the right one.
  const third = env.lab.load('tapesrv', 'rmt0');
  await assert.rejects(handle.executeUpdate('volumeLoadedNow', { args: [{ volume: 2 }] }), (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError);
    assert.match(String(err.cause?.message), /waits for the cartridge of volume 3, not of volume 2/);
    return true;
  });
  assert.match(await handle.executeUpdate<string, [object]>('volumeLoadedNow', { args: [{ volume: 3 }] }), /volume 3/);

  const result = (await handle.result()) as BackupResult;
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 }, 'mksysb ran once');
  const img = sourceImages(env, result.backupId);
  await assertSet(env, ['rmt0', second.name, third.name], img);

  // The result lists the volumes: contiguous archive ranges covering the image, each read back once.
  const vols = result.volumes!;
  assert.deepEqual(vols.map((v) => [v.volume, v.endOfMedium, v.writes]), [[1, true, 1], [2, true, 1], [3, false, 1]]);
  assert.equal(vols[0]!.from, 0);
  for (let i = 1; i < vols.length; i++) assert.equal(vols[i]!.from, vols[i - 1]!.from + vols[i - 1]!.archiveBytes);
  assert.equal(vols[2]!.from + vols[2]!.archiveBytes, img.mksysb.length);
  assert.equal(vols[1]!.tapeBytes, 72 + vols[1]!.archiveBytes, 'volume 2: its header and the archive bytes that fit');
  assert.equal(result.records[3]!.bytes, vols[0]!.tapeBytes, "record 4 in the result is volume 1's share");
  assert.equal(result.verification.lsmksysb, true, 'lsmksysb -V passed on the staged image');
  assert.equal(result.verification.readBack, true);

  // The lab's restore reads the set back through its volume changes, and refuses a volume out of order.
  env.lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const staged = await env.lab.exec('tapesrv', `restore -T -f /home/mksysb/${result.backupId}/4_mksysb.img`);
  assert.equal(staged.code, 0, staged.stderr);
  const set = await env.lab.exec('tapesrv', `LAB_RESTORE_VOLUMES=${second.name},${third.name} restore -T -s 4 -f /dev/rmt0`);
  assert.equal(set.code, 0, set.stderr);
  // Every line but the first, which names what was read ("New volume on /dev/rmt0:").
  const listing = (out: string) => out.split('\n').slice(1).join('\n');
  assert.match(set.stdout, /^New volume on \/dev\/rmt0:\n/);
  assert.equal(listing(set.stdout), listing(staged.stdout), 'the set lists what the staged image holds');
  assert.equal(set.stderr, 'Mount volume 2 on /dev/rmt0.\nMount volume 3 on /dev/rmt0.\n');
  env.lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const wrong = await env.lab.exec('tapesrv', `LAB_RESTORE_VOLUMES=${third.name},${second.name},${third.name} restore -T -s 4 -f /dev/rmt0`);
  assert.match(wrong.stderr, /restore: 0511-103 The volume is not correct\. Restore expects volume 2\./);
  assert.equal(listing(wrong.stdout), listing(staged.stdout), 'after the right volume the listing goes on');
  env.lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  const alone = await env.lab.exec('tapesrv', 'restore -T -s 4 -f /dev/rmt0');
  assert.notEqual(alone.code, 0, 'without a terminal restore cannot go past volume 1');
  assert.match(alone.stderr, /Mount volume 2 on \/dev\/rmt0\./);
});
